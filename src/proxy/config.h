#pragma once
// The proxy's YAML configuration (docs/configuration.md; DESIGN.md §9).
// Loaded on the main thread at start-up and on reload; immutable afterwards
// and shared read-only with workers through std::shared_ptr<const ProxyConfig>.
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/endpoint.h"

namespace weft::proxy {

using std::chrono::milliseconds;

enum class UpstreamProtocol { kSameAsClient, kHttp1, kHttp2 };

struct ClusterConfig {
  std::string name;  // normalised authority, "host:port"
  UpstreamProtocol protocol = UpstreamProtocol::kSameAsClient;
  std::vector<model::Endpoint> endpoints;
  // The `endpoints` key was given. With a controller configured, an entry
  // without it is not a static cluster but settings for the discovered
  // cluster of that name (docs/configuration.md).
  bool endpointsGiven = false;
  std::optional<uint32_t> maxRequestsPerConnection;
  milliseconds connectTimeout{1000};
  milliseconds requestTimeout{0};        // 0: none (grpc-timeout still applies)
  milliseconds idleTimeout{3000};        // HTTP/1 pooled connection idle timeout
  uint32_t maxConcurrentStreams = 1000;  // per upstream HTTP/2 connection we open
  milliseconds keepaliveInterval{10000};  // HTTP/2 upstream PING when waiting on the peer; 0: off
  milliseconds keepaliveTimeout{5000};    // no answer to that PING -> connection closed and replaced
  milliseconds failfastTimeout{3000};    // no ready endpoint for this long -> fail fast
  uint32_t queueCapacity = 10000;        // requests waiting for a ready endpoint -> load shed beyond
  // Retries of failed responses (502/503/504 for idempotent methods, gRPC
  // UNAVAILABLE), limited per request and by the cluster's budget.
  uint32_t maxRetries = 2;
  double retryBudgetRatio = 0.2;
  uint32_t retryBudgetMinPerSecond = 10;
  std::chrono::seconds retryBudgetTtl{10};
};

// The proxy's xDS client (docs/discovery.md); used when `controller` is set.
struct DiscoveryConfig {
  milliseconds reconnectBase{100};   // full-jitter backoff between stream attempts...
  milliseconds reconnectMax{1000};   // ...capped here: convergence after a controller restart
  milliseconds connectTimeout{5000};  // one attempt dials this long before it counts as failed
  milliseconds unusedTimeout{60000};  // a cluster no request used for this long is unsubscribed
  size_t maxClusters = 10000;         // distinct discovered authorities a proxy keeps at once
  std::string nodeId;                 // empty: "weft-proxy-<pid>"
  bool dnsFallback = false;           // an authority the controller does not know is resolved by DNS
  milliseconds dnsRefresh{5000};      // how often such a name is resolved again
};

struct ProxyConfig {
  std::string sourceFile;
  std::optional<std::string> outbound;  // listen address
  std::optional<std::string> inbound;
  std::optional<std::string> app;       // inbound delivery address
  std::optional<std::string> opaque;    // where non-HTTP outbound traffic goes
  std::string admin = "127.0.0.1:4191";
  size_t workers = 0;                   // 0: number of cores
  std::optional<std::string> controller;  // host:port of `weft controller`'s xDS listener
  DiscoveryConfig discovery;
  std::string logLevel = "info";
  milliseconds detectTimeout{10000};
  milliseconds inboundConnectTimeout{300};
  milliseconds drainTimeout{10000};     // grace period for in-flight streams on shutdown
  milliseconds clientIdleTimeout{300000};  // idle downstream connection
  milliseconds clientHeaderTimeout{30000};  // a request head (HTTP/2: every header block, the first request) must arrive within this
  uint32_t maxHeaderListBytes = 64 * 1024;
  uint32_t maxConcurrentStreams = 1000;  // advertised to HTTP/2 clients
  std::vector<ClusterConfig> clusters;

  const ClusterConfig* findCluster(std::string_view normalizedAuthority) const;
  // Whether `c` is a static cluster (its endpoints come from this file) rather
  // than per-cluster settings for a discovered one.
  bool isStatic(const ClusterConfig& c) const { return !controller || c.endpointsGiven; }
};

// A config problem, with the file and the key it concerns.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::string key, const std::string& what)
      : std::runtime_error(what), file(std::move(file)), key(std::move(key)) {}
  std::string file;
  std::string key;
  std::string describe() const;  // "FILE: KEY: what"
};

// Throws ConfigError.
ProxyConfig loadProxyConfig(const std::string& path);
ProxyConfig parseProxyConfig(const std::string& yamlText, const std::string& sourceName);

}  // namespace weft::proxy
