#pragma once
// One logical service as seen by one worker: its endpoints, their connection
// pools (one HTTP/1 keep-alive pool and/or one HTTP/2 pool per endpoint,
// created on first use), and the balancer that picks among them. Owned by the
// worker and touched only on its thread (DESIGN.md §3).
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "model/endpoint.h"
#include "upstream/endpoint_pool.h"
#include "upstream/weighted_round_robin.h"

namespace weft::upstream {

enum class PoolProtocol { kHttp1, kHttp2 };

class Cluster {
 public:
  Cluster(boost::asio::any_io_executor ex, std::string name, PoolOptions options);
  ~Cluster();

  // Replaces the endpoint set. Pools of endpoints that stay are kept; pools of
  // removed endpoints are drained (in-flight exchanges finish, nothing new).
  void setEndpoints(const std::vector<model::Endpoint>& endpoints);

  bool empty() const { return slots_.empty(); }
  size_t size() const { return slots_.size(); }
  const std::string& name() const { return name_; }
  const PoolOptions& options() const { return options_; }

  // Picks the next endpoint and returns its pool for `protocol`; nullptr when
  // the cluster has no endpoints. `avoid` (optional) is skipped when another
  // endpoint exists, so a retry after a connect failure tries elsewhere.
  EndpointPool* pick(PoolProtocol protocol, const EndpointPool* avoid = nullptr);

 private:
  struct Slot {
    model::Endpoint spec;
    boost::asio::ip::tcp::endpoint address;
    std::unique_ptr<EndpointPool> http1;
    std::unique_ptr<EndpointPool> http2;
  };
  EndpointPool& poolFor(Slot& slot, PoolProtocol protocol);

  boost::asio::any_io_executor ex_;
  std::string name_;
  PoolOptions options_;
  std::vector<std::unique_ptr<Slot>> slots_;
  // Pools of removed endpoints, kept alive until their in-flight work ends.
  std::vector<std::unique_ptr<EndpointPool>> draining_;
  WeightedRoundRobin balancer_;
};

}  // namespace weft::upstream
