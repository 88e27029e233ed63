#include "core/allocator.h"

#include <gtest/gtest.h>

namespace weft::core {
namespace {

TEST(Allocator, MimallocVersionIsDecodedDigitByDigit) {
  EXPECT_EQ(mimallocVersionText(209), "2.0.9");
  EXPECT_EQ(mimallocVersionText(1712), "17.1.2");
  EXPECT_EQ(mimallocVersionText(100), "1.0.0");
}

// The unit tests do not link mimalloc (only the weft executable does), so
// the run-time lookup must find glibc here: a lookup that always said
// "mimalloc" would fail this.
TEST(Allocator, ReportsGlibcWhereMimallocIsNotLinked) { EXPECT_EQ(allocatorName(), "glibc"); }

}  // namespace
}  // namespace weft::core
