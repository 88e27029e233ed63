// What tapping costs per request (docs/benchmarks.md, "Tap overhead"): the
// worker's side (the check when nobody taps; building and pushing a record
// when someone does) and the admin thread's side (drain, filter, format one
// NDJSON line).
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>

#include "http/session/exchange.h"
#include "proxy/tap.h"
#include "proxy/tap_route.h"

namespace {

using weft::proxy::Tap;

std::shared_ptr<weft::http::Exchange> sampleExchange(boost::asio::io_context& ctx) {
  auto ex = std::make_shared<weft::http::Exchange>(ctx.get_executor());
  ex->request.method = "GET";
  ex->request.authority = "api.default.svc.cluster.local:8080";
  ex->request.path = "/v1/users/12345?fields=name,email";
  ex->request.headers.add("user-agent", "bench");
  ex->endpoint = "10.0.12.34:8080";
  ex->response.status = 200;
  ex->responseStarted();
  ex->responseBody.finish();
  return ex;
}

// An installed tap with one client attached, and a typical finished exchange.
struct Tapped {
  boost::asio::io_context ctx;
  std::shared_ptr<weft::http::Exchange> ex = sampleExchange(ctx);
  Tap tap{1, 4096};
  Tapped() {
    tap.install();
    tap.attach();
  }
  ~Tapped() {
    tap.detach();
    tap.uninstall();
  }
};

void BM_TapNobodyTapping(benchmark::State& state) {
  for (auto _ : state) {
    bool active = Tap::anyClient();
    benchmark::DoNotOptimize(active);
  }
}
BENCHMARK(BM_TapNobodyTapping);

void BM_TapRecordAndPush(benchmark::State& state) {
  Tapped t;
  std::vector<weft::proxy::TapRecord> sink;
  sink.reserve(4096);
  size_t n = 0;
  for (auto _ : state) {
    if (Tap::anyClient()) Tap::record(*t.ex, false, 0);
    if (++n % 2048 == 0) {
      state.PauseTiming();
      sink.clear();
      t.tap.drain(sink);
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_TapRecordAndPush);

void BM_TapDrainFilterFormat(benchmark::State& state) {
  Tapped t;
  std::string err;
  auto filter = *weft::proxy::parseTapFilter("", err);
  std::vector<weft::proxy::TapRecord> batch;
  std::string out;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < 1000; ++i) Tap::record(*t.ex, false, 0);
    batch.clear();
    out.clear();
    state.ResumeTiming();
    t.tap.drain(batch);
    for (auto& r : batch)
      if (filter.matches(r)) weft::proxy::appendTapJson(r, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_TapDrainFilterFormat);

}  // namespace
