#pragma once
// The lifecycle of one endpoint as seen by one worker (DESIGN.md §6):
//
//   pending ──connect ok──▶ ready ──connect failed / ejected──▶ failed
//      ▲                                                          │
//      └───────────── backoff (full jitter) elapsed ◀─────────────┘
//
// A failed endpoint is dialed again only when its backoff elapses, never
// because a request arrived (incident 003). Failure accrual ejects an
// endpoint after N consecutive request failures for a growing, jittered
// penalty; the caller decides whether ejection is allowed (never the last
// ready endpoint). Removal by discovery is the owner's business: a removed
// endpoint's state is dropped and its pools drain.
//
// Pure state: no I/O and no timers; time and randomness are passed in, so
// tests drive them. Worker thread only.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/backoff.h"
#include "upstream/peak_ewma.h"

namespace weft::upstream {

enum class EndpointHealth : uint8_t { kPending, kReady, kFailed };
std::string_view healthName(EndpointHealth h);

struct EndpointPolicy {
  BackoffPolicy connectBackoff{};                       // 100 ms x2 up to 30 s
  uint32_t accrualThreshold = 7;                        // consecutive failures before ejection
  BackoffPolicy ejectBackoff{std::chrono::milliseconds(1000), std::chrono::milliseconds(60000), 2.0};
  std::chrono::milliseconds defaultRtt{30};
  std::chrono::milliseconds ewmaDecay{10000};
};

class EndpointState {
 public:
  using Clock = std::chrono::steady_clock;

  EndpointState(std::string address, uint32_t weight, const EndpointPolicy& policy, Clock::time_point now);

  EndpointHealth health() const { return health_; }
  const std::string& address() const { return address_; }
  uint32_t weight() const { return weight_; }
  void setWeight(uint32_t w) { weight_ = w ? w : 1; }

  // --- connects ---
  void connectSucceeded();
  // Moves to failed; returns how long to wait before the next probe connect.
  // `unit` is uniform in [0, 1).
  std::chrono::milliseconds connectFailed(std::string_view error, double unit);
  // The backoff elapsed and a probe connect is starting: failed → pending.
  void probeStarted();

  // --- requests (failure accrual) ---
  void requestSucceeded() { consecutiveFailures_ = 0; }
  // Returns the ejection penalty when this failure ejects the endpoint
  // (it is then failed until the owner probes it again), or zero.
  std::chrono::milliseconds requestFailed(std::string_view error, bool mayEject, double unit);

  // --- load ---
  PeakEwma& load() { return load_; }
  const PeakEwma& load() const { return load_; }
  double cost(Clock::time_point now) const { return load_.cost(now, weight_); }

  // --- introspection (/debug/endpoints) ---
  uint32_t consecutiveFailures() const { return consecutiveFailures_; }
  uint32_t connectFailures() const { return connectAttempt_; }
  uint32_t ejections() const { return ejections_; }
  const std::string& lastError() const { return lastError_; }

 private:
  std::string address_;
  uint32_t weight_;
  const EndpointPolicy& policy_;
  EndpointHealth health_ = EndpointHealth::kPending;
  uint32_t connectAttempt_ = 0;  // consecutive connect failures
  uint32_t consecutiveFailures_ = 0;
  uint32_t ejections_ = 0;       // consecutive ejections (grows the penalty)
  std::string lastError_;
  PeakEwma load_;
};

}  // namespace weft::upstream
