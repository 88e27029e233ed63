// Balancer pick cost with N ready endpoints (issue target: <= 100 ns with
// 1 000): weighted sampling of two candidates (Vose alias table) and the
// peak-EWMA cost comparison, plus the load bookkeeping of one request
// (started, ended), as every request does it.
#include <memory>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

#include "upstream/balancer.h"

namespace {

using namespace weft::upstream;

void BM_BalancerPickReady(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  boost::asio::io_context ctx;
  EndpointPolicy policy;
  auto now = EndpointState::Clock::now();
  std::vector<std::unique_ptr<EndpointState>> endpoints;
  std::vector<EndpointState*> ptrs;
  for (size_t i = 0; i < n; ++i) {
    endpoints.push_back(std::make_unique<EndpointState>("10.0.0.1:" + std::to_string(i), 1 + i % 4, policy, now));
    endpoints.back()->connectSucceeded();
    endpoints.back()->load().observe(std::chrono::microseconds(100 + i % 50), now);
    ptrs.push_back(endpoints.back().get());
  }
  Balancer balancer(ctx.get_executor(), BalancerOptions{}, 12345);
  balancer.setEndpoints(ptrs);
  // The clock is advanced by hand: a steady_clock read costs 20-90 ns
  // depending on the machine (86 ns on the benchmark host's TSC), as much as
  // the pick itself, and the forwarder reads it once per request anyway.
  auto t = now;
  for (auto _ : state) {
    t += std::chrono::microseconds(1);
    auto pick = balancer.pickReadyAt(t);
    EndpointState& e = *ptrs[pick.index];
    e.load().requestStarted(t);
    e.load().requestEnded(t);
    benchmark::DoNotOptimize(pick.index);
  }
}
BENCHMARK(BM_BalancerPickReady)->Arg(2)->Arg(16)->Arg(1000);

}  // namespace
