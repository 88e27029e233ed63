#pragma once
// The boundary between `weft` and its xDS module, weft-xds.so (the proxy's xDS
// client and the whole controller: everything that needs gRPC, protobuf and
// OpenSSL). The module is loaded (module_loader.h) only by `weft controller`
// and by a `weft proxy` whose config names a `controller:`; a static-config
// proxy and the CLI never map gRPC, which is most of an idle proxy's RSS
// (docs/benchmarks.md, "Idle memory").
//
// Both sides are built from the same tree in one build; kAbi (plus the sizes
// of the structs that cross) catches a module from another build. Calls cross
// only through this table and DiscoveryClientHandle's virtual functions, so
// `weft` itself has no link-time reference to anything in the module. The
// module in turn uses weft's own libraries (core, net, model, admin) from the
// executable, which exports its symbols (ENABLE_EXPORTS): one copy of the
// metrics registry and the logger for both.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "discovery/discovery_client.h"

namespace weft::xds {

// What the proxy holds of an xDS client (discovery::DiscoveryClient's public
// API, made virtual so it is reached without linking the module).
class DiscoveryClientHandle {
 public:
  virtual ~DiscoveryClientHandle() = default;
  virtual void start() = 0;
  virtual void subscribe(const std::string& cluster) = 0;
  virtual void unsubscribe(const std::string& cluster) = 0;
  virtual void touch(const std::string& cluster) = 0;
  virtual void resubscribe(const std::string& cluster) = 0;
  virtual std::vector<discovery::DiscoveryClient::ClusterStatus> status() const = 0;
  virtual bool connected() const = 0;
};

struct ModuleApi {
  // Bump when anything in this file changes shape.
  static constexpr uint32_t kAbi = 1;
  uint32_t abi = kAbi;
  uint32_t optionsSize = sizeof(discovery::DiscoveryOptions);
  uint32_t updateSize = sizeof(discovery::ClusterUpdate);

  // `weft controller --config FILE` (controller/controller_main.h).
  int (*runController)(const std::string& configPath) = nullptr;
  std::unique_ptr<DiscoveryClientHandle> (*makeDiscoveryClient)(
      discovery::DiscoveryOptions options, std::function<void(const discovery::ClusterUpdate&)> onUpdate) = nullptr;
};

// The module's one exported symbol (C linkage, so dlsym finds it by name).
inline constexpr const char* kEntryPoint = "weft_xds_module";
using EntryPoint = const ModuleApi* (*)();

}  // namespace weft::xds
