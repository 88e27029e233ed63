#pragma once
// Per-endpoint golden metrics for `weft stat` (docs/operations.md): requests
// by outcome and a latency histogram, labelled with the endpoint address.
//
// Cardinality is bounded: the endpoint label appears on these two series
// only, and one EndpointMetrics (one per cluster per worker) creates cells for
// at most kMaxEndpoints distinct addresses over its life; later addresses
// share endpoint="other". Registry cells are never freed (core/metrics.h), so
// without the cap endpoint churn would grow the process without bound.
// Requests that reached no endpoint (fail-fast, no endpoints) count under
// endpoint="none", so the sum over endpoints is every request of the cluster.
//
// Worker thread only. record() is a hash lookup of the address and two
// relaxed counter updates; a cell set is created (with a registry lock) only
// the first time this worker sends to an address.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/metrics.h"

namespace weft::proxy {

class EndpointMetrics {
 public:
  static constexpr size_t kMaxEndpoints = 256;

  EndpointMetrics(std::string_view direction, std::string_view cluster);

  // `endpoint` empty: the request reached none.
  void record(std::string_view endpoint, bool success, uint64_t latencyMicros);

 private:
  struct Cells {
    Counter* success = nullptr;
    Counter* failure = nullptr;
    Histogram* latency = nullptr;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  Cells& cellsFor(std::string_view endpoint);
  Cells make(std::string_view endpoint);

  std::string base_;  // rendered direction + cluster labels
  std::unordered_map<std::string, Cells, Hash, std::equal_to<>> cells_;
  Cells other_;
};

}  // namespace weft::proxy
