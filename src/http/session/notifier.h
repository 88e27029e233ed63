#pragma once
// A single-thread wake-up for one waiting coroutine: the waiter re-checks its
// condition after every wait, so notify() may be called freely. Waits are
// cancellable through Asio's per-operation cancellation (e.g. `||` with a timer).
//
// The timer behind a wait is created on the first wait: most notifiers of an
// exchange (its pipes' readable/writable, its response-ready) never wait on a
// bodyless request, and constructing an Asio timer looks its service up under
// the execution context's mutex.
#include <optional>
#include <tuple>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace weft::http {

class Notifier {
 public:
  explicit Notifier(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}
  // Suspends until notify() (or cancellation). Spurious wake-ups are allowed.
  // The timer's own awaitable, not a coroutine around it: no frame per wait.
  boost::asio::awaitable<std::tuple<boost::system::error_code>> wait() {
    if (!timer_) timer_.emplace(ex_);
    timer_->expires_at(boost::asio::steady_timer::time_point::max());
    return timer_->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  void notify() {
    if (timer_) timer_->cancel();
  }

 private:
  boost::asio::any_io_executor ex_;
  std::optional<boost::asio::steady_timer> timer_;
};

}  // namespace weft::http
