#pragma once
// A retry budget (after Finagle / Linkerd): retries may not exceed `ratio` of
// the requests seen over the last `ttl`, plus a small floor that accrues at
// `minPerSecond` (capped at `minPerSecond` × `ttl`) so a quiet service can
// still retry. Over any run, retries ≤ ratio × requests + minPerSecond ×
// duration: a failing service sees at most ~1.2× its load from retries
// (incident 004 turned every failure into 4 attempts).
//
// A retry is withdrawn *before* the attempt that may need it, so concurrent
// requests cannot overdraw; an attempt that did not need its retry refunds it.
// One budget per cluster per worker (the proxy divides the floor among its
// workers); worker thread only; time is passed in.
#include <array>
#include <chrono>
#include <climits>
#include <cstdint>

namespace weft::upstream {

struct RetryBudgetPolicy {
  double ratio = 0.2;
  double minPerSecond = 10;
  std::chrono::seconds ttl{10};
};

class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Withdrawal : uint8_t { kNone, kRatio, kFloor };

  explicit RetryBudget(RetryBudgetPolicy policy = {}) : policy_(policy) {}

  void setPolicy(const RetryBudgetPolicy& p) {
    policy_ = p;
    sums_ = {};  // the window's length may have changed
  }
  // Every original request (not retries) deposits.
  void recordRequest(Clock::time_point now);
  // Takes one retry if the budget has one: kNone when spent.
  Withdrawal withdraw(Clock::time_point now);
  // Gives back a retry that was not used.
  void refund(Withdrawal w, Clock::time_point now);

  uint64_t requestsInWindow(Clock::time_point now) const;
  uint64_t retriesInWindow(Clock::time_point now) const;  // those drawn from the ratio part

 private:
  static constexpr size_t kSlots = 60;  // one slot per second: a ttl of up to 60 s
  struct Slot {
    int64_t epoch = -1;  // which second this slot holds
    uint64_t requests = 0;
    uint64_t retries = 0;
  };
  Slot& slotFor(Clock::time_point now);
  int64_t secondOf(Clock::time_point now) const;
  void refill(Clock::time_point now);
  // The window's sums (requests, retries) for the second `now` falls in:
  // recomputed over the slots when the second changes, kept up to date by
  // every change within it, so a request pays O(1), not a scan of 60 slots.
  struct WindowSums {
    int64_t second = INT64_MIN;
    uint64_t requests = 0;
    uint64_t retries = 0;
  };
  const WindowSums& windowSums(Clock::time_point now) const;
  // A slot of second `sec` changed by +requests / +retries (may be negative).
  void adjustSums(int64_t sec, int64_t requests, int64_t retries);

  RetryBudgetPolicy policy_;
  std::array<Slot, kSlots> slots_{};
  mutable WindowSums sums_;
  double floorTokens_ = 0;
  Clock::time_point refilledAt_{};
  bool started_ = false;
};

}  // namespace weft::upstream
