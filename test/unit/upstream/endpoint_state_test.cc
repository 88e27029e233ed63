#include "upstream/endpoint_state.h"

#include <gtest/gtest.h>

namespace weft::upstream {
namespace {
using std::chrono::milliseconds;

class EndpointStateTest : public ::testing::Test {
 protected:
  EndpointPolicy policy;
  EndpointState::Clock::time_point t0{};
};

TEST_F(EndpointStateTest, StartsPendingAndBecomesReadyOnConnect) {
  EndpointState e("127.0.0.1:1", 1, policy, t0);
  EXPECT_EQ(e.health(), EndpointHealth::kPending);
  e.connectSucceeded();
  EXPECT_EQ(e.health(), EndpointHealth::kReady);
}

TEST_F(EndpointStateTest, ConnectFailuresBackOffExponentiallyAndResetOnSuccess) {
  EndpointState e("127.0.0.1:1", 1, policy, t0);
  // unit just below 1: the delay is (almost) the ceiling of each attempt.
  EXPECT_EQ(e.connectFailed("ECONNREFUSED", 0.9999), milliseconds(99));
  EXPECT_EQ(e.health(), EndpointHealth::kFailed);
  e.probeStarted();
  EXPECT_EQ(e.health(), EndpointHealth::kPending);
  EXPECT_EQ(e.connectFailed("ETIMEDOUT", 0.9999), milliseconds(199));
  EXPECT_EQ(e.connectFailed("ETIMEDOUT", 0.9999), milliseconds(399));
  EXPECT_EQ(e.lastError(), "ETIMEDOUT");
  e.connectSucceeded();
  EXPECT_EQ(e.connectFailed("x", 0.9999), milliseconds(99));  // schedule restarted
}

TEST_F(EndpointStateTest, AccrualEjectsAfterThresholdWithGrowingPenalty) {
  EndpointState e("127.0.0.1:1", 1, policy, t0);
  e.connectSucceeded();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(e.requestFailed("503", true, 0.0), milliseconds(0));
  auto first = e.requestFailed("503", true, 0.0);
  EXPECT_EQ(first, milliseconds(500));  // ceiling 1 s, jittered into [0.5 s, 1 s)
  EXPECT_EQ(e.health(), EndpointHealth::kFailed);
  e.probeStarted();
  e.connectSucceeded();
  for (int i = 0; i < 6; ++i) e.requestFailed("503", true, 0.0);
  EXPECT_EQ(e.requestFailed("503", true, 0.0), milliseconds(1000));  // ceiling 2 s now
}

TEST_F(EndpointStateTest, NeverEjectedWhenTheOwnerForbidsIt) {
  EndpointState e("127.0.0.1:1", 1, policy, t0);
  e.connectSucceeded();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(e.requestFailed("503", false, 0.5), milliseconds(0));
  EXPECT_EQ(e.health(), EndpointHealth::kReady);
}

TEST_F(EndpointStateTest, SuccessResetsTheConsecutiveCount) {
  EndpointState e("127.0.0.1:1", 1, policy, t0);
  e.connectSucceeded();
  for (int i = 0; i < 6; ++i) e.requestFailed("503", true, 0.0);
  e.requestSucceeded();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(e.requestFailed("503", true, 0.0), milliseconds(0));
  EXPECT_EQ(e.health(), EndpointHealth::kReady);
}

}  // namespace
}  // namespace weft::upstream
