#include "controller/state_store.h"

#include <gtest/gtest.h>

namespace weft::controller {
namespace {

SourceState parse(const char* yaml) {
  auto r = parseServicesYaml(yaml);
  EXPECT_TRUE(r.state) << r.error.describe();
  return r.state ? *r.state : SourceState{};
}

uint32_t weightOf(const ClusterState& c, const std::string& address) {
  for (const auto& e : c.endpoints) {
    if (e.address == address) return e.weight;
  }
  ADD_FAILURE() << address << " not in " << c.name;
  return 0;
}

TEST(SplitEndpoints, WeightsAreBackendShareTimesEndpointShare) {
  // stable 90 % over weights 1 and 2, canary 10 % over one endpoint:
  // shares 30 %, 60 %, 10 % -> 3 : 6 : 1 exactly.
  auto eps = splitEndpoints({{90, {{"127.0.0.1:1", 1}, {"127.0.0.1:2", 2}}}, {10, {{"127.0.0.1:3", 1}}}});
  ASSERT_EQ(eps.size(), 3u);
  EXPECT_EQ(eps[0], (model::Endpoint{"127.0.0.1:1", 3}));
  EXPECT_EQ(eps[1], (model::Endpoint{"127.0.0.1:2", 6}));
  EXPECT_EQ(eps[2], (model::Endpoint{"127.0.0.1:3", 1}));
}

TEST(SplitEndpoints, ZeroWeightAndEmptyBackendsContributeNothing) {
  auto eps = splitEndpoints({{0, {{"127.0.0.1:1", 1}}}, {50, {}}, {7, {{"127.0.0.1:2", 4}, {"127.0.0.1:3", 4}}}});
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].weight, eps[1].weight);
  EXPECT_TRUE(splitEndpoints({{0, {{"127.0.0.1:1", 1}}}}).empty());
}

TEST(SplitEndpoints, SharedAddressGetsBothShares) {
  auto eps = splitEndpoints({{1, {{"127.0.0.1:1", 1}}}, {1, {{"127.0.0.1:1", 1}, {"127.0.0.1:2", 1}}}});
  ASSERT_EQ(eps.size(), 2u);
  EXPECT_EQ(eps[0].address, "127.0.0.1:1");
  EXPECT_EQ(eps[0].weight, 3 * eps[1].weight);  // 1/2 + 1/4 vs 1/4
}

TEST(SplitEndpoints, LargeWeightsAreRoundedKeepingProportionsAndAtLeastOne) {
  // Coprime endpoint-weight sums make the exact form exceed the limit.
  std::vector<model::Endpoint> a, b;
  for (int i = 0; i < 7; ++i) a.push_back({"10.0.0." + std::to_string(i) + ":80", 999'983});
  a.push_back({"10.0.1.1:80", 1});
  b.push_back({"10.0.2.1:80", 999'979});
  b.push_back({"10.0.2.2:80", 2});
  auto eps = splitEndpoints({{999'999, a}, {1, b}});
  ASSERT_EQ(eps.size(), 10u);
  uint64_t total = 0;
  for (const auto& e : eps) {
    EXPECT_GE(e.weight, 1u);
    total += e.weight;
  }
  EXPECT_LE(total, 1'000'100u);
  EXPECT_NEAR(double(eps[0].weight) / double(total), 999'999.0 / 1'000'000 / 7, 1e-4);
}

TEST(StateStore, SplitApexIsComputedFromBackends) {
  auto snap = buildSnapshot(parse(R"(
services:
  - {name: s.test, endpoints: [127.0.0.1:1, {address: 127.0.0.1:2, weight: 2}]}
  - {name: c.test, protocol: http2, endpoints: [127.0.0.1:3]}
splits:
  - {name: api.test, backends: [{service: s.test, weight: 90}, {service: c.test, weight: 10}]}
)"),
                            nullptr);
  auto* apex = snap->find("api.test:80");
  ASSERT_TRUE(apex);
  EXPECT_TRUE((*apex)->isSplit);
  EXPECT_EQ(weightOf(**apex, "127.0.0.1:1"), 3u);
  EXPECT_EQ(weightOf(**apex, "127.0.0.1:2"), 6u);
  EXPECT_EQ(weightOf(**apex, "127.0.0.1:3"), 1u);
  EXPECT_EQ((*apex)->protocol, Protocol::kUnspecified);  // s.test does not say, c.test says http2
  EXPECT_EQ((*snap->find("c.test:80"))->protocol, Protocol::kHttp2);
}

TEST(StateStore, SplitApexTakesTheProtocolItsWeightedBackendsAgreeOn) {
  auto snap = buildSnapshot(parse(R"(
services:
  - {name: s.test, protocol: http2, endpoints: [127.0.0.1:1]}
  - {name: c.test, protocol: http2, endpoints: [127.0.0.1:3]}
  - {name: old.test, protocol: http1, endpoints: [127.0.0.1:4]}
splits:
  - {name: api.test, backends: [{service: s.test, weight: 1}, {service: c.test, weight: 1}, {service: old.test, weight: 0}]}
  - {name: mixed.test, backends: [{service: s.test, weight: 1}, {service: old.test, weight: 1}]}
  - {name: told.test, protocol: http1, backends: [{service: s.test, weight: 1}]}
)"),
                            nullptr);
  EXPECT_EQ((*snap->find("api.test:80"))->protocol, Protocol::kHttp2);
  EXPECT_EQ((*snap->find("mixed.test:80"))->protocol, Protocol::kUnspecified);
  EXPECT_EQ((*snap->find("told.test:80"))->protocol, Protocol::kHttp1);
}

TEST(StateStore, UnchangedClustersKeepTheirVersionAndObject) {
  const char* v1 = R"(
services:
  - {name: a.test, endpoints: [127.0.0.1:1, 127.0.0.1:2]}
  - {name: b.test, endpoints: [127.0.0.1:3]}
  - {name: c.test, endpoints: [127.0.0.1:5]}
splits:
  - {name: ab.test, backends: [{service: a.test, weight: 1}, {service: b.test, weight: 1}]}
)";
  // b changes; a is reordered (same content); c is untouched; the apex depends on b.
  const char* v2 = R"(
services:
  - {name: a.test, endpoints: [127.0.0.1:2, 127.0.0.1:1]}
  - {name: b.test, endpoints: [127.0.0.1:4]}
  - {name: c.test, endpoints: [127.0.0.1:5]}
splits:
  - {name: ab.test, backends: [{service: a.test, weight: 1}, {service: b.test, weight: 1}]}
)";
  StateStore store;
  std::vector<std::shared_ptr<const Snapshot>> seen;
  store.addListener([&](const auto& s) { seen.push_back(s); });
  ASSERT_TRUE(store.apply(parse(v1)));
  auto s1 = store.current();
  ASSERT_TRUE(store.apply(parse(v2)));
  auto s2 = store.current();
  EXPECT_FALSE(store.apply(parse(v2)));  // nothing changed: nothing published
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], s2);
  EXPECT_GT(s2->generation, s1->generation);

  auto same = [&](const char* n) { return *s1->find(n) == *s2->find(n); };
  EXPECT_TRUE(same("a.test:80"));
  EXPECT_TRUE(same("c.test:80"));
  EXPECT_FALSE(same("b.test:80"));
  EXPECT_FALSE(same("ab.test:80"));
  EXPECT_EQ((*s2->find("a.test:80"))->version, (*s1->find("a.test:80"))->version);
  EXPECT_EQ((*s2->find("a.test:80"))->generation, s1->generation);
  EXPECT_NE((*s2->find("b.test:80"))->version, (*s1->find("b.test:80"))->version);
  EXPECT_EQ((*s2->find("b.test:80"))->generation, s2->generation);
  EXPECT_NE((*s2->find("ab.test:80"))->version, (*s1->find("ab.test:80"))->version);
}

TEST(StateStore, VersionIsAFunctionOfContentOnly) {
  // Two independent stores (e.g. a restarted controller) agree on versions.
  auto x = buildSnapshot(parse("services: [{name: a.test, endpoints: [127.0.0.1:1]}]"), nullptr);
  auto other = buildSnapshot(parse("services: [{name: z.test, endpoints: []}]"), nullptr);
  auto y = buildSnapshot(parse("services: [{name: a.test, endpoints: ['127.0.0.1:1']}]"), other.get());
  EXPECT_EQ((*x->find("a.test:80"))->version, (*y->find("a.test:80"))->version);
  // Weight, protocol and name are all part of it.
  auto w = buildSnapshot(parse("services: [{name: a.test, endpoints: [{address: 127.0.0.1:1, weight: 2}]}]"), nullptr);
  auto p = buildSnapshot(parse("services: [{name: a.test, protocol: http1, endpoints: [127.0.0.1:1]}]"), nullptr);
  auto n = buildSnapshot(parse("services: [{name: b.test, endpoints: [127.0.0.1:1]}]"), nullptr);
  auto v = [](const auto& s, const char* name) { return (*s->find(name))->version; };
  EXPECT_NE(v(x, "a.test:80"), v(w, "a.test:80"));
  EXPECT_NE(v(x, "a.test:80"), v(p, "a.test:80"));
  EXPECT_NE(v(x, "a.test:80"), v(n, "b.test:80"));
}

TEST(StateStore, RemovedClusterDisappears) {
  StateStore store;
  ASSERT_TRUE(store.apply(parse("services: [{name: a.test, endpoints: []}, {name: b.test, endpoints: []}]")));
  ASSERT_TRUE(store.apply(parse("services: [{name: a.test, endpoints: []}]")));
  EXPECT_TRUE(store.current()->find("a.test:80"));
  EXPECT_FALSE(store.current()->find("b.test:80"));
}

}  // namespace
}  // namespace weft::controller
