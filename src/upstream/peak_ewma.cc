#include "upstream/peak_ewma.h"

#include <algorithm>
#include <cmath>

namespace weft::upstream {

PeakEwma::PeakEwma(std::chrono::nanoseconds defaultRtt, std::chrono::nanoseconds decay, Clock::time_point now)
    : decayNanos_(static_cast<double>(std::max<int64_t>(decay.count(), 1))),
      estimate_(static_cast<double>(defaultRtt.count())),
      stamp_(now),
      loadStamp_(now) {}

void PeakEwma::observe(std::chrono::nanoseconds rtt, Clock::time_point now) {
  double sample = static_cast<double>(rtt.count());
  double elapsed = static_cast<double>(std::max<int64_t>((now - stamp_).count(), 0));
  stamp_ = std::max(stamp_, now);
  measured_ = true;
  if (sample > estimate_) {
    estimate_ = sample;  // peak: react to slowness immediately
    return;
  }
  double w = std::exp(-elapsed / decayNanos_);
  estimate_ = estimate_ * w + sample * (1.0 - w);
}

void PeakEwma::seed(double estimateNanos, Clock::time_point now) {
  if (measured_ || !(estimateNanos > 0)) return;
  estimate_ = estimateNanos;
  stamp_ = now;  // decay toward the endpoint's own samples counts from here
}

double PeakEwma::estimateNanos(Clock::time_point now) const {
  (void)now;  // the estimate moves only with observations; an idle endpoint keeps its last value
  return estimate_;
}

}  // namespace weft::upstream
