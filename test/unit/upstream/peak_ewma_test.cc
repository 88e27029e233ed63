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

TEST(PeakEwma, CostGrowsWithLoadPerUnitOfWeight) {
  auto t0 = PeakEwma::Clock::time_point{};
  PeakEwma e(milliseconds(10), seconds(10), t0);
  double base = e.cost(t0, 1);
  EXPECT_DOUBLE_EQ(e.cost(t0, 3), base);  // idle: the weight does not change the cost
  e.requestStarted(t0);
  e.requestStarted(t0);
  EXPECT_EQ(e.inFlight(), 2u);
  EXPECT_DOUBLE_EQ(e.cost(t0, 1), base * 3);    // (2 + 1) / 1: requests count at once
  EXPECT_DOUBLE_EQ(e.cost(t0, 2), base * 2);    // (2 + 2) / 2: two in flight on weight 2 = one on weight 1
  EXPECT_DOUBLE_EQ(e.cost(t0, 4), base * 1.5);  // (2 + 4) / 4
  auto later = t0 + seconds(100);
  e.requestEnded(later);
  e.requestEnded(later);
  e.requestEnded(later);  // never underflows
  EXPECT_EQ(e.inFlight(), 0u);
}

TEST(PeakEwma, LoadRisesAtOnceAndFallsBackOverAboutOneWindow) {
  auto t0 = PeakEwma::Clock::time_point{};
  const auto window = PeakEwma::kLoadWindow;
  PeakEwma e(milliseconds(10), seconds(10), t0);
  e.requestStarted(t0);
  EXPECT_DOUBLE_EQ(e.load(t0), 1.0);                   // at once
  EXPECT_NEAR(e.averageLoad(t0 + window), 0.5, 1e-9);  // the average: half way after one window
  e.requestEnded(t0 + seconds(10));                    // in flight for many windows: average ~1
  EXPECT_NEAR(e.load(t0 + seconds(10)), 1.0, 0.02);    // the load does not drop with the count
  EXPECT_NEAR(e.load(t0 + seconds(10) + window), 0.5, 0.02);
  EXPECT_LT(e.load(t0 + seconds(10) + 10 * window), 0.1);
}

TEST(PeakEwma, AFlickeringCountIsHeldAtItsAverageNotItsDips) {
  // One request in flight half of the time: the count flips between 0 and 1,
  // the load stays at or above the ~0.5 average (the dips to 0 are what drew
  // traffic to light endpoints when the bare count was compared).
  auto t0 = PeakEwma::Clock::time_point{};
  PeakEwma e(milliseconds(10), seconds(10), t0);
  auto t = t0;
  const auto half = milliseconds(5);
  for (int i = 0; i < 200; ++i) {  // 2 s of 10 ms periods
    e.requestStarted(t += half);
    e.requestEnded(t += half);
  }
  EXPECT_EQ(e.inFlight(), 0u);
  EXPECT_NEAR(e.averageLoad(t), 0.5, 0.05);
  EXPECT_NEAR(e.load(t), 0.5, 0.05);
}

TEST(PeakEwma, AStaleTimestampDoesNotMoveTheAverageBackwards) {
  auto t0 = PeakEwma::Clock::time_point{};
  PeakEwma e(milliseconds(10), seconds(10), t0);
  e.requestStarted(t0 + seconds(1));
  double at = e.averageLoad(t0 + seconds(1));
  e.requestStarted(t0);  // earlier than the last change: counts from the last change
  EXPECT_DOUBLE_EQ(e.averageLoad(t0 + seconds(1)), at);
  EXPECT_EQ(e.inFlight(), 2u);
}

}  // namespace
}  // namespace weft::upstream
