#include "upstream/retry_budget.h"

#include <array>
#include <random>

#include <gtest/gtest.h>

namespace weft::upstream {
namespace {
using namespace std::chrono;
using W = RetryBudget::Withdrawal;

int drain(RetryBudget& b, RetryBudget::Clock::time_point t) {
  int n = 0;
  while (b.withdraw(t) != W::kNone && n < 100000) ++n;
  return n;
}

TEST(RetryBudget, RatioOfRecentRequests) {
  RetryBudget b({0.2, 0, seconds(10)});
  RetryBudget::Clock::time_point t{seconds(1000)};
  for (int i = 0; i < 100; ++i) b.recordRequest(t);
  EXPECT_EQ(drain(b, t), 20);
}

TEST(RetryBudget, FloorAccruesOverTimeInsteadOfArrivingAsALump) {
  RetryBudget b({0.2, 10, seconds(10)});
  RetryBudget::Clock::time_point t{seconds(5000)};
  b.recordRequest(t);  // starts the clock; 0.2 of one request is no retry
  EXPECT_EQ(drain(b, t), 0);
  EXPECT_EQ(drain(b, t + milliseconds(500)), 5);  // 10/s for 0.5 s
  EXPECT_EQ(drain(b, t + seconds(100)), 100);      // capped at 10/s x 10 s
}

TEST(RetryBudget, OverAnyRunRetriesStayUnderRatioPlusFloorRate) {
  // 100 requests/s, every one wanting a retry, for 30 s.
  RetryBudget b({0.2, 10, seconds(10)});
  RetryBudget::Clock::time_point t0{seconds(9000)};
  int requests = 0, retries = 0;
  for (int ms = 0; ms < 30000; ms += 10) {
    auto t = t0 + milliseconds(ms);
    b.recordRequest(t);
    ++requests;
    if (b.withdraw(t) != W::kNone) ++retries;
  }
  EXPECT_LE(retries, 0.2 * requests + 10 * 30);
  EXPECT_GE(retries, 0.2 * requests * 0.9);  // and the budget is really usable
}

TEST(RetryBudget, RefundGivesTheRetryBack) {
  RetryBudget b({0.5, 0, seconds(10)});
  RetryBudget::Clock::time_point t{seconds(2000)};
  b.recordRequest(t);
  b.recordRequest(t);
  auto w = b.withdraw(t);
  ASSERT_EQ(w, W::kRatio);
  EXPECT_EQ(b.withdraw(t), W::kNone);
  b.refund(w, t);
  EXPECT_EQ(b.withdraw(t), W::kRatio);
}

TEST(RetryBudget, OldRequestsLeaveTheWindow) {
  RetryBudget b({0.2, 0, seconds(10)});
  RetryBudget::Clock::time_point t{seconds(3000)};
  for (int i = 0; i < 50; ++i) b.recordRequest(t);
  EXPECT_EQ(b.requestsInWindow(t + seconds(9)), 50u);
  EXPECT_EQ(b.requestsInWindow(t + seconds(10)), 0u);
  EXPECT_EQ(drain(b, t + seconds(10)), 0);
}

// The window sums are kept incrementally (O(1) per request); this checks
// them against a plain recount of the same 60 one-second slots after every
// operation of a random run: times mostly moving forward, sometimes jumping
// several seconds or a whole window, sometimes an older timestamp (a refund
// taken with the time its request started).
TEST(RetryBudget, IncrementalWindowSumsEqualARecount) {
  struct Slot {
    int64_t epoch = -1;
    uint64_t requests = 0, retries = 0;
  };
  std::array<Slot, 60> ref{};
  auto slot = [&](int64_t sec) -> Slot& {
    Slot& s = ref[static_cast<size_t>(sec) % ref.size()];
    if (s.epoch != sec) s = Slot{sec, 0, 0};
    return s;
  };
  auto recount = [&](int64_t sec, uint64_t Slot::*field) {
    uint64_t n = 0;
    for (const auto& s : ref)
      if (s.epoch > sec - 10 && s.epoch <= sec) n += s.*field;
    return n;
  };
  RetryBudget b({0.2, 0, seconds(10)});
  std::mt19937_64 rng(7);
  auto t = RetryBudget::Clock::time_point{seconds(5000)};
  for (int i = 0; i < 20000; ++i) {
    auto r = rng() % 100;
    if (r < 60) t += milliseconds(rng() % 50);
    else if (r < 62) t += seconds(1 + rng() % 12);
    auto at = (r >= 95) ? t - seconds(1 + rng() % 3) : t;  // an older timestamp
    int64_t sec = duration_cast<seconds>(at.time_since_epoch()).count();
    switch (rng() % 3) {
      case 0:
        b.recordRequest(at);
        slot(sec).requests++;
        break;
      case 1:
        if (b.withdraw(at) == W::kRatio) slot(sec).retries++;
        break;
      default:
        if (auto& s = slot(sec); s.retries) {
          b.refund(W::kRatio, at);
          s.retries--;
        }
        break;
    }
    int64_t now = duration_cast<seconds>(t.time_since_epoch()).count();
    ASSERT_EQ(b.requestsInWindow(t), recount(now, &Slot::requests)) << "step " << i;
    ASSERT_EQ(b.retriesInWindow(t), recount(now, &Slot::retries)) << "step " << i;
  }
}

}  // namespace
}  // namespace weft::upstream
