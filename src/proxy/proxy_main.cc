#include "proxy/proxy_main.h"

#include <atomic>
#include <csignal>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "admin/admin_server.h"
#include "core/allocator.h"
#include "core/logging.h"
#include "net/address.h"
#include "net/worker_pool.h"
#include "proxy/config_watcher.h"
#include "proxy/proxy_discovery.h"
#include "proxy/tap.h"
#include "proxy/tap_route.h"
#include "proxy/worker_proxy.h"

namespace weft::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// Binds `address` on every worker (the first bind resolves port 0).
tcp::endpoint listenOnAll(std::vector<std::unique_ptr<WorkerProxy>>& workers, Direction d, const std::string& address) {
  auto ep = *net::parseEndpoint(address);
  for (auto& w : workers) ep = w->listen(d, ep);
  return ep;
}

// /debug/endpoints: every worker's view (each worker balances on its own),
// gathered on the workers' threads, and with a controller what the discovery
// client holds. Empty for an unknown cluster (404).
std::string endpointsJson(std::vector<std::unique_ptr<WorkerProxy>>& workers, std::string_view cluster,
                          const ProxyDiscovery* discovery) {
  std::vector<std::future<std::vector<std::string>>> futures;
  for (auto& w : workers) futures.push_back(w->debugEndpoints(std::string(cluster)));
  std::string body = "{\"clusters\":[";
  bool first = true;
  for (auto& f : futures) {
    if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) continue;  // a stuck worker is left out
    for (auto& entry : f.get()) {
      if (!first) body += ',';
      body += entry;
      first = false;
    }
  }
  if (first && !cluster.empty()) return "";
  body += ']';
  if (discovery) body += ",\"discovery\":" + discovery->statusJson(cluster);
  return body + "}";
}

}  // namespace

int runProxy(ProxyConfig config) {
  ::signal(SIGPIPE, SIG_IGN);
  // Before mainCtx: /tap coroutines still hold the tap while the context is destroyed.
  Tap tap(config.workers);
  tap.install();
  asio::io_context mainCtx(1);
  net::WorkerPool pool(config.workers);
  // Discovery first: the workers get its link. Stopped after the worker
  // loops (see the end), before the workers are destroyed.
  std::unique_ptr<ProxyDiscovery> discovery;
  if (config.controller) {
    try {
      discovery = std::make_unique<ProxyDiscovery>(config);
    } catch (const ConfigError& e) {
      WEFT_LOG_ERROR("bad config: {}", e.describe());
      return 2;
    }
  }
  std::vector<std::unique_ptr<WorkerProxy>> workers;
  for (size_t i = 0; i < pool.size(); ++i)
    workers.push_back(
        std::make_unique<WorkerProxy>(pool.at(i), config, discovery ? &discovery->link() : nullptr));

  std::atomic<bool> ready{false};
  bool shuttingDown = false;
  asio::steady_timer drainPoll(mainCtx);
  std::unique_ptr<admin::AdminServer> adminServer;
  std::unique_ptr<ConfigWatcher> watcher;

  // Graceful shutdown: stop accepting, let sessions drain (GOAWAY /
  // Connection: close) for up to drain_timeout, then stop the workers.
  auto deadline = std::make_shared<std::chrono::steady_clock::time_point>();
  std::function<void()> pollDrain = [&] {
    size_t active = 0;
    for (auto& w : workers) active += w->activeConnections();
    if (active == 0 || std::chrono::steady_clock::now() >= *deadline) {
      if (active) WEFT_LOG_WARN("drain timeout: closing {} connection(s) still open", active);
      if (adminServer) adminServer->stop();
      if (watcher) watcher->stop();
      mainCtx.stop();
      return;
    }
    drainPoll.expires_after(std::chrono::milliseconds(50));
    drainPoll.async_wait([&](boost::system::error_code ec) {
      if (!ec) pollDrain();
    });
  };
  auto shutdown = [&] {
    if (shuttingDown) return;
    shuttingDown = true;
    ready = false;
    WEFT_LOG_INFO("shutting down: draining for up to {} ms", config.drainTimeout.count());
    for (auto& w : workers) w->beginDrain();
    *deadline = std::chrono::steady_clock::now() + config.drainTimeout;
    pollDrain();
  };

  try {
    std::string summary;
    if (config.outbound)
      summary += " outbound=" + net::formatEndpoint(listenOnAll(workers, Direction::kOutbound, *config.outbound));
    if (config.inbound)
      summary += " inbound=" + net::formatEndpoint(listenOnAll(workers, Direction::kInbound, *config.inbound));
    admin::AdminHooks hooks;
    hooks.ready = [&] { return ready.load(); };
    hooks.shutdown = [&] { asio::post(mainCtx, shutdown); };
    hooks.endpointsJson = [&](std::string_view cluster) { return endpointsJson(workers, cluster, discovery.get()); };
    adminServer = std::make_unique<admin::AdminServer>(mainCtx, *net::parseEndpoint(config.admin), hooks);
    registerTapRoute(*adminServer, tap);
    summary += " admin=" + net::formatEndpoint(adminServer->localEndpoint());
    WEFT_LOG_INFO("weft proxy listening:{} workers={} allocator={}", summary, config.workers, core::allocatorName());
  } catch (const boost::system::system_error& e) {
    WEFT_LOG_ERROR("cannot listen: {}", e.what());
    return 1;
  }

  asio::signal_set signals(mainCtx, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    WEFT_LOG_INFO("received signal {}", sig);
    shutdown();
  });

  // Listener addresses, worker count and admin address need a restart; every
  // cluster setting applies live through the workers' forwarders.
  watcher = std::make_unique<ConfigWatcher>(mainCtx, config.sourceFile, [&](std::shared_ptr<const ProxyConfig> next) {
    if (next->outbound != config.outbound || next->inbound != config.inbound || next->workers != config.workers ||
        next->admin != config.admin)
      WEFT_LOG_WARN("config reload: listener, admin or worker changes need a restart; applying cluster changes only");
    for (auto& w : workers) w->applyConfig(next);
  });
  watcher->start();

  pool.start();
  for (auto& w : workers) w->start();
  if (discovery) {
    std::vector<WorkerProxy*> targets;
    for (auto& w : workers) targets.push_back(w.get());
    discovery->start(std::move(targets));
  }
  adminServer->start();
  ready = true;
  mainCtx.run();
  // Workers first (their ticks call the client), then the client: it may
  // still post to the stopped loops, which drop what they never run.
  pool.abort();
  discovery.reset();
  WEFT_LOG_INFO("weft proxy stopped");
  return 0;
}

}  // namespace weft::proxy
