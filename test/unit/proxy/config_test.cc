#include "proxy/config.h"

#include <gtest/gtest.h>

namespace weft::proxy {
namespace {

std::string errorOf(const std::string& yaml) {
  try {
    parseProxyConfig(yaml, "p.yaml");
  } catch (const ConfigError& e) {
    return e.describe();
  }
  return "";
}

TEST(ProxyConfig, ParsesTheMinimalFormOfTheDesign) {
  auto c = parseProxyConfig(R"(
outbound: 127.0.0.1:4140
inbound: 0.0.0.0:4143
app: 127.0.0.1:8080
admin: 127.0.0.1:4191
workers: 2
controller: 127.0.0.1:18000
clusters:
  - name: api.test
    protocol: http2
    endpoints: [127.0.0.1:9001, {address: 127.0.0.1:9002, weight: 3}]
    max_requests_per_connection: 100
    request_timeout: 2s
)", "p.yaml");
  EXPECT_EQ(*c.outbound, "127.0.0.1:4140");
  EXPECT_EQ(c.workers, 2u);
  ASSERT_EQ(c.clusters.size(), 1u);
  EXPECT_EQ(c.clusters[0].name, "api.test:80");  // a missing port means 80
  EXPECT_EQ(c.clusters[0].protocol, UpstreamProtocol::kHttp2);
  ASSERT_EQ(c.clusters[0].endpoints.size(), 2u);
  EXPECT_EQ(c.clusters[0].endpoints[1].weight, 3u);
  EXPECT_EQ(*c.clusters[0].maxRequestsPerConnection, 100u);
  EXPECT_EQ(c.clusters[0].requestTimeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.clusters[0].connectTimeout, std::chrono::milliseconds(1000));  // default
  EXPECT_NE(c.findCluster("api.test:80"), nullptr);
}

TEST(ProxyConfig, HeaderTimeoutAndHttp2Keepalive) {
  auto c = parseProxyConfig(R"(
outbound: 127.0.0.1:4140
client_header_timeout: 5s
clusters:
  - name: a.test
    keepalive_interval: 30s
    keepalive_timeout: 2s
  - name: b.test
    keepalive_interval: 0
  - name: c.test
)", "p.yaml");
  EXPECT_EQ(c.clientHeaderTimeout, std::chrono::milliseconds(5000));
  ASSERT_EQ(c.clusters.size(), 3u);
  EXPECT_EQ(c.clusters[0].keepaliveInterval, std::chrono::milliseconds(30000));
  EXPECT_EQ(c.clusters[0].keepaliveTimeout, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.clusters[1].keepaliveInterval, std::chrono::milliseconds(0)) << "0 turns keepalive off";
  EXPECT_EQ(c.clusters[2].keepaliveInterval, std::chrono::milliseconds(10000));
  EXPECT_EQ(c.clusters[2].keepaliveTimeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(parseProxyConfig("outbound: 127.0.0.1:4140", "p.yaml").clientHeaderTimeout,
            std::chrono::milliseconds(30000));
  EXPECT_NE(errorOf("outbound: 127.0.0.1:4140\nclusters: [{name: a.test, keepalive_timeout: 0}]")
                .find("clusters[0].keepalive_timeout"),
            std::string::npos);
  EXPECT_NE(errorOf("outbound: 127.0.0.1:4140\nclient_header_timeout: 0").find("client_header_timeout"),
            std::string::npos);
}

TEST(ProxyConfig, ErrorsNameTheFileAndTheKey) {
  EXPECT_EQ(errorOf("outbound: nonsense\n"),
            "p.yaml: outbound: 'nonsense' is not an address of the form ip:port or [ipv6]:port");
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\nworkerz: 2\n").find("p.yaml: workerz: unknown key"), std::string::npos);
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\nclusters: [{name: a, endpoints: [1.2.3.4:5, x]}]\n")
                .find("clusters[0].endpoints[1]"),
            std::string::npos);
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\nclusters: [{name: a, protocol: spdy}]\n").find("clusters[0].protocol"),
            std::string::npos);
  EXPECT_NE(errorOf("inbound: 127.0.0.1:1\n").find("app: is required"), std::string::npos);
  EXPECT_NE(errorOf("outbound: [\n").find("not valid YAML"), std::string::npos);
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\nclusters: [{name: a}, {name: 'a:80'}]\n").find("defined twice"),
            std::string::npos);
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\nclusters: [{name: a, request_timeout: 3 hours}]\n")
                .find("clusters[0].request_timeout"),
            std::string::npos);
}

TEST(ProxyConfig, DiscoverySettingsAndWhichClustersAreStatic) {
  auto c = parseProxyConfig(R"(
outbound: 127.0.0.1:4140
controller: weft-controller.weft.svc:18000
discovery:
  reconnect_max: 2s
  unused_timeout: 5m
  max_clusters: 50
  node_id: pod-a
clusters:
  - name: api.test:80
    failfast_timeout: 1s
  - name: db.test:5432
    endpoints: []
)", "p.yaml");
  EXPECT_EQ(*c.controller, "weft-controller.weft.svc:18000");  // a DNS name is fine for the controller
  EXPECT_EQ(c.discovery.reconnectMax, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.discovery.reconnectBase, std::chrono::milliseconds(100));  // default
  EXPECT_EQ(c.discovery.unusedTimeout, std::chrono::milliseconds(300'000));
  EXPECT_EQ(c.discovery.maxClusters, 50u);
  EXPECT_EQ(c.discovery.nodeId, "pod-a");
  // No `endpoints` key with a controller: settings for the discovered cluster.
  EXPECT_FALSE(c.isStatic(*c.findCluster("api.test:80")));
  EXPECT_EQ(c.findCluster("api.test:80")->failfastTimeout, std::chrono::milliseconds(1000));
  // `endpoints: []` is a static cluster with no endpoints.
  EXPECT_TRUE(c.isStatic(*c.findCluster("db.test:5432")));

  // Without a controller every entry is static, and the defaults hold.
  auto plain = parseProxyConfig("outbound: 127.0.0.1:1\nclusters: [{name: a}]\n", "p.yaml");
  EXPECT_TRUE(plain.isStatic(plain.clusters[0]));
  EXPECT_EQ(plain.discovery.reconnectMax, std::chrono::milliseconds(1000));  // converge within 2 s of a restart
  EXPECT_EQ(plain.discovery.unusedTimeout, std::chrono::milliseconds(60'000));
}

TEST(ProxyConfig, DiscoveryErrors) {
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\ndiscovery: {reconnect_max: 1s}\n").find("discovery: needs `controller`"),
            std::string::npos);
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\ncontroller: 'a b:1'\n").find("controller: 'a b:1' is not of the form"),
            std::string::npos);
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\ncontroller: ctl:0\n").find("controller:"), std::string::npos);
  EXPECT_NE(errorOf("outbound: 127.0.0.1:1\ncontroller: ctl\n").find("controller:"), std::string::npos);
  const std::string base = "outbound: 127.0.0.1:1\ncontroller: 127.0.0.1:2\n";
  EXPECT_NE(errorOf(base + "discovery: {unused_timeout: 10ms}\n").find("discovery.unused_timeout: must be between"),
            std::string::npos);
  EXPECT_NE(errorOf(base + "discovery: {reconnect_base: 2s, reconnect_max: 1s}\n")
                .find("discovery.reconnect_max: must not be below reconnect_base"),
            std::string::npos);
  EXPECT_NE(errorOf(base + "discovery: {dns: yes}\n").find("discovery.dns: unknown key"), std::string::npos);
  EXPECT_FALSE(parseProxyConfig(base, "p.yaml").discovery.dnsFallback);  // off by default
  EXPECT_NE(errorOf(base + "discovery: {max_clusters: 0}\n").find("discovery.max_clusters"), std::string::npos);
  EXPECT_NE(errorOf(base + "discovery: {dns_fallback: maybe}\n").find("discovery.dns_fallback: must be true or false"),
            std::string::npos);
  auto dns = parseProxyConfig(base + "discovery: {dns_fallback: true, dns_refresh: 2s}\n", "p.yaml");
  EXPECT_TRUE(dns.discovery.dnsFallback);
  EXPECT_EQ(dns.discovery.dnsRefresh, std::chrono::milliseconds(2000));
}

}  // namespace
}  // namespace weft::proxy
