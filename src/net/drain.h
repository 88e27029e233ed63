#pragma once
// Graceful shutdown, per worker: once start() is called every session on the
// worker stops taking new requests (HTTP/2: GOAWAY; HTTP/1: Connection: close
// after the current response) and finishes what is in flight. Any number of
// coroutines may wait(); a session that must not race a wait against its
// reads (the HTTP/1 hot path) registers a Hook instead, called from start().
// Worker thread only.
#include <functional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace weft::net {

class DrainSignal {
 public:
  // A callback run once by start(); unlinks itself when destroyed first.
  class Hook {
   public:
    Hook() = default;
    Hook(const Hook&) = delete;
    Hook& operator=(const Hook&) = delete;
    ~Hook() { unlink(); }
    void unlink();

   private:
    friend class DrainSignal;
    std::function<void()> fn_;
    DrainSignal* owner_ = nullptr;
    Hook* prev_ = nullptr;
    Hook* next_ = nullptr;
  };

  explicit DrainSignal(boost::asio::any_io_executor ex) : timer_(std::move(ex)) {
    timer_.expires_at(boost::asio::steady_timer::time_point::max());
  }
  ~DrainSignal();
  bool draining() const { return draining_; }
  void start();
  // Completes when start() is called (immediately if it already was).
  boost::asio::awaitable<void> wait();
  // `fn` runs from start() (never if already draining: check draining() first).
  void subscribe(Hook& hook, std::function<void()> fn);

 private:
  bool draining_ = false;
  boost::asio::steady_timer timer_;
  Hook* hooks_ = nullptr;
};

}  // namespace weft::net
