#include "proxy/config.h"

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "net/address.h"

namespace weft::proxy {
namespace {

class Parser {
 public:
  explicit Parser(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const { throw ConfigError(file_, key, what); }

  void onlyKeys(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> allowed) const {
    if (!map.IsMap()) fail(where.empty() ? "(top level)" : where, "must be a mapping");
    std::set<std::string> ok(allowed.begin(), allowed.end());
    for (const auto& kv : map) {
      auto k = kv.first.as<std::string>();
      if (!ok.count(k)) {
        std::string list;
        for (auto* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        fail(join(where, k), fmt::format("unknown key (known keys: {})", list));
      }
    }
  }

  static std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

  std::string address(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(key, "must be an address host:port");
    auto s = n.as<std::string>();
    if (!net::parseEndpoint(s)) fail(key, fmt::format("'{}' is not an address of the form ip:port or [ipv6]:port", s));
    return s;
  }

  uint64_t number(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max) const {
    uint64_t v = 0;
    try {
      v = n.as<uint64_t>();
    } catch (const YAML::Exception&) {
      fail(key, "must be a whole number");
    }
    if (v < min || v > max) fail(key, fmt::format("must be between {} and {}", min, max));
    return v;
  }

  milliseconds duration(const YAML::Node& n, const std::string& key) const {
    // Accepts "250ms", "3s", "1m" or a bare number of milliseconds.
    if (!n.IsScalar()) fail(key, "must be a duration such as 300ms, 3s or 1m");
    auto s = n.as<std::string>();
    size_t i = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == 0) fail(key, fmt::format("'{}' is not a duration such as 300ms, 3s or 1m", s));
    uint64_t v = std::stoull(s.substr(0, i));
    auto unit = s.substr(i);
    if (unit.empty() || unit == "ms") return milliseconds(v);
    if (unit == "s") return milliseconds(v * 1000);
    if (unit == "m") return milliseconds(v * 60'000);
    fail(key, fmt::format("'{}' has an unknown unit (use ms, s or m)", s));
  }

  ClusterConfig cluster(const YAML::Node& n, const std::string& key) const {
    onlyKeys(n, key,
             {"name", "protocol", "endpoints", "max_requests_per_connection", "connect_timeout", "request_timeout",
              "idle_timeout", "max_concurrent_streams", "failfast_timeout", "queue_capacity", "max_retries", "retry_budget",
              "keepalive_interval", "keepalive_timeout"});
    ClusterConfig c;
    if (!n["name"] || !n["name"].IsScalar()) fail(join(key, "name"), "is required");
    c.name = model::normalizeAuthority(n["name"].as<std::string>());
    if (auto p = n["protocol"]) {
      auto s = p.as<std::string>();
      if (s == "http1") c.protocol = UpstreamProtocol::kHttp1;
      else if (s == "http2") c.protocol = UpstreamProtocol::kHttp2;
      else fail(join(key, "protocol"), fmt::format("'{}' is not one of http1, http2", s));
    }
    if (auto eps = n["endpoints"]) {
      c.endpointsGiven = true;
      if (!eps.IsSequence()) fail(join(key, "endpoints"), "must be a list of addresses");
      for (size_t i = 0; i < eps.size(); ++i) {
        auto ekey = fmt::format("{}.endpoints[{}]", key, i);
        model::Endpoint ep;
        if (eps[i].IsMap()) {
          onlyKeys(eps[i], ekey, {"address", "weight"});
          ep.address = address(eps[i]["address"], ekey + ".address");
          if (eps[i]["weight"]) ep.weight = static_cast<uint32_t>(number(eps[i]["weight"], ekey + ".weight", 1, 1'000'000));
        } else {
          ep.address = address(eps[i], ekey);
        }
        c.endpoints.push_back(std::move(ep));
      }
    }
    if (auto m = n["max_requests_per_connection"])
      c.maxRequestsPerConnection = static_cast<uint32_t>(number(m, join(key, "max_requests_per_connection"), 1, 1u << 31));
    if (auto d = n["connect_timeout"]) c.connectTimeout = duration(d, join(key, "connect_timeout"));
    if (auto d = n["request_timeout"]) c.requestTimeout = duration(d, join(key, "request_timeout"));
    if (auto d = n["idle_timeout"]) c.idleTimeout = duration(d, join(key, "idle_timeout"));
    if (auto m = n["max_concurrent_streams"])
      c.maxConcurrentStreams = static_cast<uint32_t>(number(m, join(key, "max_concurrent_streams"), 1, 1u << 31));
    if (auto d = n["failfast_timeout"]) c.failfastTimeout = duration(d, join(key, "failfast_timeout"));
    if (auto d = n["keepalive_interval"]) c.keepaliveInterval = duration(d, join(key, "keepalive_interval"));
    if (auto d = n["keepalive_timeout"]) {
      c.keepaliveTimeout = duration(d, join(key, "keepalive_timeout"));
      if (c.keepaliveTimeout.count() == 0)
        fail(join(key, "keepalive_timeout"), "must be more than 0 (keepalive_interval: 0 turns keepalive off)");
    }
    if (auto m = n["max_retries"]) c.maxRetries = static_cast<uint32_t>(number(m, join(key, "max_retries"), 0, 10));
    if (auto b = n["retry_budget"]) {
      auto bkey = join(key, "retry_budget");
      onlyKeys(b, bkey, {"ratio", "min_per_second", "ttl"});
      if (auto r = b["ratio"]) {
        double v = -1;
        try {
          v = r.as<double>();
        } catch (const YAML::Exception&) {
        }
        if (v < 0 || v > 10) fail(bkey + ".ratio", "must be a number between 0 and 10 (0.2 = 20 % of requests)");
        c.retryBudgetRatio = v;
      }
      if (auto m = b["min_per_second"])
        c.retryBudgetMinPerSecond = static_cast<uint32_t>(number(m, bkey + ".min_per_second", 0, 1'000'000));
      if (auto t = b["ttl"]) {
        auto d = duration(t, bkey + ".ttl");
        if (d < std::chrono::seconds(1) || d > std::chrono::seconds(60)) fail(bkey + ".ttl", "must be between 1s and 60s");
        c.retryBudgetTtl = std::chrono::duration_cast<std::chrono::seconds>(d);
      }
    }
    if (auto q = n["queue_capacity"])
      c.queueCapacity = static_cast<uint32_t>(number(q, join(key, "queue_capacity"), 1, 10'000'000));
    return c;
  }

  // host:port where host is a DNS name or a numeric address (the controller
  // is usually reached by a name, e.g. weft-controller.weft.svc:18000).
  std::string hostPort(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(key, "must be host:port");
    auto s = n.as<std::string>();
    if (net::parseEndpoint(s)) return s;
    auto colon = s.rfind(':');
    bool ok = colon != std::string::npos && colon > 0 && colon + 1 < s.size() && colon + 6 >= s.size();
    for (size_t i = 0; ok && i < colon; ++i) {
      char ch = s[i];
      ok = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
    }
    uint64_t port = 0;
    for (size_t i = colon + 1; ok && i < s.size(); ++i) {
      ok = std::isdigit(static_cast<unsigned char>(s[i]));
      port = port * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    if (!ok || port == 0 || port > 65535) fail(key, fmt::format("'{}' is not of the form host:port", s));
    return s;
  }

  DiscoveryConfig discovery(const YAML::Node& n, const std::string& key) const {
    onlyKeys(n, key,
             {"reconnect_base", "reconnect_max", "connect_timeout", "unused_timeout", "max_clusters", "node_id",
              "dns_fallback", "dns_refresh"});
    DiscoveryConfig d;
    auto bounded = [&](const char* k, milliseconds& out, milliseconds lo, milliseconds hi) {
      if (auto v = n[k]) {
        out = duration(v, join(key, k));
        if (out < lo || out > hi)
          fail(join(key, k), fmt::format("must be between {} ms and {} ms", lo.count(), hi.count()));
      }
    };
    bounded("reconnect_base", d.reconnectBase, milliseconds(10), milliseconds(60'000));
    bounded("reconnect_max", d.reconnectMax, milliseconds(10), milliseconds(300'000));
    bounded("connect_timeout", d.connectTimeout, milliseconds(100), milliseconds(60'000));
    // At least a second: workers report use every min(1 s, unused_timeout / 4).
    bounded("unused_timeout", d.unusedTimeout, milliseconds(1000), milliseconds(86'400'000));
    bounded("dns_refresh", d.dnsRefresh, milliseconds(100), milliseconds(3'600'000));
    if (d.reconnectMax < d.reconnectBase) fail(join(key, "reconnect_max"), "must not be below reconnect_base");
    if (auto f = n["dns_fallback"]) {
      try {
        d.dnsFallback = f.as<bool>();
      } catch (const YAML::Exception&) {
        fail(join(key, "dns_fallback"), "must be true or false");
      }
    }
    if (auto m = n["max_clusters"]) d.maxClusters = number(m, join(key, "max_clusters"), 1, 1'000'000);
    if (auto id = n["node_id"]) {
      if (!id.IsScalar() || id.as<std::string>().empty()) fail(join(key, "node_id"), "must be a non-empty string");
      d.nodeId = id.as<std::string>();
    }
    return d;
  }

  ProxyConfig parse(const std::string& text) const {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      fail(fmt::format("line {}", e.mark.line + 1), fmt::format("not valid YAML: {}", e.msg));
    }
    ProxyConfig cfg;
    cfg.sourceFile = file_;
    if (root.IsNull()) fail("(top level)", "the file is empty");
    onlyKeys(root, "",
             {"outbound", "inbound", "app", "opaque", "admin", "workers", "controller", "log_level", "detect_timeout",
              "inbound_connect_timeout", "drain_timeout", "client_idle_timeout", "client_header_timeout",
              "max_header_list_bytes", "max_concurrent_streams", "discovery", "clusters"});
    if (auto n = root["outbound"]) cfg.outbound = address(n, "outbound");
    if (auto n = root["inbound"]) cfg.inbound = address(n, "inbound");
    if (auto n = root["app"]) cfg.app = address(n, "app");
    if (auto n = root["opaque"]) cfg.opaque = address(n, "opaque");
    if (auto n = root["admin"]) cfg.admin = address(n, "admin");
    if (auto n = root["controller"]) cfg.controller = hostPort(n, "controller");
    if (auto n = root["discovery"]) {
      if (!cfg.controller) fail("discovery", "needs `controller` (the settings are those of the xDS client)");
      cfg.discovery = discovery(n, "discovery");
    }
    if (auto n = root["workers"]) cfg.workers = number(n, "workers", 1, 256);
    if (auto n = root["log_level"]) {
      cfg.logLevel = n.as<std::string>();
      static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
      if (!kLevels.count(cfg.logLevel)) fail("log_level", "must be one of trace, debug, info, warn, error, off");
    }
    if (auto n = root["detect_timeout"]) cfg.detectTimeout = duration(n, "detect_timeout");
    if (auto n = root["inbound_connect_timeout"]) cfg.inboundConnectTimeout = duration(n, "inbound_connect_timeout");
    if (auto n = root["drain_timeout"]) cfg.drainTimeout = duration(n, "drain_timeout");
    if (auto n = root["client_idle_timeout"]) cfg.clientIdleTimeout = duration(n, "client_idle_timeout");
    if (auto n = root["client_header_timeout"]) {
      cfg.clientHeaderTimeout = duration(n, "client_header_timeout");
      if (cfg.clientHeaderTimeout.count() == 0) fail("client_header_timeout", "must be more than 0");
    }
    if (auto n = root["max_header_list_bytes"])
      cfg.maxHeaderListBytes = static_cast<uint32_t>(number(n, "max_header_list_bytes", 1024, 16u << 20));
    if (auto n = root["max_concurrent_streams"])
      cfg.maxConcurrentStreams = static_cast<uint32_t>(number(n, "max_concurrent_streams", 1, 1u << 31));
    if (!cfg.outbound && !cfg.inbound) fail("outbound", "at least one of outbound or inbound is required");
    if (cfg.inbound && !cfg.app) fail("app", "is required when inbound is set");
    if (cfg.workers == 0) cfg.workers = std::max(1u, std::thread::hardware_concurrency());
    if (auto cs = root["clusters"]) {
      if (!cs.IsSequence()) fail("clusters", "must be a list");
      std::set<std::string> seen;
      for (size_t i = 0; i < cs.size(); ++i) {
        auto key = fmt::format("clusters[{}]", i);
        auto c = cluster(cs[i], key);
        if (!seen.insert(c.name).second) fail(key + ".name", fmt::format("'{}' is defined twice", c.name));
        cfg.clusters.push_back(std::move(c));
      }
    }
    return cfg;
  }

 private:
  std::string file_;
};

}  // namespace

const ClusterConfig* ProxyConfig::findCluster(std::string_view authority) const {
  for (const auto& c : clusters)
    if (c.name == authority) return &c;
  return nullptr;
}

std::string ConfigError::describe() const { return fmt::format("{}: {}: {}", file, key, what()); }

ProxyConfig parseProxyConfig(const std::string& text, const std::string& sourceName) {
  return Parser(sourceName).parse(text);
}

ProxyConfig loadProxyConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path, "(file)", "cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return parseProxyConfig(ss.str(), path);
}

}  // namespace weft::proxy
