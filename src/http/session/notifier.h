#pragma once
// A single-thread wake-up for one waiting coroutine: the waiter re-checks its
// condition after every wake, so notify() may be called freely. Waits are
// cancellable through Asio's per-operation cancellation (e.g. `||` with a timer).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace weft::http {

class Notifier {
 public:
  explicit Notifier(boost::asio::any_io_executor ex) : timer_(std::move(ex)) {}
  // Suspends until notify() (or cancellation). Spurious wake-ups are allowed.
  boost::asio::awaitable<void> wait();
  void notify() { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
};

}  // namespace weft::http
