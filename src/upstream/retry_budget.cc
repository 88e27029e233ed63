#include "upstream/retry_budget.h"

#include <algorithm>

namespace weft::upstream {

int64_t RetryBudget::secondOf(Clock::time_point now) const {
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

RetryBudget::Slot& RetryBudget::slotFor(Clock::time_point now) {
  int64_t sec = secondOf(now);
  Slot& s = slots_[static_cast<size_t>(sec) % kSlots];
  if (s.epoch != sec) s = Slot{sec, 0, 0};
  return s;
}

void RetryBudget::recordRequest(Clock::time_point now) { slotFor(now).requests++; }

void RetryBudget::recordRetry(Clock::time_point now) { slotFor(now).retries++; }

uint64_t RetryBudget::requestsInWindow(Clock::time_point now) {
  int64_t sec = secondOf(now);
  int64_t span = std::clamp<int64_t>(policy_.ttl.count(), 1, kSlots);
  uint64_t n = 0;
  for (const auto& s : slots_)
    if (s.epoch > sec - span && s.epoch <= sec) n += s.requests;
  return n;
}

uint64_t RetryBudget::retriesInWindow(Clock::time_point now) {
  int64_t sec = secondOf(now);
  int64_t span = std::clamp<int64_t>(policy_.ttl.count(), 1, kSlots);
  uint64_t n = 0;
  for (const auto& s : slots_)
    if (s.epoch > sec - span && s.epoch <= sec) n += s.retries;
  return n;
}

bool RetryBudget::canRetry(Clock::time_point now) {
  double allowed = policy_.ratio * static_cast<double>(requestsInWindow(now)) +
                   static_cast<double>(policy_.minPerSecond) * static_cast<double>(policy_.ttl.count());
  return static_cast<double>(retriesInWindow(now)) + 1.0 <= allowed;
}

}  // namespace weft::upstream
