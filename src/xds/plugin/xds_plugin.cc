// weft-xds.so's entry point (xds/xds_module.h): the table `weft` reaches the
// controller and the proxy's xDS client through.
#include "controller/controller_main.h"
#include "discovery/discovery_client.h"
#include "xds/xds_module.h"

namespace weft::xds {
namespace {

class DiscoveryClientAdapter final : public DiscoveryClientHandle {
 public:
  DiscoveryClientAdapter(discovery::DiscoveryOptions o, std::function<void(const discovery::ClusterUpdate&)> cb)
      : client_(std::move(o), std::move(cb)) {}
  void start() override { client_.start(); }
  void subscribe(const std::string& c) override { client_.subscribe(c); }
  void unsubscribe(const std::string& c) override { client_.unsubscribe(c); }
  void touch(const std::string& c) override { client_.touch(c); }
  void resubscribe(const std::string& c) override { client_.resubscribe(c); }
  std::vector<discovery::DiscoveryClient::ClusterStatus> status() const override { return client_.status(); }
  bool connected() const override { return client_.connected(); }

 private:
  discovery::DiscoveryClient client_;
};

std::unique_ptr<DiscoveryClientHandle> makeDiscoveryClient(discovery::DiscoveryOptions o,
                                                           std::function<void(const discovery::ClusterUpdate&)> cb) {
  return std::make_unique<DiscoveryClientAdapter>(std::move(o), std::move(cb));
}

const ModuleApi kApi = [] {
  ModuleApi api;
  api.runController = &controller::runController;
  api.makeDiscoveryClient = &makeDiscoveryClient;
  return api;
}();

}  // namespace
}  // namespace weft::xds

extern "C" __attribute__((visibility("default"))) const weft::xds::ModuleApi* weft_xds_module() {
  return &weft::xds::kApi;
}
