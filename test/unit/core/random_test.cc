#include "core/random.h"

#include <gtest/gtest.h>

namespace weft {
namespace {

TEST(FastRandom, BelowStaysInRange) {
  FastRandom rng(1);
  for (int i = 0; i < 10000; ++i) EXPECT_LT(rng.below(7), 7u);
}

TEST(FastRandom, UnitStaysInHalfOpenRange) {
  FastRandom rng(2);
  for (int i = 0; i < 10000; ++i) {
    double u = rng.unit();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace weft
