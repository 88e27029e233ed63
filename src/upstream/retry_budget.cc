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

void RetryBudget::refill(Clock::time_point now) {
  if (!started_) {
    started_ = true;
    refilledAt_ = now;
    return;
  }
  if (now <= refilledAt_) return;
  double elapsed = std::chrono::duration<double>(now - refilledAt_).count();
  double cap = policy_.minPerSecond * static_cast<double>(policy_.ttl.count());
  floorTokens_ = std::min(cap, floorTokens_ + elapsed * policy_.minPerSecond);
  refilledAt_ = now;
}

void RetryBudget::adjustSums(int64_t sec, int64_t requests, int64_t retries) {
  if (sec != sums_.second) {
    sums_.second = INT64_MIN;  // another second: recomputed on the next query
    return;
  }
  sums_.requests += static_cast<uint64_t>(requests);
  sums_.retries += static_cast<uint64_t>(retries);
}

void RetryBudget::recordRequest(Clock::time_point now) {
  refill(now);
  slotFor(now).requests++;
  adjustSums(secondOf(now), 1, 0);
}

RetryBudget::Withdrawal RetryBudget::withdraw(Clock::time_point now) {
  refill(now);
  const auto& sums = windowSums(now);
  if (static_cast<double>(sums.retries) + 1.0 <= policy_.ratio * static_cast<double>(sums.requests)) {
    slotFor(now).retries++;
    adjustSums(secondOf(now), 0, 1);
    return Withdrawal::kRatio;
  }
  if (floorTokens_ >= 1.0) {
    floorTokens_ -= 1.0;
    return Withdrawal::kFloor;
  }
  return Withdrawal::kNone;
}

void RetryBudget::refund(Withdrawal w, Clock::time_point now) {
  if (w == Withdrawal::kRatio) {
    Slot& s = slotFor(now);
    if (s.retries) {
      s.retries--;
      adjustSums(secondOf(now), 0, -1);
    }
  } else if (w == Withdrawal::kFloor) {
    floorTokens_ += 1.0;
  }
}

const RetryBudget::WindowSums& RetryBudget::windowSums(Clock::time_point now) const {
  int64_t sec = secondOf(now);
  if (sec == sums_.second) return sums_;
  int64_t span = std::clamp<int64_t>(policy_.ttl.count(), 1, kSlots);
  sums_ = WindowSums{sec, 0, 0};
  for (const auto& s : slots_) {
    if (s.epoch > sec - span && s.epoch <= sec) {
      sums_.requests += s.requests;
      sums_.retries += s.retries;
    }
  }
  return sums_;
}

uint64_t RetryBudget::requestsInWindow(Clock::time_point now) const { return windowSums(now).requests; }

uint64_t RetryBudget::retriesInWindow(Clock::time_point now) const { return windowSums(now).retries; }

}  // namespace weft::upstream
