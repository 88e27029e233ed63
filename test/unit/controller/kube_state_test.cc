#include "controller/kube_state.h"

#include <gtest/gtest.h>

namespace weft::controller::kube {
namespace {

Service service(std::string ns, std::string name, std::vector<ServicePort> ports) {
  return Service{std::move(ns), std::move(name), "1", "ClusterIP", std::move(ports)};
}

SliceEndpoint ep(std::string ip, bool ready, bool serving, bool terminating) {
  return SliceEndpoint{{std::move(ip)}, ready, serving, terminating};
}

const ServiceSpec* find(const SourceState& s, const std::string& name) {
  for (const auto& svc : s.services)
    if (svc.name == name) return &svc;
  return nullptr;
}

std::vector<std::string> addresses(const ServiceSpec& s) {
  std::vector<std::string> out;
  for (const auto& e : s.endpoints) out.push_back(e.address);
  return out;
}

TEST(KubeState, OneClusterPerTcpPortWithNamedPortsResolvedPerSlice) {
  ServiceMap services{{"default/api", service("default", "api", {{"http", 80, "TCP", ""},
                                                                  {"grpc", 9000, "TCP", "kubernetes.io/h2c"},
                                                                  {"dns", 53, "UDP", ""}})}};
  SliceMap slices;
  // Two slices of one service whose pods use different target port numbers for "http".
  slices["default/a"] = {"default", "a", "1", "api", "IPv4", {{"http", 8080, "TCP"}, {"grpc", 9090, "TCP"}},
                         {ep("10.0.0.1", true, true, false)}};
  slices["default/b"] = {"default", "b", "1", "api", "IPv6", {{"http", 8081, "TCP"}},
                         {ep("fd00::2", true, true, false)}};
  slices["default/c"] = {"default", "c", "1", "other", "IPv4", {{"http", 1, "TCP"}}, {ep("10.9.9.9", true, true, false)}};
  slices["default/d"] = {"default", "d", "1", "api", "FQDN", {{"http", 1, "TCP"}}, {ep("x.example", true, true, false)}};
  auto s = sourceStateOf(services, slices, "cluster.local", nullptr);
  ASSERT_EQ(s.services.size(), 2u);
  auto* http = find(s, "api.default.svc.cluster.local:80");
  ASSERT_TRUE(http);
  EXPECT_EQ(addresses(*http), (std::vector<std::string>{"10.0.0.1:8080", "[fd00::2]:8081"}));
  EXPECT_EQ(http->protocol, Protocol::kUnspecified);
  auto* grpc = find(s, "api.default.svc.cluster.local:9000");
  ASSERT_TRUE(grpc);
  EXPECT_EQ(addresses(*grpc), (std::vector<std::string>{"10.0.0.1:9090"}));
  EXPECT_EQ(grpc->protocol, Protocol::kHttp2);
}

TEST(KubeState, ReadyEndpointsFirstServingTerminatingOnlyAsFallback) {
  ServiceMap services{{"ns/web", service("ns", "web", {{"", 80, "TCP", ""}})}};
  SliceMap slices;
  slices["ns/w"] = {"ns", "w", "1", "web", "IPv4", {{std::nullopt, 8000, "TCP"}},
                    {ep("10.0.0.1", true, true, false), ep("10.0.0.2", false, true, true),
                     ep("10.0.0.3", false, false, true), ep("10.0.0.4", false, true, false)}};
  auto s = sourceStateOf(services, slices, "cluster.local", nullptr);
  EXPECT_EQ(addresses(s.services.at(0)), (std::vector<std::string>{"10.0.0.1:8000"}));

  slices["ns/w"].endpoints[0] = ep("10.0.0.1", false, true, true);  // now every pod is terminating
  s = sourceStateOf(services, slices, "cluster.local", nullptr);
  EXPECT_EQ(addresses(s.services.at(0)), (std::vector<std::string>{"10.0.0.1:8000", "10.0.0.2:8000"}));

  slices["ns/w"].endpoints = {ep("10.0.0.3", false, false, true)};  // none serving: nothing
  s = sourceStateOf(services, slices, "cluster.local", nullptr);
  EXPECT_TRUE(s.services.at(0).endpoints.empty());
}

TEST(KubeState, SkipsExternalNameAndRejectsBadAddresses) {
  ServiceMap services{{"ns/ext", {"ns", "ext", "1", "ExternalName", {{"", 80, "TCP", ""}}}},
                      {"ns/web", service("ns", "web", {{"", 80, "TCP", ""}})}};
  SliceMap slices;
  slices["ns/w"] = {"ns", "w", "1", "web", "IPv4", {{"", 8000, "TCP"}},
                    {ep("not-an-ip", true, true, false), ep("10.0.0.1", true, true, false)}};
  std::vector<std::string> rejected;
  auto s = sourceStateOf(services, slices, "corp.example", &rejected);
  ASSERT_EQ(s.services.size(), 1u);
  EXPECT_EQ(s.services[0].name, "web.ns.svc.corp.example:80");
  EXPECT_EQ(addresses(s.services[0]), (std::vector<std::string>{"10.0.0.1:8000"}));
  EXPECT_EQ(rejected.size(), 1u);
}

}  // namespace
}  // namespace weft::controller::kube
