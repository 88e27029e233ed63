#pragma once
// The proxy's ExchangeHandler: routes one exchange to a cluster (by authority
// outbound, to the app inbound), picks an endpoint, sends it through that
// endpoint's pool, and decides retries, deadlines and error mapping in one
// place (docs/errors.md). One Forwarder per worker per direction; worker
// thread only; handle() suspends.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "http/session/exchange.h"
#include "proxy/config.h"
#include "proxy/endpoint_metrics.h"
#include "upstream/cluster.h"
#include "upstream/retry_budget.h"
#include "core/random.h"

namespace weft::proxy {

enum class Direction { kOutbound, kInbound };

class Forwarder final : public http::ExchangeHandler {
 public:
  // Outbound: one cluster per configured cluster, matched by authority.
  // Inbound: every request goes to the app address.
  Forwarder(boost::asio::any_io_executor ex, const ProxyConfig& config, Direction direction, size_t workerIndex);
  ~Forwarder() override;

  boost::asio::awaitable<void> handle(std::shared_ptr<http::Exchange> exchange) override;

  // Applies a new config's clusters (endpoints and settings). Worker thread.
  void applyConfig(const ProxyConfig& config);

  // JSON array elements for /debug/endpoints (worker thread); `only` filters by name.
  void debugJson(std::string_view only, std::vector<std::string>& out) const;

  std::string_view directionName() const { return direction_ == Direction::kOutbound ? "outbound" : "inbound"; }

 private:
  struct ClusterEntry {
    std::unique_ptr<upstream::Cluster> cluster;
    ClusterConfig config;
    Counter* requests = nullptr;
    Histogram* latency = nullptr;
    std::array<Counter*, 6> byStatusClass{};  // index status/100; 0 = no status
    upstream::RetryBudget budget;
    Counter* budgetExhausted = nullptr;
    std::unique_ptr<EndpointMetrics> byEndpoint;  // weft stat's per-endpoint series
    std::string version;                      // of the endpoint set applied
    std::chrono::steady_clock::time_point appliedAt;
  };

  // Entries are shared with the requests using them, so a config reload that
  // removes a cluster never frees it under a request in flight.
  std::shared_ptr<ClusterEntry> route(const http::RequestHead& request);
  ClusterEntry& addCluster(const ClusterConfig& c);
  boost::asio::awaitable<void> forward(ClusterEntry& entry, std::shared_ptr<http::Exchange> exchange);
  void record(ClusterEntry& entry, const http::Exchange& exchange);

  boost::asio::any_io_executor ex_;
  Direction direction_;
  size_t workerIndex_;
  std::map<std::string, std::shared_ptr<ClusterEntry>, std::less<>> clusters_;
  uint64_t generation_ = 0;  // config applications, for static clusters' version
  FastRandom rng_;  // retry backoff jitter
  size_t workers_ = 1;        // the proxy's worker count, to share the retry floor
};

}  // namespace weft::proxy
