#pragma once
// What a worker's outbound forwarder asks of the proxy's discovery client
// (docs/discovery.md, "Wiring"). The seam has two implementations: the real
// one (proxy/proxy_discovery.cc, calling discovery::DiscoveryClient) and
// the unit tests' recorder. Every function is thread-safe and never blocks on
// the network, so a worker may call it from its own thread; none is called on
// the per-request path (first use of an authority, and once per tick).
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace weft::proxy {

struct DiscoveryLink {
  using Call = std::function<void(const std::string& cluster)>;
  Call subscribe;    // first use of an authority on this worker (idempotent)
  Call touch;        // the cluster carried requests since the last tick
  Call resubscribe;  // self-heal: no endpoint ready for longer than failfast_timeout
  Call unsubscribe;  // the cluster became static in the config
  size_t maxClusters = 10000;             // discovered clusters a worker keeps at once
  std::chrono::milliseconds tick{1000};   // how often touch / self-heal run per worker
};

}  // namespace weft::proxy
