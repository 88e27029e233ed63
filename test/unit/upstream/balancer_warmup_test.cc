// New endpoints next to measured peers (peak_ewma.h, Balancer::peerEstimateNanos):
// a simulated request stream with an injected clock — one request every
// 0.5 ms, each completing after its endpoint's latency — drives the real
// balancer and peak-EWMA, so shares over simulated seconds run in milliseconds.
#include <memory>
#include <queue>
#include <random>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "upstream/balancer.h"

namespace weft::upstream {
namespace {

using namespace std::chrono;
using Clock = EndpointState::Clock;

class WarmupSim {
 public:
  WarmupSim() : balancer_(ctx_.get_executor(), BalancerOptions{}, 7) {}

  // Adds endpoints the way Cluster::setEndpoints does: seeded from the
  // current ready peers when `seed` (the fix), else at the default RTT.
  void add(size_t n, uint32_t weight, nanoseconds latency, bool seed = true) {
    auto peer = balancer_.peerEstimateNanos(now_);
    for (size_t i = 0; i < n; ++i) {
      states_.push_back(std::make_unique<EndpointState>("127.0.0.1:" + std::to_string(9000 + states_.size()),
                                                        weight, policy_, now_));
      if (seed && peer) states_.back()->load().seed(*peer, now_);
      latency_.push_back(latency);
    }
    std::vector<EndpointState*> ptrs;
    for (auto& s : states_) ptrs.push_back(s.get());
    balancer_.setEndpoints(ptrs);
    for (auto& s : states_)
      if (s->health() != EndpointHealth::kReady) s->connectSucceeded();
    balancer_.healthChanged();
  }

  // Runs `duration` of traffic; returns picks per endpoint.
  std::vector<int> run(nanoseconds duration) {
    std::vector<int> counts(states_.size());
    auto end = now_ + duration;
    for (; now_ < end; now_ += kInterval) {
      complete(now_);
      auto p = balancer_.pickReadyAt(now_);
      counts[p.index]++;
      states_[p.index]->load().requestStarted(now_);
      // Jitter of ±20 % around the endpoint's latency: alike endpoints are
      // never identical, as on a real host.
      double factor = std::uniform_real_distribution<double>(0.8, 1.2)(rng_);
      auto rtt = nanoseconds(static_cast<int64_t>(static_cast<double>(latency_[p.index].count()) * factor));
      inFlight_.push(InFlight{now_ + rtt, p.index, rtt});
    }
    return counts;
  }

  EndpointState& state(size_t i) { return *states_[i]; }
  Balancer& balancer() { return balancer_; }
  Clock::time_point now() const { return now_; }

  static constexpr nanoseconds kInterval = microseconds(500);

 private:
  struct InFlight {
    Clock::time_point done;
    size_t index;
    nanoseconds rtt;
    bool operator>(const InFlight& o) const { return done > o.done; }
  };
  void complete(Clock::time_point upTo) {
    while (!inFlight_.empty() && inFlight_.top().done <= upTo) {
      auto r = inFlight_.top();
      inFlight_.pop();
      states_[r.index]->load().requestEnded(r.done);
      states_[r.index]->load().observe(r.rtt, r.done);
    }
  }

  boost::asio::io_context ctx_;
  EndpointPolicy policy_;  // default RTT 30 ms, decay 10 s
  Balancer balancer_;
  std::vector<std::unique_ptr<EndpointState>> states_;
  std::vector<nanoseconds> latency_;
  std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> inFlight_;
  std::mt19937_64 rng_{42};
  Clock::time_point now_ = Clock::time_point{} + hours(1);
};

// Share of endpoints [from, to) per one-second window over `seconds`.
std::vector<double> canaryShares(WarmupSim& sim, size_t from, size_t to, int seconds) {
  std::vector<double> shares;
  for (int s = 0; s < seconds; ++s) {
    auto c = sim.run(std::chrono::seconds(1));
    int total = 0, canary = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      total += c[i];
      if (i >= from && i < to) canary += c[i];
    }
    shares.push_back(static_cast<double>(canary) / total);
  }
  return shares;
}

// `stable` endpoints of `stableWeight` serve for a simulated minute (their
// estimates converge from the 30 ms default to ~1 ms), then `canaries` alike
// endpoints of `canaryWeight` are added; returns the canaries' share in each
// of the following `seconds`.
std::vector<double> canaryRollout(size_t stable, uint32_t stableWeight, size_t canaries, uint32_t canaryWeight,
                                  int seconds, bool seed = true) {
  WarmupSim sim;
  sim.add(stable, stableWeight, microseconds(1000));
  sim.run(std::chrono::seconds(60));
  sim.add(canaries, canaryWeight, microseconds(1000), seed);
  return canaryShares(sim, stable, stable + canaries, seconds);
}

void expectSharesNear(const std::vector<double>& shares, double target, double tolerance) {
  for (size_t s = 0; s < shares.size(); ++s) EXPECT_NEAR(shares[s], target, tolerance) << "second " << s;
}

TEST(BalancerWarmup, NewEndpointsNextToMeasuredOnesGetTheirWeightFromTheStart) {
  expectSharesNear(canaryRollout(2, 1, 2, 1, 10), 0.5, 0.1);  // a 50/50 canary
}

TEST(BalancerWarmup, WithoutTheSeedNewEndpointsAreStarved) {
  // The defect this guards against (and proof the test above can fail):
  // starting at the 30 ms default among ~1 ms peers.
  EXPECT_LT(canaryRollout(2, 1, 2, 1, 1, /*seed=*/false)[0], 0.3);
}

TEST(BalancerWarmup, WeightsOtherThanEvenAreFollowedFromTheStart) {
  expectSharesNear(canaryRollout(3, 3, 1, 1, 5), 0.1, 0.05);  // a 10 % canary: 1 of 10 units
}

TEST(BalancerWarmup, ASlowNewcomerStillLosesTrafficAtOnce) {
  WarmupSim sim;
  sim.add(2, 1, microseconds(1000));
  sim.run(seconds(60));
  sim.add(1, 1, milliseconds(20));  // seeded at ~1 ms, really 20 ms
  EXPECT_LT(sim.state(2).load().estimateNanos(sim.now()), 5e6);
  // Until its first response it is only held back by its in-flight count.
  auto first = sim.run(milliseconds(25));
  EXPECT_GE(sim.state(2).load().estimateNanos(sim.now()), 16e6);  // the first slow sample replaced the seed
  int firstTotal = first[0] + first[1] + first[2];
  EXPECT_LT(first[2], firstTotal / 3);
  // From then on it wins only when every draw lands on it ((1/3)^4).
  auto after = sim.run(seconds(2));
  int total = after[0] + after[1] + after[2];
  EXPECT_LT(after[2], total * 5 / 100);
}

TEST(BalancerWarmup, AClusterWithoutMeasurementsUsesTheDefault) {
  WarmupSim sim;
  EXPECT_FALSE(sim.balancer().peerEstimateNanos(sim.now()).has_value());  // empty
  sim.add(2, 1, microseconds(1000));
  // Ready but never measured: still nothing to learn from.
  EXPECT_FALSE(sim.balancer().peerEstimateNanos(sim.now()).has_value());
  sim.add(1, 1, microseconds(1000));
  for (size_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(sim.state(i).load().estimateNanos(sim.now()), 30e6);
  EXPECT_FALSE(sim.state(2).load().measured());
}

TEST(BalancerWarmup, PeerEstimateIsTheMedianOfMeasuredReadyEndpoints) {
  boost::asio::io_context ctx;
  EndpointPolicy policy;
  Balancer b(ctx.get_executor(), BalancerOptions{}, 1);
  auto t = Clock::time_point{} + hours(1);
  std::vector<std::unique_ptr<EndpointState>> st;
  for (int i = 0; i < 5; ++i) st.push_back(std::make_unique<EndpointState>("e" + std::to_string(i), 1, policy, t));
  std::vector<EndpointState*> ptrs;
  for (auto& s : st) ptrs.push_back(s.get());
  b.setEndpoints(ptrs);
  for (int i = 0; i < 4; ++i) st[i]->connectSucceeded();  // st[4] stays pending
  b.healthChanged();
  t += seconds(1000);  // far beyond the decay: a faster sample replaces the 30 ms default
  st[0]->load().observe(milliseconds(1), t);
  st[1]->load().observe(milliseconds(2), t);
  st[2]->load().observe(milliseconds(80), t);  // one spiking peer must not set the seed
  st[4]->load().observe(milliseconds(500), t); // not ready: ignored
  // st[3] ready but unmeasured: ignored (its 30 ms is the default, not a measurement).
  EXPECT_DOUBLE_EQ(*b.peerEstimateNanos(t), 2e6);
  st[3]->load().observe(milliseconds(4), t);
  EXPECT_DOUBLE_EQ(*b.peerEstimateNanos(t), 3e6);  // even count: mean of the middle two

  // A seed never overrides an endpoint's own measurement.
  st[0]->load().seed(9e6, t);
  EXPECT_DOUBLE_EQ(st[0]->load().estimateNanos(t), 1e6);
}

}  // namespace
}  // namespace weft::upstream
