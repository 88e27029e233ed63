#pragma once
// The proxy's discovery wiring (docs/discovery.md, "Wiring"): owns the xDS
// client when proxy.yaml names a controller, turns each of its updates into
// one immutable model::EndpointSnapshot and posts it to every worker, and
// gives the workers their DiscoveryLink (subscribe / touch / resubscribe).
//
// Threads: constructed, started and destroyed on the main thread. Updates
// arrive on the client's loop thread and are only posted from there; no
// worker state is touched off its thread. The destructor stops the client
// (joining its threads), so nothing is posted after it returns; destroy it
// before the workers.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/config.h"
#include "proxy/discovery_link.h"

namespace weft::proxy {

class WorkerProxy;

class ProxyDiscovery {
 public:
  // Throws ConfigError (key `controller`) when the xDS module, weft-xds.so,
  // cannot be loaded (xds/module_loader.h): not built, or not next to weft.
  explicit ProxyDiscovery(const ProxyConfig& config);
  ~ProxyDiscovery();
  ProxyDiscovery(const ProxyDiscovery&) = delete;
  ProxyDiscovery& operator=(const ProxyDiscovery&) = delete;

  // Valid from construction; workers may call it before start().
  const DiscoveryLink& link() const { return link_; }
  // Opens the stream; updates go to `workers` from now on (they outlive this).
  void start(std::vector<WorkerProxy*> workers);

  // The "discovery" object of /debug/endpoints: the controller, whether the
  // stream is up, and per cluster the version the client accepted (the
  // controller's per-cluster version exactly), its age, size and existence.
  // `only`: one cluster (empty: all). Any thread.
  std::string statusJson(std::string_view only) const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
  DiscoveryLink link_;
};

}  // namespace weft::proxy
