// Weights at equal latency (issue 3: "weights honoured within 5 %"), on the
// real Balancer and PeakEwma with an injected clock: `clients` closed-loop
// clients, each sending its next request as soon as the last one answers;
// every endpoint answers in 10 ms ± a little jitter. Shares must follow the
// weights at every concurrency, in particular at the few requests in flight
// per worker that a real proxy mostly sees, where the bare in-flight count
// (small integers) drew ~31 % of the traffic to a weight-1 endpoint next to
// a weight-3 one (peak_ewma.h explains the mechanism).
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

struct ClosedLoopResult {
  std::vector<double> shares;
  int requests = 0;
};

ClosedLoopResult runClosedLoop(const std::vector<uint32_t>& weights, int clients, nanoseconds jitterMean,
                               uint64_t seed, seconds duration = seconds(30)) {
  boost::asio::io_context ctx;
  EndpointPolicy policy;
  Balancer balancer(ctx.get_executor(), BalancerOptions{}, seed);
  auto now = Clock::time_point{} + hours(1);
  std::vector<std::unique_ptr<EndpointState>> states;
  std::vector<EndpointState*> ptrs;
  for (size_t i = 0; i < weights.size(); ++i) {
    states.push_back(std::make_unique<EndpointState>("127.0.0.1:" + std::to_string(9000 + i), weights[i], policy, now));
    states.back()->connectSucceeded();
    ptrs.push_back(states.back().get());
  }
  balancer.setEndpoints(ptrs);

  struct Response {
    Clock::time_point at;
    size_t endpoint;
    nanoseconds rtt;
    bool operator>(const Response& o) const { return at > o.at; }
  };
  std::priority_queue<Response, std::vector<Response>, std::greater<>> pending;
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> jitter(1.0 / static_cast<double>(jitterMean.count()));
  auto send = [&](Clock::time_point at) {
    auto pick = balancer.pickReadyAt(at);
    states[pick.index]->load().requestStarted(at);
    auto rtt = milliseconds(10) + nanoseconds(static_cast<int64_t>(jitter(rng)));
    pending.push(Response{at + rtt, pick.index, rtt});
  };
  // Clients start spread over the first 10 ms, as connections do.
  for (int c = 0; c < clients; ++c) send(now + microseconds(10000 * c / clients));

  const auto measureFrom = now + seconds(2);  // the 30 ms default RTT has given way to samples by then
  const auto end = now + duration;
  std::vector<int> counts(weights.size());
  ClosedLoopResult out;
  while (!pending.empty() && pending.top().at < end) {
    auto r = pending.top();
    pending.pop();
    states[r.endpoint]->load().requestEnded(r.at);
    states[r.endpoint]->load().observe(r.rtt, r.at);
    if (r.at >= measureFrom) {
      counts[r.endpoint]++;
      out.requests++;
    }
    send(r.at);
  }
  for (int c : counts) out.shares.push_back(static_cast<double>(c) / out.requests);
  return out;
}

void expectWeightShares(const std::vector<uint32_t>& weights, int clients, nanoseconds jitterMean) {
  double total = 0;
  for (auto w : weights) total += w;
  for (uint64_t seed : {1, 2, 3}) {
    auto r = runClosedLoop(weights, clients, jitterMean, seed);
    ASSERT_GT(r.requests, clients * 2000);  // ~2 600 per client over the measured 28 s
    for (size_t i = 0; i < weights.size(); ++i)
      EXPECT_NEAR(r.shares[i], weights[i] / total, 0.03)
          << "endpoint " << i << " (weight " << weights[i] << "), " << clients << " clients, jitter "
          << jitterMean.count() / 1000 << " us, seed " << seed;
  }
}

TEST(BalancerWeights, OneToThreeAtFewRequestsInFlight) {
  for (int clients : {2, 4, 8}) expectWeightShares({1, 3}, clients, microseconds(500));
}

TEST(BalancerWeights, OneToThreeUnderHeavierLoad) {
  for (int clients : {16, 32}) expectWeightShares({1, 3}, clients, microseconds(500));
}

TEST(BalancerWeights, FourWeightsAtFewRequestsInFlight) {
  for (int clients : {2, 4, 8}) expectWeightShares({1, 2, 3, 4}, clients, microseconds(500));
}

TEST(BalancerWeights, FourWeightsUnderHeavierLoad) {
  for (int clients : {16, 32}) expectWeightShares({1, 2, 3, 4}, clients, microseconds(500));
}

TEST(BalancerWeights, WiderJitterKeepsTheShares) {
  // A 3 ms mean tail: the busier endpoint sees more slow samples (peak), a
  // bias the switch band absorbs.
  expectWeightShares({1, 3}, 8, milliseconds(3));
  expectWeightShares({1, 2, 3, 4}, 8, milliseconds(3));
}

}  // namespace
}  // namespace weft::upstream
