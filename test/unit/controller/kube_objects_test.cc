#include "controller/kube_objects.h"

#include <gtest/gtest.h>

namespace weft::controller::kube {
namespace {

TEST(KubeObjects, ParsesServiceListsWithPaging) {
  auto l = parseList(Resource::kService, R"({"kind":"ServiceList","apiVersion":"v1",
    "metadata":{"resourceVersion":"123","continue":"abc"},
    "items":[{"metadata":{"namespace":"default","name":"api","resourceVersion":"120","labels":{"a":"b"}},
              "spec":{"type":"ClusterIP","clusterIP":"10.96.0.10","ports":[
                {"name":"http","port":80,"protocol":"TCP","targetPort":"http"},
                {"name":"grpc","port":9000,"appProtocol":"kubernetes.io/h2c","targetPort":9090}]},
              "status":{"loadBalancer":{}}}]})",
                     nullptr);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->resourceVersion, "123");
  EXPECT_EQ(l->continueToken, "abc");
  ASSERT_EQ(l->items.size(), 1u);
  const auto& s = l->items[0].service;
  EXPECT_EQ(s.ns, "default");
  EXPECT_EQ(s.name, "api");
  EXPECT_EQ(s.type, "ClusterIP");
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[0].protocol, "TCP");
  EXPECT_EQ(s.ports[1].protocol, "TCP");  // default
  EXPECT_EQ(s.ports[1].appProtocol, "kubernetes.io/h2c");
  EXPECT_EQ(s.ports[1].port, 9000);
}

TEST(KubeObjects, ParsesSliceEventsWithTriStateConditions) {
  auto ev = parseWatchEvent(Resource::kEndpointSlice, R"({"type":"MODIFIED","object":{
    "kind":"EndpointSlice","metadata":{"namespace":"ns","name":"api-x","resourceVersion":"9",
      "labels":{"kubernetes.io/service-name":"api"}},
    "addressType":"IPv4","ports":[{"name":"http","port":8080,"protocol":"TCP"},{"name":"x"}],
    "endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":true}},
                 {"addresses":["10.0.0.2"]},
                 {"addresses":["10.0.0.3"],"conditions":{"ready":false,"serving":true,"terminating":true}},
                 {"addresses":["10.0.0.4"],"conditions":{"ready":false}}]}})",
                            nullptr);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type, WatchEvent::Type::kModified);
  EXPECT_EQ(ev->resourceVersion, "9");
  const auto& s = ev->object.slice;
  EXPECT_EQ(s.serviceName, "api");
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_FALSE(s.ports[1].port);  // a port without a number
  ASSERT_EQ(s.endpoints.size(), 4u);
  EXPECT_TRUE(s.endpoints[1].ready);  // nil = ready
  EXPECT_TRUE(s.endpoints[1].serving);
  EXPECT_TRUE(s.endpoints[2].serving && s.endpoints[2].terminating && !s.endpoints[2].ready);
  EXPECT_FALSE(s.endpoints[3].serving);  // serving nil = ready
}

TEST(KubeObjects, BookmarksErrorsAndStatus) {
  auto b = parseWatchEvent(Resource::kService,
                           R"({"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"77"}}})",
                           nullptr);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(b->resourceVersion, "77");
  auto e = parseWatchEvent(Resource::kService, R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1",
    "status":"Failure","message":"too old resource version: 5 (10)","reason":"Expired","code":410}})j",
                           nullptr);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, WatchEvent::Type::kError);
  EXPECT_EQ(e->errorCode, 410);
  std::string msg;
  EXPECT_EQ(statusCode(R"({"kind":"Status","code":401,"message":"Unauthorized"})", &msg), 401);
  EXPECT_EQ(msg, "Unauthorized");
  EXPECT_EQ(statusCode("{}", &msg), 0);
}

TEST(KubeObjects, RejectsMalformedInput) {
  std::string why;
  for (const char* bad : {"", "[]", R"({"type":"ADDED"})", R"({"type":"NOPE","object":{}})",
                          R"({"type":"ADDED","object":{"metadata":{"name":""}}})",
                          R"({"type":"ADDED","object":{"metadata":{"name":"a"},"spec":{"ports":[{"port":0}]}}})",
                          R"({"type":"ADDED","object":{"metadata":{"name":"a"},"spec":{"ports":[{"port":"80"}]}}})",
                          R"({"type":"BOOKMARK","object":{"metadata":{}}})"}) {
    why.clear();
    EXPECT_FALSE(parseWatchEvent(Resource::kService, bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
  for (const char* bad : {R"({"type":"ADDED","object":{"metadata":{"name":"a"},"endpoints":[{"addresses":"x"}]}})",
                          R"({"type":"ADDED","object":{"metadata":{"name":"a"},"endpoints":[{"addresses":["1.2.3.4"],
                             "conditions":{"ready":"yes"}}]}})",
                          R"({"type":"ADDED","object":{"metadata":{"name":"a"},"ports":[{"port":70000}]}})"}) {
    EXPECT_FALSE(parseWatchEvent(Resource::kEndpointSlice, bad, &why)) << bad;
  }
  EXPECT_FALSE(parseList(Resource::kService, R"({"metadata":{},"items":[]})", &why));  // no resourceVersion
}

}  // namespace
}  // namespace weft::controller::kube
