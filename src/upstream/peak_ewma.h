#pragma once
// Peak-EWMA latency estimate of one endpoint (the Finagle / linkerd2-proxy
// load metric): a slower observation replaces the estimate at once (peak),
// faster ones pull it down with exponential decay over time. The balancer's
// cost is estimate × (load + weight) / weight, i.e. the design's
// estimate × (in-flight + 1) / weight with the idle term scaled by the weight:
// idle endpoints of different weights then cost the same, so weighted sampling
// of the two candidates (Balancer) decides, and shares follow the weights;
// under load, load per unit of weight is what is compared.
//
// `load` is the larger of the in-flight count and its average over the last
// ~100 ms (kLoadWindow): it rises with the count at once and falls back
// over about one window, as the latency estimate does (peak). With the bare
// count, at a few requests in flight its relative jumps are largest on the
// lightest-weighted endpoint (one request more doubles a weight-1 endpoint's
// cost, adds a third to a weight-3 one), and whenever such an endpoint
// dipped to zero it won the comparison: 1:3 weights came out ~31:69 at equal
// latency (test_balancing). Holding the load for a window removes the dips
// that drew traffic while keeping the immediate penalty for requests piling
// up on a stalled or slow endpoint, before any of them has answered.
// Worker thread only; times are passed in so tests drive the clock.
//
// A fresh estimate starts at the default RTT. An endpoint added next to
// measured peers is instead seeded with their representative estimate
// (Cluster::setEndpoints, Balancer::peerEstimateNanos): starting at 30 ms
// among ~1 ms peers would starve every new endpoint for about one decay
// period, exactly while a canary or a rolled-out pod is being watched. The
// seed is not a measurement: measured() stays false until the first sample,
// and a slower first sample still replaces the seed at once (peak).
#include <algorithm>
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

  // The averaging window of the in-flight load (a time constant).
  static constexpr std::chrono::nanoseconds kLoadWindow = std::chrono::milliseconds(100);

  void requestStarted(Clock::time_point now) {
    settleLoad(now);
    ++inFlight_;
  }
  void requestEnded(Clock::time_point now) {
    settleLoad(now);
    if (inFlight_) --inFlight_;
  }
  uint32_t inFlight() const { return inFlight_; }
  // In-flight requests averaged over about kLoadWindow up to `now`.
  double averageLoad(Clock::time_point now) const { return loadAverage_ + loadStep(now) * (inFlight_ - loadAverage_); }
  // What the cost counts: max(in flight now, averageLoad).
  double load(Clock::time_point now) const { return std::max<double>(inFlight_, averageLoad(now)); }

  double cost(Clock::time_point now, uint32_t weight) const {
    double w = weight ? weight : 1;
    return estimateNanos(now) * (load(now) + w) / w;
  }

 private:
  // How far the average moves toward the current in-flight count over the
  // time since the last change: dt / (dt + window), the first-order form of
  // 1 - exp(-dt / window) (no exp() on the per-request path; both are 0 at
  // dt = 0, dt / window for short gaps and 1 for long ones).
  double loadStep(Clock::time_point now) const {
    double dt = static_cast<double>(std::max<int64_t>((now - loadStamp_).count(), 0));
    return dt / (dt + static_cast<double>(kLoadWindow.count()));
  }
  void settleLoad(Clock::time_point now) {
    loadAverage_ = averageLoad(now);
    loadStamp_ = std::max(loadStamp_, now);
  }

  double decayNanos_;
  double estimate_;
  Clock::time_point stamp_;
  double loadAverage_ = 0;
  Clock::time_point loadStamp_;
  uint32_t inFlight_ = 0;
  bool measured_ = false;
};

}  // namespace weft::upstream
