#pragma once
// Graceful shutdown, per worker: once start() is called every session on the
// worker stops taking new requests (HTTP/2: GOAWAY; HTTP/1: Connection: close
// after the current response) and finishes what is in flight. Sessions
// register a Hook, called from start(): no coroutine or timer per connection
// waits for a drain that may never come. Worker thread only.
#include <functional>

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

  DrainSignal() = default;
  DrainSignal(const DrainSignal&) = delete;
  DrainSignal& operator=(const DrainSignal&) = delete;
  ~DrainSignal();
  bool draining() const { return draining_; }
  void start();
  // `fn` runs from start() (never if already draining: check draining() first).
  void subscribe(Hook& hook, std::function<void()> fn);

 private:
  bool draining_ = false;
  Hook* hooks_ = nullptr;
};

}  // namespace weft::net
