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
//
// A fresh estimate starts at the default RTT. An endpoint added next to
// measured peers is instead seeded with their representative estimate
// (Cluster::setEndpoints, Balancer::peerEstimateNanos): starting at 30 ms
// among ~1 ms peers would starve every new endpoint for about one decay
// period, exactly while a canary or a rolled-out pod is being watched. The
// seed is not a measurement: measured() stays false until the first sample,
// and a slower first sample still replaces the seed at once (peak).
#include <chrono>
#include <cstdint>

namespace weft::upstream {

class PeakEwma {
 public:
  using Clock = std::chrono::steady_clock;
  PeakEwma(std::chrono::nanoseconds defaultRtt, std::chrono::nanoseconds decay, Clock::time_point now);

  void observe(std::chrono::nanoseconds rtt, Clock::time_point now);
  // Starts from `estimateNanos` instead of the default; ignored once the
  // endpoint has a sample of its own (its measurements outrank its peers').
  void seed(double estimateNanos, Clock::time_point now);
  // True once observe() has been called.
  bool measured() const { return measured_; }
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
  bool measured_ = false;
};

}  // namespace weft::upstream
