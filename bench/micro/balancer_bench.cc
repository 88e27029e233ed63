// Balancer pick cost with N endpoints (issue target: <= 100 ns with 1 000).
#include <vector>

#include <benchmark/benchmark.h>

#include "upstream/p2c.h"
#include "upstream/peak_ewma.h"

namespace {

using namespace weft::upstream;

void BM_P2cPeakEwmaPick(benchmark::State& state) {
  size_t n = static_cast<size_t>(state.range(0));
  auto now = PeakEwma::Clock::now();
  std::vector<PeakEwma> endpoints;
  std::vector<uint32_t> weights(n, 1);
  for (size_t i = 0; i < n; ++i) {
    endpoints.emplace_back(std::chrono::milliseconds(30), std::chrono::seconds(10), now);
    endpoints.back().observe(std::chrono::microseconds(100 + i % 50), now);
  }
  FastRandom rng(12345);
  for (auto _ : state) {
    size_t i = pickTwoChoices(n, rng, [&](size_t k) { return endpoints[k].cost(now, weights[k]); });
    endpoints[i].requestStarted();
    endpoints[i].requestEnded();
    benchmark::DoNotOptimize(i);
  }
}
BENCHMARK(BM_P2cPeakEwmaPick)->Arg(2)->Arg(16)->Arg(1000);

}  // namespace
