// Fuzz target: the CLI's Prometheus text parser (src/cli/prometheus.h), which
// reads whatever a peer's GET /metrics returns. It must never crash, hang or
// throw, and the arithmetic on what it returns must stay in range.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/prometheus.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto scrape = weft::cli::Scrape::parse(text);
  for (const auto& s : scrape.samples()) {
    (void)scrape.sum(s.name, s.labels);
    (void)scrape.values(s.name, "cluster");
  }
  auto buckets = scrape.buckets("weft_request_duration_seconds");
  auto delta = weft::cli::bucketDelta(buckets, scrape.buckets("weft_endpoint_request_duration_seconds"));
  for (double q : {0.0, 0.5, 0.99, 1.0}) {
    auto v = weft::cli::histogramQuantile(delta, q);
    if (v && std::isnan(*v) && !buckets.empty()) {
      // NaN only if a bound itself was NaN, which buckets() filters out.
      __builtin_trap();
    }
  }
  return 0;
}
