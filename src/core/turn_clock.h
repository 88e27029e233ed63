#pragma once
// steady_clock's time, read once for a batch of work instead of at every use.
//
// One h2c request read the precise clock six times (the exchange's start,
// the balancer's pick, the attempt's send, the response head, the end for the
// latency histogram, the end for the endpoint's EWMA): 16 ns each with a TSC
// clocksource, 33-80 ns on the kvm-clock hosts of earlier runs, against
// 5-7 us of proxy CPU per request (docs/benchmarks.md, "Fewer clock
// reads"). Those are latency and load figures, for which the time the
// triggering bytes were read is as good as the time a line of code ran: the
// transport opens a Scope for each read it hands the codec, and the
// connection for each batch of streams it reports ended, and everything
// those run synchronously reads the scope's time.
// Outside any scope now() is steady_clock::now(), so work that waited (a
// retry's backoff, a timer) never sees an old time. The same idea as
// nginx's per-iteration ngx_current_msec and Envoy's approximate dispatcher
// time, bounded tighter: a scope lasts one read (at most 32 KiB of frames)
// or one batch of observers.
//
// Deadlines and windows that tolerate milliseconds use coarseNow()
// (core/coarse_clock.h) instead. Thread: per thread; a scope opened inside
// another keeps the outer one's time. A Scope lives on a plain stack frame,
// never in a coroutine's across a co_await: the thread runs other work
// while the coroutine waits.
#include <chrono>

namespace weft {

class TurnClock {
 public:
  using Clock = std::chrono::steady_clock;

  class Scope {
   public:
    // Reads the clock (unless a scope is open already).
    Scope() : Scope(depth_ ? time_ : Clock::now()) {}
    // Uses a time the caller has just read.
    explicit Scope(Clock::time_point now) {
      if (depth_++ == 0) time_ = now;
    }
    ~Scope() { --depth_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
  };

  static Clock::time_point now() { return depth_ ? time_ : Clock::now(); }

 private:
  static inline thread_local Clock::time_point time_{};
  static inline thread_local int depth_ = 0;
};

}  // namespace weft
