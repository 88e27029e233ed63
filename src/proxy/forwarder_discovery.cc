// The discovery half of the Forwarder (forwarder.h): clusters the config does
// not define come from the controller (docs/discovery.md, "Wiring").
// Worker thread only, like the rest of the Forwarder. Nothing here runs per
// request on a settled cluster; handle() only sets `used` and checks
// settled() before going on.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/logging.h"
#include "proxy/forwarder.h"

namespace weft::proxy {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Whether an authority is worth asking the controller about: a host of DNS
// characters (or a bracketed IPv6 address) and a port. Anything else (no
// Host header, spaces, control bytes) is an unknown service at once: a
// client's garbage must not become a subscription or a metric label.
bool plausibleAuthority(std::string_view a) {
  auto colon = a.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size() || a.size() > 260) return false;
  auto host = a.substr(0, colon), port = a.substr(colon + 1);
  if (port.size() > 5) return false;
  uint32_t p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<uint32_t>(c - '0');
  }
  if (p == 0 || p > 65535) return false;
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 4) return false;
    for (char c : host.substr(1, host.size() - 2))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    return true;
  }
  for (char c : host)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

UpstreamProtocol protocolOf(const std::optional<std::string>& p) {
  if (p == "http1") return UpstreamProtocol::kHttp1;
  if (p == "http2") return UpstreamProtocol::kHttp2;
  return UpstreamProtocol::kSameAsClient;
}

}  // namespace

ClusterConfig Forwarder::discoveredConfig(const std::string& name, const model::EndpointSnapshot* snapshot) const {
  ClusterConfig c;
  if (auto it = discoveredSettings_.find(name); it != discoveredSettings_.end()) c = it->second;
  c.name = name;
  c.endpointsGiven = false;
  c.endpoints.clear();
  if (snapshot) {
    // The config's protocol, when it names one, wins over the controller's.
    if (c.protocol == UpstreamProtocol::kSameAsClient) c.protocol = protocolOf(snapshot->protocol);
    c.endpoints = snapshot->endpoints;  // for reading only; the Cluster holds the live set
  }
  return c;
}

Forwarder::ClusterEntry& Forwarder::newDiscovered(const std::string& name) {
  auto config = discoveredConfig(name, nullptr);
  auto& e = configureEntry(config);
  e.config = config;
  e.discovered = std::make_shared<Discovered>(ex_);
  e.discovered->healthyAt = std::chrono::steady_clock::now();
  e.version.clear();
  ++discoveredCount_;
  return e;
}

std::shared_ptr<Forwarder::ClusterEntry> Forwarder::discover(const std::string& name) {
  if (!plausibleAuthority(name)) return nullptr;
  if (discoveredCount_ >= discovery_->maxClusters) {
    threadCounter("weft_discovery_cluster_limit_total",
                  "Requests for a new authority refused because the proxy holds discovery.max_clusters clusters", "")
        .inc();
    return nullptr;
  }
  newDiscovered(name);
  WEFT_LOG_DEBUG("worker {}: first use of {}: subscribing", workerIndex_, name);
  discovery_->subscribe(name);
  return clusters_.find(name)->second;
}

ProxyError Forwarder::discoveredError(const Discovered& d) {
  if (!d.snapshot) return ProxyError::kDiscoveryTimeout;
  if (!d.snapshot->exists) return ProxyError::kUnknownService;
  return ProxyError::kNone;  // an empty set: the balancer answers no-endpoints
}

asio::awaitable<ProxyError> Forwarder::awaitDiscovered(std::shared_ptr<ClusterEntry> entry) {
  // Held: a config reload may make the cluster static (and drop this) meanwhile.
  std::shared_ptr<Discovered> d = entry->discovered;
  if (!d->failingFast) {
    asio::steady_timer deadline(ex_, entry->config.failfastTimeout);
    ++d->waiting;
    while (!d->settled() && entry->discovered == d) {
      auto r = co_await (d->changed.async_wait(kTuple) || deadline.async_wait(kTuple));
      if (r.index() == 1) {
        // Like the balancer's fail-fast: later requests do not queue up behind
        // a controller that does not answer; the next snapshot clears it.
        if (!d->settled()) d->failingFast = true;
        break;
      }
    }
    --d->waiting;
  }
  if (entry->discovered != d) co_return ProxyError::kNone;  // static now: its set applies
  co_return discoveredError(*d);
}

void Forwarder::wake(Discovered& d) {
  if (d.waiting == 0) return;
  d.changed.cancel();  // every waiter re-checks
  d.changed.expires_at(asio::steady_timer::time_point::max());
}

void Forwarder::applyDiscovered(std::shared_ptr<const model::EndpointSnapshot> snapshot) {
  if (!discovery_ || !snapshot) return;
  auto it = clusters_.find(snapshot->name);
  if (it != clusters_.end() && !it->second->discovered) return;  // static wins
  if (it == clusters_.end() && discoveredCount_ >= discovery_->maxClusters) return;
  ClusterEntry& e = it != clusters_.end() ? *it->second : newDiscovered(snapshot->name);
  auto& d = *e.discovered;
  e.config = discoveredConfig(snapshot->name, snapshot.get());
  configureEntry(e.config);
  e.version = snapshot->version;
  e.appliedAt = snapshot->receivedAt;
  // Replace, never merge: endpoints that stay keep their state, removed ones
  // stop being dialed at once and drain (Cluster::setEndpoints).
  e.cluster->setEndpoints(snapshot->exists ? snapshot->endpoints : std::vector<model::Endpoint>{});
  d.snapshot = std::move(snapshot);
  d.failingFast = false;
  d.healthyAt = std::chrono::steady_clock::now();
  wake(d);
}

void Forwarder::forgetDiscovered(const std::string& name) {
  auto it = clusters_.find(name);
  if (it == clusters_.end() || !it->second->discovered) return;
  auto& d = *it->second->discovered;
  if (d.used || d.waiting) {
    // A request came in after every worker had left the cluster unused for
    // the whole unused timeout, just before the client dropped it: ask again.
    // The applied set serves until the new subscription's first answer.
    discovery_->subscribe(name);
    return;
  }
  WEFT_LOG_DEBUG("worker {}: forgetting {} (unused)", workerIndex_, name);
  it->second->cluster->setEndpoints({});
  clusters_.erase(it);
  forgetRoute();
  --discoveredCount_;
}

void Forwarder::startDiscoveryTick() {
  tick_ = std::make_unique<asio::steady_timer>(ex_);
  tick_->expires_after(discovery_->tick);
  tick_->async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    discoveryTick();
    startDiscoveryTick();
  });
}

void Forwarder::discoveryTick() {
  auto now = std::chrono::steady_clock::now();
  for (auto& [name, entry] : clusters_) {
    auto* d = entry->discovered.get();
    if (!d) continue;
    if (d->used) {
      // Use is reported once a tick, not per request (no locks on the request path).
      d->used = false;
      discovery_->touch(name);
    }
    // Self-heal (INCIDENTS.md 001): a known, non-empty set with no endpoint
    // ready for longer than the failfast timeout may be stale (a lost update,
    // endpoints long gone): ask the controller for the whole set again. The
    // client sends at most one resend per cluster per second for all workers.
    const auto& cluster = *entry->cluster;
    if (!d->snapshot || !d->snapshot->exists || cluster.empty() || cluster.balancer().readyCount() > 0) {
      d->healthyAt = now;
    } else if (now - d->healthyAt > entry->config.failfastTimeout) {
      WEFT_LOG_WARN("cluster {}: no endpoint ready for {} ms (version {}); asking the controller again", name,
                    std::chrono::duration_cast<std::chrono::milliseconds>(now - d->healthyAt).count(),
                    d->snapshot->version);
      d->healthyAt = now;
      discovery_->resubscribe(name);
    }
  }
}

}  // namespace weft::proxy
