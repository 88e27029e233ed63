#include "controller/services_file.h"

#include <gtest/gtest.h>

namespace weft::controller {
namespace {

TEST(ServicesFile, ParsesTheDesignExample) {
  auto r = parseServicesYaml(R"(
services:
  - name: api-stable.test:80
    endpoints: [127.0.0.1:9001, {address: 127.0.0.1:9002, weight: 2}]
  - name: API-Canary.test
    protocol: http2
    endpoints: [127.0.0.1:9003]
splits:
  - name: api.test:80
    backends: [{service: api-stable.test:80, weight: 90}, {service: api-canary.test:80, weight: 10}]
)");
  ASSERT_TRUE(r.state) << r.error.describe();
  ASSERT_EQ(r.state->services.size(), 2u);
  EXPECT_EQ(r.state->services[0].name, "api-stable.test:80");
  ASSERT_EQ(r.state->services[0].endpoints.size(), 2u);
  EXPECT_EQ(r.state->services[0].endpoints[0], (model::Endpoint{"127.0.0.1:9001", 1}));
  EXPECT_EQ(r.state->services[0].endpoints[1], (model::Endpoint{"127.0.0.1:9002", 2}));
  // Names are normalised authorities: lowercased, default port 80.
  EXPECT_EQ(r.state->services[1].name, "api-canary.test:80");
  EXPECT_EQ(r.state->services[1].protocol, Protocol::kHttp2);
  ASSERT_EQ(r.state->splits.size(), 1u);
  EXPECT_EQ(r.state->splits[0].name, "api.test:80");
  ASSERT_EQ(r.state->splits[0].backends.size(), 2u);
  EXPECT_EQ(r.state->splits[0].backends[1].service, "api-canary.test:80");
  EXPECT_EQ(r.state->splits[0].backends[1].weight, 10u);
}

TEST(ServicesFile, EmptyDocumentAndEmptyListsAreValid) {
  EXPECT_TRUE(parseServicesYaml("").state);
  auto r = parseServicesYaml("services:\n  - name: a.test:81\n    endpoints: []\n");
  ASSERT_TRUE(r.state) << r.error.describe();
  EXPECT_TRUE(r.state->services[0].endpoints.empty());
}

TEST(ServicesFile, Ipv6AddressesAreAccepted) {
  auto r = parseServicesYaml("services: [{name: a.test:80, endpoints: ['[::1]:9000']}]");
  ASSERT_TRUE(r.state) << r.error.describe();
  EXPECT_EQ(r.state->services[0].endpoints[0].address, "[::1]:9000");
}

struct BadCase {
  const char* yaml;
  const char* key;
  const char* whatContains;
};

class ServicesFileErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ServicesFileErrors, RejectsWithTheKeyAtFault) {
  auto r = parseServicesYaml(GetParam().yaml);
  ASSERT_FALSE(r.state) << GetParam().yaml;
  EXPECT_EQ(r.error.key, GetParam().key) << r.error.describe();
  EXPECT_NE(r.error.what.find(GetParam().whatContains), std::string::npos) << r.error.describe();
}

INSTANTIATE_TEST_SUITE_P(
    All, ServicesFileErrors,
    ::testing::Values(
        BadCase{"services: [", "(document)", "not valid YAML"},
        BadCase{"servics: []", "servics", "unknown key"},
        BadCase{"services: {a: 1}", "services", "must be a list"},
        BadCase{"services: [{endpoints: []}]", "services[0].name", "must be"},
        BadCase{"services: [{name: a.test, endpoints: [nope]}]", "services[0].endpoints[0]", "not an address"},
        BadCase{"services: [{name: a.test, endpoints: ['127.0.0.1:0']}]", "services[0].endpoints[0]", "port 0"},
        BadCase{"services: [{name: a.test, endpoints: [{address: 127.0.0.1:1, weight: 0}]}]",
                "services[0].endpoints[0].weight", "between 1 and"},
        BadCase{"services: [{name: a.test, endpoints: [{address: 127.0.0.1:1, weight: -3}]}]",
                "services[0].endpoints[0].weight", "not a whole number"},
        BadCase{"services: [{name: a.test, endpoints: [{weight: 2}]}]", "services[0].endpoints[0].address",
                "required"},
        BadCase{"services: [{name: a.test, endpoints: [127.0.0.1:1, 127.0.0.1:1]}]", "services[0].endpoints[1]",
                "listed twice"},
        BadCase{"services: [{name: a.test, endpoints: []}, {name: A.test:80, endpoints: []}]", "services[1].name",
                "defined twice"},
        BadCase{"services: [{name: a.test, protocol: http3, endpoints: []}]", "services[0].protocol",
                "not a protocol"},
        BadCase{"services: [{name: a.test, endpoints: []}]\nsplits: [{name: a.test, backends: [{service: a.test, "
                "weight: 1}]}]",
                "splits[0].name", "defined twice"},
        BadCase{"services: [{name: a.test, endpoints: []}]\nsplits: [{name: s.test, backends: []}]",
                "splits[0].backends", "non-empty"},
        BadCase{"services: [{name: a.test, endpoints: []}]\nsplits: [{name: s.test, backends: [{service: a.test}]}]",
                "splits[0].backends[0].weight", "required"},
        BadCase{"services: [{name: a.test, endpoints: []}]\nsplits: [{name: s.test, backends: [{service: a.test, "
                "weight: 0}]}]",
                "splits[0].backends", "above 0"},
        BadCase{"services: [{name: a.test, endpoints: []}]\nsplits: [{name: s.test, backends: [{service: b.test, "
                "weight: 1}]}]",
                "splits[0].backends[0].service", "not a service"},
        BadCase{"services: [{name: a.test, endpoints: []}]\nsplits:\n  - {name: s.test, backends: [{service: "
                "a.test, weight: 1}]}\n  - {name: t.test, backends: [{service: s.test, weight: 1}]}",
                "splits[1].backends[0].service", "not a split"}));

}  // namespace
}  // namespace weft::controller
