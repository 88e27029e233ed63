#include "controller/controller_main.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include "admin/admin_server.h"
#include "controller/ads_server.h"
#include "controller/config.h"
#include "controller/etcd_source.h"
#include "controller/file_source.h"
#include "controller/kubernetes_source.h"
#include "controller/state_store.h"
#include "core/allocator.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "net/address.h"

namespace weft::controller {
namespace {

namespace asio = boost::asio;

constexpr auto kPollInterval = std::chrono::milliseconds(200);

// GET /debug/endpoints on the controller: what it serves, per cluster.
std::string endpointsJson(const Snapshot& snap, std::string_view only) {
  boost::json::array clusters;
  for (const auto& [name, c] : snap.clusters) {
    if (!only.empty() && name != only) continue;
    boost::json::array eps;
    for (const auto& e : c->endpoints) eps.push_back({{"address", e.address}, {"weight", e.weight}});
    boost::json::object o{{"name", name},
                          {"version", c->version},
                          {"generation", c->generation},
                          {"kind", c->isSplit ? "split" : "service"},
                          {"endpoints", std::move(eps)}};
    if (c->protocol != Protocol::kUnspecified) o["protocol"] = protocolName(c->protocol);
    clusters.push_back(std::move(o));
  }
  if (!only.empty() && clusters.empty()) return "";
  return boost::json::serialize(boost::json::object{{"generation", snap.generation}, {"clusters", std::move(clusters)}});
}

// Per-cluster gauges; a cluster that disappears is set to -1 endpoints so a
// scrape tells "gone" from "empty".
class ClusterMetrics {
 public:
  void update(const Snapshot& snap) {
    for (const auto& [name, c] : snap.clusters) {
      auto& m = cells(name);
      m.generation->set(static_cast<int64_t>(c->generation));
      m.endpoints->set(static_cast<int64_t>(c->endpoints.size()));
    }
    for (auto& [name, m] : cells_) {
      if (!snap.find(name)) m.endpoints->set(-1);
    }
  }

 private:
  struct Cells {
    Gauge* generation;
    Gauge* endpoints;
  };
  Cells& cells(const std::string& name) {
    auto it = cells_.find(name);
    if (it != cells_.end()) return it->second;
    auto l = labelPair("cluster", name);
    auto& reg = MetricsRegistry::global();
    return cells_[name] = {&reg.gauge("weft_controller_cluster_generation",
                                      "Snapshot generation at which the cluster's content last changed", l),
                           &reg.gauge("weft_controller_cluster_endpoints",
                                      "Endpoints served for the cluster (-1: removed)", l)};
  }
  std::map<std::string, Cells> cells_;
};

}  // namespace

int runController(const std::string& configPath) {
  ControllerConfig cfg;
  try {
    cfg = loadControllerConfig(configPath);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "weft: bad config: %s\n", e.describe().c_str());
    return 2;
  }
  initLogging(cfg.logLevel);
  ::signal(SIGPIPE, SIG_IGN);

  StateStore store;
  asio::io_context ctx;
  // The source: one of three, chosen by the config. The file source is read
  // once before anything listens; a watching source (etcd, Kubernetes) is
  // read by its own coroutine on `ctx`, and xDS opens only after its first
  // complete read — a controller that served its empty start state would tell
  // every proxy that no service exists.
  std::unique_ptr<FileSource> fileSource;
  std::unique_ptr<EtcdSource> etcdSource;
  std::unique_ptr<KubernetesSource> kubernetesSource;
  std::string sourceName;
  try {
    switch (cfg.sourceKind) {
      case SourceKind::kFile:
        fileSource = std::make_unique<FileSource>(cfg.sourceFile, store);
        sourceName = cfg.sourceFile;
        break;
      case SourceKind::kEtcd:
        etcdSource = std::make_unique<EtcdSource>(ctx.get_executor(), cfg.etcd, store);
        sourceName = "etcd " + cfg.etcd.endpoints.front() + " prefix " + cfg.etcd.prefix;
        break;
      case SourceKind::kKubernetes:
        kubernetesSource = std::make_unique<KubernetesSource>(ctx.get_executor(), cfg.kubernetes, store);
        sourceName = "kubernetes " + kubernetesSource->apiServer();
        break;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weft: bad config: %s: source: %s\n", configPath.c_str(), e.what());
    return 2;
  }
  if (fileSource) {
    // A controller that starts with no valid source would serve "no services"
    // to every proxy: refuse to start instead.
    if (auto first = fileSource->poll();
        first == FileSource::Outcome::kRejected || first == FileSource::Outcome::kUnreadable) {
      std::fprintf(stderr, "weft: bad config: %s: %s\n", cfg.sourceFile.c_str(), fileSource->lastError().c_str());
      return 2;
    }
  }

  auto& generationGauge = MetricsRegistry::global().gauge("weft_controller_snapshot_generation",
                                                          "Generation of the snapshot being served");
  ClusterMetrics clusterMetrics;
  AdsServer ads;
  // Publish to the ADS server and metrics in snapshot order (listeners run
  // under the store's update lock).
  store.addListener([&](const std::shared_ptr<const Snapshot>& snap) {
    ads.publish(snap);
    generationGauge.set(static_cast<int64_t>(snap->generation));
    clusterMetrics.update(*snap);
  });
  auto initial = store.current();
  generationGauge.set(static_cast<int64_t>(initial->generation));
  clusterMetrics.update(*initial);

  std::unique_ptr<admin::AdminServer> adminServer;
  int exitCode = 0;
  auto stopAll = [&] {
    if (adminServer) adminServer->stop();
    if (etcdSource) etcdSource->stop();
    if (kubernetesSource) kubernetesSource->stop();
    ctx.stop();
  };
  // Opens the xDS listener with the store's current state. Runs on the thread
  // that applies source updates (this one), so no update slips in between.
  std::atomic<bool> serving{false};
  int xdsPort = 0;
  auto startServing = [&]() -> bool {
    try {
      xdsPort = ads.start(cfg.xds, store.current(), AdsServer::Keepalive{cfg.xdsKeepalive, cfg.xdsKeepaliveTimeout});
    } catch (const std::exception& e) {
      WEFT_LOG_ERROR("xds: {}", e.what());
      std::fprintf(stderr, "weft: cannot listen on %s (xds)\n", cfg.xds.c_str());
      return false;
    }
    serving = true;
    WEFT_LOG_INFO("controller: serving xds on {} (port {}), {} clusters, generation {}", cfg.xds, xdsPort,
                  store.current()->clusters.size(), store.current()->generation);
    return true;
  };
  if (fileSource && !startServing()) return 1;

  try {
    admin::AdminHooks hooks;
    hooks.ready = [&serving] { return serving.load(); };  // ready once xDS serves a complete source
    hooks.shutdown = [&] { asio::post(ctx, stopAll); };
    hooks.endpointsJson = [&store](std::string_view cluster) { return endpointsJson(*store.current(), cluster); };
    adminServer = std::make_unique<admin::AdminServer>(ctx, *net::parseEndpoint(cfg.admin), std::move(hooks));
  } catch (const std::exception& e) {
    WEFT_LOG_ERROR("admin: cannot listen on {}: {}", cfg.admin, e.what());
    std::fprintf(stderr, "weft: cannot listen on %s (admin)\n", cfg.admin.c_str());
    ads.shutdown(std::chrono::milliseconds(0));
    return 1;
  }
  adminServer->start();

  asio::steady_timer pollTimer(ctx);
  std::function<void()> schedulePoll = [&] {
    pollTimer.expires_after(kPollInterval);
    pollTimer.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      fileSource->poll();
      schedulePoll();
    });
  };
  auto onFirstSync = [&] {
    if (!startServing()) {
      exitCode = 1;
      stopAll();
    }
  };
  if (fileSource) schedulePoll();
  if (etcdSource) etcdSource->start(onFirstSync);
  if (kubernetesSource) kubernetesSource->start(onFirstSync);

  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    WEFT_LOG_INFO("received signal {}", sig);
    stopAll();
  });

  WEFT_LOG_INFO("controller: xds={} admin={} source={} allocator={}{}", cfg.xds,
                net::formatEndpoint(adminServer->localEndpoint()), sourceName, core::allocatorName(),
                serving ? "" : " (xds opens after the first complete read of the source)");
  ctx.run();
  pollTimer.cancel();
  // Streams are cancelled at once: proxies keep their last set and reconnect.
  ads.shutdown(std::chrono::milliseconds(500));
  WEFT_LOG_INFO("controller stopped");
  return exitCode;
}

}  // namespace weft::controller
