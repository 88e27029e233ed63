#pragma once
// One discovered cluster's state as the controller last sent it: the WHOLE
// endpoint set and its version (docs/discovery.md). Built once on the
// discovery thread and shared read-only with every worker through
// std::shared_ptr<const EndpointSnapshot> (DESIGN.md §3): a worker only ever
// swaps in whole snapshots, it never merges. Plain value; any thread once built.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "model/endpoint.h"

namespace weft::model {

struct EndpointSnapshot {
  enum class Origin { kController, kDns };  // kDns: the proxy's DNS fallback resolved it
  std::string name;                        // the authority, "api.test:80"
  std::string version;                     // the controller's per-cluster version, exactly
  std::vector<Endpoint> endpoints;         // the whole set (empty when !exists)
  std::optional<std::string> protocol;     // "http1" | "http2" when the controller says (CDS)
  bool exists = true;                      // false: the controller knows no such service
  std::chrono::steady_clock::time_point receivedAt;  // when the proxy accepted it (its age)
  Origin origin = Origin::kController;
};

}  // namespace weft::model
