#include "upstream/balancer.h"

#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

namespace weft::upstream {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

class BalancerTest : public ::testing::Test {
 protected:
  void make(size_t n) {
    for (size_t i = 0; i < n; ++i)
      states.push_back(std::make_unique<EndpointState>("127.0.0.1:" + std::to_string(9000 + i), 1, policy,
                                                       EndpointState::Clock::now()));
    std::vector<EndpointState*> ptrs;
    for (auto& s : states) ptrs.push_back(s.get());
    balancer.setEndpoints(ptrs);
  }
  Pick pickNow(const EndpointState* avoid = nullptr) {
    Pick out{ProxyError::kConnectFailed, 999};
    asio::co_spawn(ctx, [&]() -> asio::awaitable<void> { out = co_await balancer.pick(avoid); }, asio::detached);
    ctx.run();
    ctx.restart();
    return out;
  }

  asio::io_context ctx;
  EndpointPolicy policy;
  Balancer balancer{ctx.get_executor(), BalancerOptions{milliseconds(100), 2}, 1};
  std::vector<std::unique_ptr<EndpointState>> states;
};

TEST_F(BalancerTest, NoEndpointsIsItsOwnError) {
  EXPECT_EQ(pickNow().error, ProxyError::kNoEndpoints);
}

TEST_F(BalancerTest, PicksOnlyReadyEndpoints) {
  make(3);
  states[1]->connectSucceeded();
  balancer.healthChanged();
  for (int i = 0; i < 20; ++i) {
    auto p = pickNow();
    ASSERT_EQ(p.error, ProxyError::kNone);
    EXPECT_EQ(p.index, 1u);
  }
}

TEST_F(BalancerTest, AvoidsTheGivenEndpointWhenAnotherIsReady) {
  make(2);
  states[0]->connectSucceeded();
  states[1]->connectSucceeded();
  balancer.healthChanged();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(pickNow(states[0].get()).index, 1u);
}

TEST_F(BalancerTest, PrefersTheLessLoadedEndpoint) {
  make(2);
  states[0]->connectSucceeded();
  states[1]->connectSucceeded();
  balancer.healthChanged();
  auto now = EndpointState::Clock::now();
  for (int i = 0; i < 5; ++i) states[0]->load().requestStarted(now);  // 5 in flight on endpoint 0
  // Endpoint 0 is picked only when every draw (first sample and up to three
  // redraws of the second) lands on it: (1/2)^4.
  int busy = 0;
  for (int i = 0; i < 4000; ++i) busy += pickNow().index == 0;
  EXPECT_NEAR(busy, 250, 80);
}

TEST_F(BalancerTest, EqualCostsShareTrafficByWeight) {
  make(3);
  states[0]->setWeight(1);
  states[1]->setWeight(3);
  states[2]->setWeight(6);
  for (auto& s : states) s->connectSucceeded();
  balancer.healthChanged();
  std::vector<int> counts(3);
  for (int i = 0; i < 20000; ++i) counts[pickNow().index]++;
  EXPECT_NEAR(counts[0], 2000, 300);
  EXPECT_NEAR(counts[1], 6000, 400);
  EXPECT_NEAR(counts[2], 12000, 400);
}

TEST_F(BalancerTest, SlowEndpointLosesEveryComparison) {
  make(4);
  auto now = EndpointState::Clock::now();
  for (auto& s : states) s->connectSucceeded();
  for (int i = 0; i < 3; ++i) states[i]->load().observe(std::chrono::milliseconds(5), now);
  states[3]->load().observe(std::chrono::milliseconds(50), now);
  balancer.healthChanged();
  int slow = 0;
  for (int i = 0; i < 20000; ++i) slow += pickNow().index == 3;
  // Only when every sample is the slow one: (1/4)^4 with the redraws.
  EXPECT_LT(slow, 20000 / 100);
}

TEST_F(BalancerTest, WaitsForTheFirstReadyEndpoint) {
  make(2);
  Pick out{ProxyError::kConnectFailed, 999};
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> { out = co_await balancer.pick(); }, asio::detached);
  asio::steady_timer t(ctx, milliseconds(20));
  t.async_wait([&](auto) {
    states[1]->connectSucceeded();
    balancer.healthChanged();
  });
  ctx.run();
  EXPECT_EQ(out.error, ProxyError::kNone);
  EXPECT_EQ(out.index, 1u);
}

TEST_F(BalancerTest, FailsFastAfterTheTimeoutAndLeavesFailFastOnFirstReady) {
  make(1);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(pickNow().error, ProxyError::kFailFast);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, milliseconds(100));
  EXPECT_LT(waited, milliseconds(2000));  // generous: only bounds a hang
  EXPECT_TRUE(balancer.failingFast());
  // In fail-fast, requests fail without waiting.
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(pickNow().error, ProxyError::kFailFast);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(50));
  states[0]->connectSucceeded();
  balancer.healthChanged();
  EXPECT_FALSE(balancer.failingFast());
  EXPECT_EQ(pickNow().error, ProxyError::kNone);
}

TEST_F(BalancerTest, ShedsLoadWhenTheQueueIsFull) {
  make(1);  // queue capacity 2, nothing ready
  std::vector<Pick> outs(3);
  for (int i = 0; i < 3; ++i)
    asio::co_spawn(ctx, [&, i]() -> asio::awaitable<void> { outs[i] = co_await balancer.pick(); }, asio::detached);
  ctx.run();
  EXPECT_EQ(outs[0].error, ProxyError::kFailFast);
  EXPECT_EQ(outs[1].error, ProxyError::kFailFast);
  EXPECT_EQ(outs[2].error, ProxyError::kLoadShed);
}

}  // namespace
}  // namespace weft::upstream
