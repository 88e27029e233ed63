#include "upstream/retry_budget.h"

#include <gtest/gtest.h>

namespace weft::upstream {
namespace {
using namespace std::chrono;

TEST(RetryBudget, AllowsRatioOfRequestsPlusAMinimumOverTheWindow) {
  RetryBudget b({0.2, 1, seconds(10)});  // 20 % + 1/s over 10 s = 0.2 * N + 10
  RetryBudget::Clock::time_point t{seconds(1000)};
  for (int i = 0; i < 100; ++i) b.recordRequest(t);
  int retries = 0;
  while (b.canRetry(t) && retries < 1000) {
    b.recordRetry(t);
    ++retries;
  }
  EXPECT_EQ(retries, 30);  // 0.2 * 100 + 1 * 10
}

TEST(RetryBudget, WithNoTrafficOnlyTheMinimumIsAvailable) {
  RetryBudget b;  // defaults: 20 % + 10/s, 10 s
  RetryBudget::Clock::time_point t{seconds(5000)};
  int retries = 0;
  while (b.canRetry(t) && retries < 1000) {
    b.recordRetry(t);
    ++retries;
  }
  EXPECT_EQ(retries, 100);
}

TEST(RetryBudget, OldActivityLeavesTheWindow) {
  RetryBudget b({0.2, 0, seconds(10)});
  RetryBudget::Clock::time_point t{seconds(2000)};
  for (int i = 0; i < 50; ++i) b.recordRequest(t);
  for (int i = 0; i < 10; ++i) b.recordRetry(t);
  EXPECT_FALSE(b.canRetry(t));  // 10 retries of 0.2 * 50 = 10 used up
  EXPECT_EQ(b.requestsInWindow(t + seconds(9)), 50u);
  EXPECT_EQ(b.requestsInWindow(t + seconds(10)), 0u);  // expired
  EXPECT_EQ(b.retriesInWindow(t + seconds(10)), 0u);
  for (int i = 0; i < 5; ++i) b.recordRequest(t + seconds(10));
  EXPECT_TRUE(b.canRetry(t + seconds(10)));  // 0.2 * 5 = 1
}

TEST(RetryBudget, SlotsAreReusedAcrossLongGaps) {
  RetryBudget b({0.5, 0, seconds(10)});
  RetryBudget::Clock::time_point t{seconds(3000)};
  b.recordRequest(t);
  b.recordRequest(t + seconds(60));  // same ring slot, a minute later
  EXPECT_EQ(b.requestsInWindow(t + seconds(60)), 1u);
}

}  // namespace
}  // namespace weft::upstream
