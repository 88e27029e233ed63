#pragma once
// Graceful shutdown, per worker: once start() is called every session on the
// worker stops taking new requests (HTTP/2: GOAWAY; HTTP/1: Connection: close
// after the current response) and finishes what is in flight. Any number of
// coroutines may wait(). Worker thread only.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace weft::net {

class DrainSignal {
 public:
  explicit DrainSignal(boost::asio::any_io_executor ex) : timer_(std::move(ex)) {
    timer_.expires_at(boost::asio::steady_timer::time_point::max());
  }
  bool draining() const { return draining_; }
  void start() {
    draining_ = true;
    timer_.cancel();
  }
  // Completes when start() is called (immediately if it already was).
  boost::asio::awaitable<void> wait();

 private:
  bool draining_ = false;
  boost::asio::steady_timer timer_;
};

}  // namespace weft::net
