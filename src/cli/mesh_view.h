#pragma once
// What the controller serves and what proxies have applied, read from their
// GET /debug/endpoints (docs/architecture.md §9, docs/controller.md), and the
// comparison that `weft endpoints` and `weft check` share. Main thread; blocks
// on the admin client (bounded by its deadlines).
#include <optional>
#include <string>
#include <vector>

#include "cli/admin_client.h"

namespace weft::cli {

struct EndpointView {
  std::string address;
  std::string state;     // proxy: pending | ready | failed | draining; controller: empty
  double weight = 1;
  double ewmaMs = 0;
  double inFlight = 0;
  double consecutiveFailures = 0;
  std::string lastError;
};

struct ClusterView {
  std::string name;
  std::string version;
  std::string direction;  // proxy only
  int worker = -1;        // proxy only
  double ageSeconds = -1; // proxy only
  std::vector<EndpointView> endpoints;
  // A proxy's static cluster (from its config file, version "config-N"):
  // not discovered, so never compared with the controller.
  bool isStatic() const { return version.rfind("config-", 0) == 0; }
};

struct EndpointsDoc {
  bool ok = false;
  bool unknownCluster = false;  // 404 for ?cluster=X
  std::string error;            // when !ok and !unknownCluster
  std::vector<ClusterView> clusters;
};

// GET /debug/endpoints[?cluster=NAME] from a proxy or a controller.
EndpointsDoc fetchEndpoints(const AdminClient& client, const std::string& cluster = {});

// How one proxy cluster entry (one worker's view) compares with the controller.
struct Divergence {
  bool diverged = false;
  bool versionDiffers = false;
  std::vector<std::string> missing;  // served by the controller, absent at the proxy
  std::vector<std::string> extra;    // at the proxy, not served (draining ones excluded)
  std::string summary() const;       // "version a != b; missing x; extra y", empty when in sync
};
Divergence compare(const ClusterView& controller, const ClusterView& proxy);

// A missing port means 80; the host part lowercased (as the proxy routes).
std::string normalizeAuthorityArg(std::string authority);

}  // namespace weft::cli
