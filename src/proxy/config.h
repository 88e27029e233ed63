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

struct ProxyConfig {
  std::string sourceFile;
  std::optional<std::string> outbound;  // listen address
  std::optional<std::string> inbound;
  std::optional<std::string> app;       // inbound delivery address
  std::optional<std::string> opaque;    // where non-HTTP outbound traffic goes
  std::string admin = "127.0.0.1:4191";
  size_t workers = 0;                   // 0: number of cores
  std::optional<std::string> controller;
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
