#include "upstream/weighted_round_robin.h"

#include <map>

#include <gtest/gtest.h>

namespace weft::upstream {
namespace {

TEST(WeightedRoundRobin, HonoursWeightsExactlyOverAWindow) {
  WeightedRoundRobin rr;
  rr.reset({1, 2, 5});
  std::map<size_t, int> counts;
  for (int i = 0; i < 8 * 100; ++i) counts[rr.pick()]++;
  EXPECT_EQ(counts[0], 100);
  EXPECT_EQ(counts[1], 200);
  EXPECT_EQ(counts[2], 500);
}

TEST(WeightedRoundRobin, InterleavesInsteadOfBursting) {
  WeightedRoundRobin rr;
  rr.reset({1, 1, 1});
  EXPECT_EQ(rr.pick(), 0u);
  EXPECT_EQ(rr.pick(), 1u);
  EXPECT_EQ(rr.pick(), 2u);
  EXPECT_EQ(rr.pick(), 0u);
}

TEST(WeightedRoundRobin, ZeroWeightCountsAsOne) {
  WeightedRoundRobin rr;
  rr.reset({0, 1});
  std::map<size_t, int> counts;
  for (int i = 0; i < 10; ++i) counts[rr.pick()]++;
  EXPECT_EQ(counts[0], 5);
}

}  // namespace
}  // namespace weft::upstream
