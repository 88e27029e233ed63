#include "proxy/proxy_discovery.h"

#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/logging.h"
#include "proxy/dns_fallback.h"
#include "proxy/worker_proxy.h"
#include "xds/module_loader.h"

namespace weft::proxy {

namespace {
// The xDS client lives in weft-xds.so (xds/xds_module.h): loaded here, on the
// first proxy config that names a controller.
const xds::ModuleApi& xdsModule(const ProxyConfig& config) {
  try {
    return xds::loadModule();
  } catch (const xds::ModuleUnavailable& e) {
    throw ConfigError(config.sourceFile, "controller", e.what());
  }
}
}  // namespace

class ProxyDiscovery::Impl {
 public:
  explicit Impl(const ProxyConfig& config) : controller_(*config.controller) {
    discovery::DiscoveryOptions o;
    o.controller = controller_;
    o.nodeId = config.discovery.nodeId.empty() ? "weft-proxy-" + std::to_string(::getpid()) : config.discovery.nodeId;
    o.reconnectBase = config.discovery.reconnectBase;
    o.reconnectMax = config.discovery.reconnectMax;
    o.connectTimeout = config.discovery.connectTimeout;
    o.unusedTimeout = config.discovery.unusedTimeout;
    nodeId_ = o.nodeId;
    if (config.discovery.dnsFallback)
      dns_ = std::make_unique<DnsFallback>(
          config.discovery.dnsRefresh, [this](std::shared_ptr<const model::EndpointSnapshot> s) { post(s); },
          [this](const std::string& name) {
            for (auto* w : workers_) w->forgetDiscovered(name);
          });
    client_ = xdsModule(config).makeDiscoveryClient(std::move(o),
                                                    [this](const discovery::ClusterUpdate& u) { onUpdate(u); });
  }

  void start(std::vector<WorkerProxy*> workers) {
    workers_ = std::move(workers);  // before the client's thread exists: no race
    client_->start();
    WEFT_LOG_INFO("discovery: controller {} (node {})", controller_, nodeId_);
  }

  // The client first: its callback feeds the DNS fallback.
  void stop() {
    client_.reset();
    dns_.reset();
  }

  xds::DiscoveryClientHandle& client() { return *client_; }

  std::string statusJson(std::string_view only) const {
    namespace json = boost::json;
    json::object o;
    o["controller"] = controller_;
    o["node_id"] = nodeId_;
    o["connected"] = client_->connected();
    json::array clusters;
    auto now = std::chrono::steady_clock::now();
    for (const auto& s : client_->status()) {
      if (!only.empty() && s.name != only) continue;
      json::object c;
      c["name"] = s.name;
      c["version"] = s.version;
      c["age_seconds"] = s.version.empty() ? -1.0 : std::chrono::duration<double>(now - s.appliedAt).count();
      c["endpoints"] = s.endpoints;
      c["exists"] = s.exists;
      clusters.push_back(std::move(c));
    }
    o["clusters"] = std::move(clusters);
    return json::serialize(o);
  }

 private:
  // The client's loop thread: build once, post to every worker, return.
  void onUpdate(const discovery::ClusterUpdate& u) {
    if (u.unsubscribed) {
      if (dns_) {
        dns_->unsubscribed(u.name);
        return;
      }
      for (auto* w : workers_) w->forgetDiscovered(u.name);
      return;
    }
    auto s = std::make_shared<model::EndpointSnapshot>();
    s->name = u.name;
    s->version = u.version;
    s->endpoints = u.exists ? u.endpoints : std::vector<model::Endpoint>{};
    s->protocol = u.protocol;
    s->exists = u.exists;
    s->receivedAt = std::chrono::steady_clock::now();
    if (dns_)
      dns_->controllerUpdate(std::move(s));  // in order with DNS answers, on its thread
    else
      post(std::move(s));
  }

  void post(std::shared_ptr<const model::EndpointSnapshot> snapshot) {
    for (auto* w : workers_) w->applyDiscovered(snapshot);
  }

  std::string controller_, nodeId_;
  std::vector<WorkerProxy*> workers_;
  std::unique_ptr<DnsFallback> dns_;  // before the client: destroyed after it
  std::unique_ptr<xds::DiscoveryClientHandle> client_;
};

ProxyDiscovery::ProxyDiscovery(const ProxyConfig& config) : impl_(std::make_unique<Impl>(config)) {
  auto& client = impl_->client();
  link_.subscribe = [&client](const std::string& c) { client.subscribe(c); };
  link_.touch = [&client](const std::string& c) { client.touch(c); };
  link_.resubscribe = [&client](const std::string& c) { client.resubscribe(c); };
  link_.unsubscribe = [&client](const std::string& c) { client.unsubscribe(c); };
  link_.maxClusters = config.discovery.maxClusters;
  // Use is reported several times per unused timeout, at most once a second.
  link_.tick = std::clamp(config.discovery.unusedTimeout / 4, std::chrono::milliseconds(50),
                          std::chrono::milliseconds(1000));
}

ProxyDiscovery::~ProxyDiscovery() { impl_->stop(); }

void ProxyDiscovery::start(std::vector<WorkerProxy*> workers) { impl_->start(std::move(workers)); }

std::string ProxyDiscovery::statusJson(std::string_view only) const { return impl_->statusJson(only); }


}  // namespace weft::proxy
