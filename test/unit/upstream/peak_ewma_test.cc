#include "upstream/peak_ewma.h"

#include <cmath>

#include <gtest/gtest.h>

namespace weft::upstream {
namespace {

using namespace std::chrono;

TEST(PeakEwma, SlowerSampleIsTakenAtOnceFasterOnesDecay) {
  auto t0 = PeakEwma::Clock::time_point{};
  PeakEwma e(milliseconds(30), seconds(10), t0);
  EXPECT_DOUBLE_EQ(e.estimateNanos(t0), 30e6);
  e.observe(milliseconds(300), t0 + milliseconds(1));
  EXPECT_DOUBLE_EQ(e.estimateNanos(t0), 300e6);  // peak
  // One decay period later a 10 ms sample pulls it ~63 % of the way down.
  e.observe(milliseconds(10), t0 + milliseconds(1) + seconds(10));
  double expected = 300e6 * std::exp(-1.0) + 10e6 * (1 - std::exp(-1.0));
  EXPECT_NEAR(e.estimateNanos(t0), expected, 1e3);
}

TEST(PeakEwma, CostGrowsWithInFlightPerUnitOfWeight) {
  auto t0 = PeakEwma::Clock::time_point{};
  PeakEwma e(milliseconds(10), seconds(10), t0);
  double base = e.cost(t0, 1);
  EXPECT_DOUBLE_EQ(e.cost(t0, 3), base);  // idle: the weight does not change the cost
  e.requestStarted();
  e.requestStarted();
  EXPECT_DOUBLE_EQ(e.cost(t0, 1), base * 3);      // (2 + 1) / 1
  EXPECT_DOUBLE_EQ(e.cost(t0, 2), base * 2);      // (2 + 2) / 2: two in flight on weight 2 = one on weight 1
  EXPECT_DOUBLE_EQ(e.cost(t0, 4), base * 1.5);    // (2 + 4) / 4
  e.requestEnded();
  e.requestEnded();
  e.requestEnded();  // never underflows
  EXPECT_EQ(e.inFlight(), 0u);
}


}  // namespace
}  // namespace weft::upstream
