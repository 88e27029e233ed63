#include "upstream/endpoint_state.h"

namespace weft::upstream {

std::string_view healthName(EndpointHealth h) {
  switch (h) {
    case EndpointHealth::kPending: return "pending";
    case EndpointHealth::kReady: return "ready";
    case EndpointHealth::kFailed: return "failed";
  }
  return "unknown";
}

EndpointState::EndpointState(std::string address, uint32_t weight, const EndpointPolicy& policy,
                             Clock::time_point now)
    : address_(std::move(address)),
      weight_(weight ? weight : 1),
      policy_(policy),
      load_(policy.defaultRtt, policy.ewmaDecay, now) {}

void EndpointState::connectSucceeded() {
  health_ = EndpointHealth::kReady;
  connectAttempt_ = 0;
}

std::chrono::milliseconds EndpointState::connectFailed(std::string_view error, double unit) {
  health_ = EndpointHealth::kFailed;
  lastError_ = error;
  return policy_.connectBackoff.delay(connectAttempt_++, unit);
}

void EndpointState::probeStarted() {
  if (health_ == EndpointHealth::kFailed) health_ = EndpointHealth::kPending;
}

std::chrono::milliseconds EndpointState::requestFailed(std::string_view error, bool mayEject, double unit) {
  lastError_ = error;
  if (++consecutiveFailures_ < policy_.accrualThreshold || !mayEject || health_ != EndpointHealth::kReady)
    return std::chrono::milliseconds(0);
  // Jittered within [ceiling/2, ceiling): ejected endpoints must stay out for
  // a meaningful time, but not all come back at the same instant.
  auto ceiling = policy_.ejectBackoff.ceiling(ejections_++);
  auto penalty = ceiling / 2 + std::chrono::milliseconds(static_cast<int64_t>(unit * (ceiling / 2).count()));
  health_ = EndpointHealth::kFailed;
  consecutiveFailures_ = 0;
  return penalty;
}

}  // namespace weft::upstream
