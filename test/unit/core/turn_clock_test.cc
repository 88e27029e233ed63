#include "core/turn_clock.h"

#include <gtest/gtest.h>

#include <thread>

namespace weft {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

TEST(TurnClock, OutsideAScopeItIsTheSteadyClock) {
  auto before = Clock::now();
  std::this_thread::sleep_for(2ms);
  auto t = TurnClock::now();
  EXPECT_GE(t - before, 2ms);
  EXPECT_LE(t, Clock::now());
}

TEST(TurnClock, InsideAScopeEveryReadIsTheScopesTime) {
  TurnClock::Scope scope;
  auto first = TurnClock::now();
  std::this_thread::sleep_for(2ms);
  EXPECT_EQ(TurnClock::now(), first);
}

TEST(TurnClock, AScopeCanTakeATimeJustRead) {
  auto t = Clock::now() - 5ms;
  TurnClock::Scope scope(t);
  EXPECT_EQ(TurnClock::now(), t);
}

TEST(TurnClock, ANestedScopeKeepsTheOuterTimeAndTheOuterOutlivesIt) {
  auto outer = Clock::now() - 5ms;
  TurnClock::Scope a(outer);
  {
    TurnClock::Scope b;
    EXPECT_EQ(TurnClock::now(), outer);
    TurnClock::Scope c(Clock::now());
    EXPECT_EQ(TurnClock::now(), outer);
  }
  EXPECT_EQ(TurnClock::now(), outer);
}

TEST(TurnClock, ClosingTheLastScopeGoesBackToTheSteadyClock) {
  auto stale = Clock::now() - 1h;
  { TurnClock::Scope scope(stale); }
  EXPECT_GT(TurnClock::now() - stale, 59min);
}

TEST(TurnClock, EachThreadHasItsOwnScope) {
  auto t = Clock::now() - 1h;
  TurnClock::Scope scope(t);
  Clock::time_point seen;
  std::thread([&] { seen = TurnClock::now(); }).join();
  EXPECT_GT(seen - t, 59min);
  EXPECT_EQ(TurnClock::now(), t);
}

}  // namespace
}  // namespace weft
