#pragma once
// steady_clock's time at the kernel's tick: CLOCK_MONOTONIC_COARSE is the
// clock steady_clock reads (CLOCK_MONOTONIC), taken from the last timer
// tick instead of the clock source, so it is up to one tick behind (4 ms at
// HZ=250) and never ahead. A read costs about 6 ns here against 33–80 for
// steady_clock::now() (a kvm-clock/TSC read through the vDSO), and the
// HTTP/1 path used to make 14 reads per request, about 3 % of its CPU
// (docs/benchmarks.md). For deadlines and windows seconds long, where a
// few milliseconds early do not matter; latencies and the balancer's
// costs keep steady_clock.
#include <time.h>

#include <chrono>

namespace weft {

inline std::chrono::steady_clock::time_point coarseNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

}  // namespace weft
