#include "upstream/retry_budget.h"

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

}  // namespace
}  // namespace weft::upstream
