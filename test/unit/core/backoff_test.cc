#include "core/backoff.h"

#include <gtest/gtest.h>

namespace weft {
namespace {
using std::chrono::milliseconds;

TEST(Backoff, CeilingDoublesUpToTheCap) {
  BackoffPolicy p;  // 100 ms x2 up to 30 s
  EXPECT_EQ(p.ceiling(0), milliseconds(100));
  EXPECT_EQ(p.ceiling(1), milliseconds(200));
  EXPECT_EQ(p.ceiling(5), milliseconds(3200));
  EXPECT_EQ(p.ceiling(9), milliseconds(30000));  // 51.2 s capped
  EXPECT_EQ(p.ceiling(1000), milliseconds(30000));
}

TEST(Backoff, FullJitterSpansZeroToCeiling) {
  BackoffPolicy p;
  EXPECT_EQ(p.delay(3, 0.0), milliseconds(0));
  EXPECT_EQ(p.delay(3, 0.5), milliseconds(400));
  EXPECT_LT(p.delay(3, 0.999999), milliseconds(800));
}

}  // namespace
}  // namespace weft
