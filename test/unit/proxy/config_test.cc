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

}  // namespace
}  // namespace weft::proxy
