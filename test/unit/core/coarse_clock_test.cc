#include "core/coarse_clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace weft {
namespace {

using namespace std::chrono_literals;

// The coarse clock is steady_clock's own clock at the kernel's tick: never
// ahead of it, and behind by at most a tick (4 ms at HZ=250; the bound here
// is generous: a loaded machine may be late to update it).
TEST(CoarseClock, FollowsSteadyClockFromJustBehind) {
  for (int i = 0; i < 50; ++i) {
    auto coarse = coarseNow();
    auto precise = std::chrono::steady_clock::now();
    EXPECT_LE(coarse, precise);
    EXPECT_LT(precise - coarse, 100ms);
    std::this_thread::sleep_for(1ms);
  }
}

TEST(CoarseClock, MovesForward) {
  auto before = coarseNow();
  std::this_thread::sleep_for(30ms);
  EXPECT_GE(coarseNow() - before, 20ms);
}

}  // namespace
}  // namespace weft
