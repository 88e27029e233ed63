#pragma once
// A retry budget (the Finagle / Linkerd model): over a sliding window of `ttl`,
// retries may not exceed `ratio` × requests + `minPerSecond` × ttl. Retries
// therefore add at most ~20 % load when everything fails (incident 004: 3
// retries per request turned each failure into 4 attempts), while a quiet
// service can still retry a little. One budget per cluster per worker; worker
// thread only; time is passed in.
#include <array>
#include <chrono>
#include <cstdint>

namespace weft::upstream {

struct RetryBudgetPolicy {
  double ratio = 0.2;
  uint32_t minPerSecond = 10;
  std::chrono::seconds ttl{10};
};

class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RetryBudget(RetryBudgetPolicy policy = {}) : policy_(policy) {}

  void setPolicy(const RetryBudgetPolicy& p) { policy_ = p; }
  // Every original request (not retries) deposits.
  void recordRequest(Clock::time_point now);
  // True when a retry fits the budget now (does not withdraw).
  bool canRetry(Clock::time_point now);
  // Withdraws one retry (call when a retry is actually sent).
  void recordRetry(Clock::time_point now);

  uint64_t requestsInWindow(Clock::time_point now);
  uint64_t retriesInWindow(Clock::time_point now);

 private:
  static constexpr size_t kSlots = 60;  // one slot per second: a ttl of up to 60 s
  struct Slot {
    int64_t epoch = -1;  // which second this slot holds
    uint64_t requests = 0;
    uint64_t retries = 0;
  };
  Slot& slotFor(Clock::time_point now);
  int64_t secondOf(Clock::time_point now) const;

  RetryBudgetPolicy policy_;
  std::array<Slot, kSlots> slots_{};
};

}  // namespace weft::upstream
