#pragma once
// Exponential backoff with full jitter (the AWS architecture blog's "full
// jitter": sleep = random(0, min(cap, base * 2^attempt))). Full jitter spreads
// reconnects of many proxies to one dead endpoint evenly, instead of in waves
// (incident 003). Plain value type; the random source is injected.
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace weft {

struct BackoffPolicy {
  std::chrono::milliseconds base{100};
  std::chrono::milliseconds cap{30000};
  double factor = 2.0;

  // Upper bound of the delay before retry `attempt` (0-based), before jitter.
  std::chrono::milliseconds ceiling(uint32_t attempt) const {
    double ms = static_cast<double>(base.count());
    for (uint32_t i = 0; i < attempt && ms < static_cast<double>(cap.count()); ++i) ms *= factor;
    return std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, static_cast<double>(cap.count()))));
  }

  // `unit` is a uniform random number in [0, 1).
  std::chrono::milliseconds delay(uint32_t attempt, double unit) const {
    auto c = ceiling(attempt).count();
    return std::chrono::milliseconds(static_cast<int64_t>(unit * static_cast<double>(c)));
  }
};

}  // namespace weft
