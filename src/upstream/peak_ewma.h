#pragma once
// Peak-EWMA latency estimate of one endpoint (the Finagle / linkerd2-proxy
// load metric): a slower observation replaces the estimate at once (peak),
// faster ones pull it down with exponential decay over time. The balancer's
// cost is estimate × (in-flight + weight) / weight, i.e. the design's
// estimate × (in-flight + 1) / weight with the idle term scaled by the weight:
// idle endpoints of different weights then cost the same, so weighted sampling
// of the two candidates (Balancer) decides, and shares follow the weights;
// under load, in-flight per unit of weight is what is compared. Worker thread
// only; times are passed in so tests drive the clock.
#include <chrono>
#include <cstdint>

namespace weft::upstream {

class PeakEwma {
 public:
  using Clock = std::chrono::steady_clock;
  PeakEwma(std::chrono::nanoseconds defaultRtt, std::chrono::nanoseconds decay, Clock::time_point now);

  void observe(std::chrono::nanoseconds rtt, Clock::time_point now);
  // Estimate in nanoseconds, decayed to `now` (decay applies between updates).
  double estimateNanos(Clock::time_point now) const;

  void requestStarted() { ++inFlight_; }
  void requestEnded() { if (inFlight_) --inFlight_; }
  uint32_t inFlight() const { return inFlight_; }

  double cost(Clock::time_point now, uint32_t weight) const {
    double w = weight ? weight : 1;
    return estimateNanos(now) * (inFlight_ + w) / w;
  }

 private:
  double decayNanos_;
  double estimate_;
  Clock::time_point stamp_;
  uint32_t inFlight_ = 0;
};

}  // namespace weft::upstream
