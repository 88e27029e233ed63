#include "upstream/p2c.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "upstream/peak_ewma.h"

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

TEST(PickTwoChoices, NeverPicksTheWorstOfThreeAndSpreadsOverTheRest) {
  FastRandom rng(42);
  std::vector<double> costs = {1.0, 1.0, 100.0};
  std::vector<int> counts(3);
  for (int i = 0; i < 30000; ++i) counts[pickTwoChoices(costs.size(), rng, [&](size_t k) { return costs[k]; })]++;
  // The worst one loses every comparison it takes part in.
  EXPECT_EQ(counts[2], 0);
  EXPECT_NEAR(counts[0], 15000, 1000);
  EXPECT_NEAR(counts[1], 15000, 1000);
}

TEST(PickTwoChoices, SlowEndpointGetsFarLessTrafficThanFastOnes) {
  // Simulates the balancing requirement: 4 endpoints, one 10x slower.
  FastRandom rng(7);
  std::vector<double> costs = {10, 10, 10, 100};
  std::vector<int> counts(4);
  for (int i = 0; i < 40000; ++i) counts[pickTwoChoices(costs.size(), rng, [&](size_t k) { return costs[k]; })]++;
  EXPECT_LT(counts[3], 40000 / 10);
}

TEST(FastRandom, BelowStaysInRange) {
  FastRandom rng(1);
  for (int i = 0; i < 10000; ++i) EXPECT_LT(rng.below(7), 7u);
}

}  // namespace
}  // namespace weft::upstream
