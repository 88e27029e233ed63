#include "controller/etcd_registry.h"

#include <gtest/gtest.h>

namespace weft::controller {
namespace {

const ServiceSpec* service(const SourceState& s, const std::string& name) {
  for (const auto& svc : s.services)
    if (svc.name == name) return &svc;
  return nullptr;
}

TEST(EtcdRegistry, InstancesDeclarationsAndSplits) {
  EtcdRegistry r("/weft/");
  std::string why;
  ASSERT_TRUE(r.put("/weft/services/api.test/i1", R"({"address":"127.0.0.1:9001"})", &why)) << why;
  ASSERT_TRUE(r.put("/weft/services/api.test:80/i2", R"({"address":"127.0.0.1:9002","weight":3})", &why)) << why;
  ASSERT_TRUE(r.put("/weft/services/empty.test:81", R"({"protocol":"http2"})", &why)) << why;
  ASSERT_TRUE(r.put("/weft/splits/apex.test", R"({"backends":[{"service":"api.test","weight":1}]})", &why)) << why;
  auto s = r.state();
  ASSERT_EQ(s.services.size(), 2u);
  auto* api = service(s, "api.test:80");
  ASSERT_TRUE(api);
  ASSERT_EQ(api->endpoints.size(), 2u);
  EXPECT_EQ(api->endpoints[0], (model::Endpoint{"127.0.0.1:9001", 1}));
  EXPECT_EQ(api->endpoints[1], (model::Endpoint{"127.0.0.1:9002", 3}));
  auto* empty = service(s, "empty.test:81");
  ASSERT_TRUE(empty);  // declared: exists without instances
  EXPECT_TRUE(empty->endpoints.empty());
  EXPECT_EQ(empty->protocol, Protocol::kHttp2);
  ASSERT_EQ(s.splits.size(), 1u);
  EXPECT_EQ(s.splits[0].name, "apex.test:80");
  EXPECT_EQ(s.splits[0].backends[0].service, "api.test:80");

  // The last instance gone and no declaration: the service is gone.
  EXPECT_TRUE(r.remove("/weft/services/api.test/i1"));
  EXPECT_TRUE(r.remove("/weft/services/api.test:80/i2"));
  EXPECT_FALSE(r.remove("/weft/services/api.test:80/i2"));
  EXPECT_FALSE(service(r.state(), "api.test:80"));
}

TEST(EtcdRegistry, InvalidValueKeepsTheKeysLastGoodValue) {
  EtcdRegistry r("/weft/");
  std::string why;
  ASSERT_TRUE(r.put("/weft/services/a.test/i1", R"({"address":"127.0.0.1:1"})", &why));
  const char* bad[] = {
      R"(not json)",
      R"([1])",
      R"({"address":"nope:1"})",
      R"({"address":"127.0.0.1:0"})",
      R"({"address":"127.0.0.1:1","weight":0})",
      R"({"address":"127.0.0.1:1","weight":1000001})",
      R"({"address":"127.0.0.1:1","weight":1.5})",
      R"({"address":"127.0.0.1:1","color":"red"})",
      R"({"weight":2})",
  };
  for (const char* v : bad) {
    why.clear();
    EXPECT_FALSE(r.put("/weft/services/a.test/i1", v, &why)) << v;
    EXPECT_FALSE(why.empty()) << v;
  }
  auto s = r.state();
  ASSERT_EQ(s.services.size(), 1u);
  EXPECT_EQ(s.services[0].endpoints, (std::vector<model::Endpoint>{{"127.0.0.1:1", 1}}));
  // A key that never had a good value stays absent.
  EXPECT_FALSE(r.put("/weft/services/b.test/i1", "{}", &why));
  EXPECT_FALSE(service(r.state(), "b.test:80"));
}

TEST(EtcdRegistry, RejectsKeysOutsideTheLayout) {
  EtcdRegistry r("/weft/");
  std::string why;
  for (const char* key : {"/weft/other/x", "/weft/services/", "/weft/services/a.test/", "/weft/services/a.test/i/j",
                          "/weft/splits/a.test/x", "/weft/services/a b/i1", "/other/services/a/i"}) {
    EXPECT_FALSE(r.put(key, R"({"address":"127.0.0.1:1"})", &why)) << key;
  }
  EXPECT_EQ(r.keyCount(), 0u);
}

TEST(EtcdRegistry, SplitRules) {
  EtcdRegistry r("/p/");
  std::string why;
  EXPECT_FALSE(r.put("/p/splits/s.test", R"({"backends":[]})", &why));
  EXPECT_FALSE(r.put("/p/splits/s.test", R"({"backends":[{"service":"a","weight":0}]})", &why));
  EXPECT_FALSE(r.put("/p/splits/s.test", R"({"backends":[{"service":"a","weight":1},{"service":"a:80","weight":1}]})",
                     &why));
  EXPECT_FALSE(r.put("/p/splits/s.test", R"({"backends":[{"service":"s.test","weight":1}]})", &why));
  EXPECT_FALSE(r.put("/p/splits/s.test", R"({"backends":[{"service":"a"}]})", &why));
  ASSERT_TRUE(r.put("/p/services/s.test/i", R"({"address":"127.0.0.1:2"})", &why));
  ASSERT_TRUE(r.put("/p/splits/s.test", R"({"backends":[{"service":"a","weight":1}],"protocol":"http1"})", &why));
  std::vector<std::string> problems;
  auto s = r.state(&problems);
  EXPECT_TRUE(s.splits.empty());  // the service of the same name wins
  ASSERT_EQ(problems.size(), 1u);
}

TEST(EtcdRegistry, SameAddressUnderTwoInstanceIdsIsServedOnceWithTheLargerWeight) {
  EtcdRegistry r("/weft/");
  std::string why;
  ASSERT_TRUE(r.put("/weft/services/a.test/old", R"({"address":"127.0.0.1:1","weight":2})", &why));
  ASSERT_TRUE(r.put("/weft/services/a.test/new", R"({"address":"127.0.0.1:1","weight":5})", &why));
  EXPECT_EQ(r.state().services[0].endpoints, (std::vector<model::Endpoint>{{"127.0.0.1:1", 5}}));
}

TEST(EtcdRegistry, ReplaceAllKeepsLastGoodValuesOfInvalidKeysAndDropsMissingOnes) {
  EtcdRegistry r("/weft/");
  std::string why;
  ASSERT_TRUE(r.put("/weft/services/a.test/i1", R"({"address":"127.0.0.1:1"})", &why));
  ASSERT_TRUE(r.put("/weft/services/b.test/i1", R"({"address":"127.0.0.1:2"})", &why));
  std::vector<std::string> rejected;
  r.replaceAll({{"/weft/services/a.test/i1", "garbage"}, {"/weft/services/c.test/i1", R"({"address":"127.0.0.1:3"})"}},
               &rejected);
  ASSERT_EQ(rejected.size(), 1u);
  auto s = r.state();
  ASSERT_EQ(s.services.size(), 2u);
  EXPECT_EQ(s.services[0].name, "a.test:80");  // kept its last good value
  EXPECT_EQ(s.services[1].name, "c.test:80");  // b is gone from the listing
}

}  // namespace
}  // namespace weft::controller
