#include "controller/xds_stream_state.h"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <map>
#include <set>

namespace weft::controller {
namespace {

// A snapshot where cluster `name` has `n` endpoints (ports base..base+n-1).
SourceState withEndpoints(std::vector<std::pair<std::string, int>> clusters, int base = 1000) {
  SourceState s;
  for (auto& [name, n] : clusters) {
    ServiceSpec svc;
    svc.name = name;
    for (int i = 0; i < n; ++i) svc.endpoints.push_back({fmt::format("127.0.0.1:{}", base + i), 1});
    s.services.push_back(std::move(svc));
  }
  return s;
}

XdsRequest eds(std::vector<std::string> names, std::string nonce = "", std::string version = "") {
  return XdsRequest{std::string(kEndpointTypeUrl), std::move(names), std::move(version), std::move(nonce), false, ""};
}

XdsRequest cds(std::vector<std::string> names, std::string nonce = "") {
  return XdsRequest{std::string(kClusterTypeUrl), std::move(names), "", std::move(nonce), false, ""};
}

std::vector<XdsResponse> drain(XdsStreamState& s) {
  std::vector<XdsResponse> out;
  while (auto r = s.next()) {
    out.push_back(std::move(*r));
    if (out.size() > 1000) break;  // a loop would be a bug; keep the test bounded
  }
  return out;
}

TEST(XdsStreamState, SubscribingSendsEveryClusterOnceInOneResponseWithItsVersion) {
  XdsStreamState s;
  auto snap = buildSnapshot(withEndpoints({{"a:80", 2}, {"b:80", 3}}), nullptr);
  s.onSnapshot(snap);
  EXPECT_EQ(s.onRequest(eds({"a:80", "b:80"})), RequestKind::kInitial);
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);  // one batch, not one response per cluster
  ASSERT_EQ(out[0].type, ResourceType::kEndpoint);
  ASSERT_EQ(out[0].resources.size(), 2u);
  std::map<std::string, ResourceRef> byName;
  for (auto& r : out[0].resources) byName[r.name] = r;
  EXPECT_EQ(byName["a:80"].version, (*snap->find("a:80"))->version);
  EXPECT_EQ(byName["b:80"].version, (*snap->find("b:80"))->version);
  EXPECT_EQ(byName["a:80"].state->endpoints.size(), 2u);
  EXPECT_EQ(byName["b:80"].state->endpoints.size(), 3u);
  // Several clusters: an opaque version_info of its own, never one cluster's.
  EXPECT_EQ(out[0].versionInfo.rfind("batch-", 0), 0u) << out[0].versionInfo;
  EXPECT_FALSE(s.pending());
}

TEST(XdsStreamState, BatchesAreCappedByBytesRoundRobinAndAtLeastOneCluster) {
  // A budget below one cluster's estimate: every response still carries one.
  XdsStreamState tiny(1);
  auto snap = buildSnapshot(withEndpoints({{"a:80", 2}, {"b:80", 2}, {"c:80", 2}}), nullptr);
  tiny.onSnapshot(snap);
  tiny.onRequest(eds({"a:80", "b:80", "c:80"}));
  auto out = drain(tiny);
  ASSERT_EQ(out.size(), 3u);
  std::set<std::string> names;
  for (auto& r : out) {
    ASSERT_EQ(r.resources.size(), 1u);
    EXPECT_EQ(r.versionInfo, r.resources[0].version);  // one cluster: its own version
    names.insert(r.resources[0].name);
  }
  EXPECT_EQ(names.size(), 3u);
  EXPECT_NE(out[0].nonce, out[1].nonce);

  // 100 clusters of 100 endpoints (~5 KB each) under a 64 KiB budget: several
  // responses, each within the budget, every cluster exactly once.
  std::vector<std::pair<std::string, int>> many;
  std::vector<std::string> manyNames;
  for (int i = 0; i < 100; ++i) {
    many.push_back({fmt::format("s{}:80", i), 100});
    manyNames.push_back(many.back().first);
  }
  XdsStreamState capped(64 * 1024);
  capped.onSnapshot(buildSnapshot(withEndpoints(many), nullptr));
  capped.onRequest(eds(manyNames));
  out = drain(capped);
  EXPECT_GT(out.size(), 1u);
  EXPECT_LT(out.size(), 20u);
  std::map<std::string, int> seen;
  for (auto& r : out) {
    EXPECT_LE(r.resources.size() * 100 * 48, 64u * 1024);
    for (auto& res : r.resources) ++seen[res.name];
  }
  EXPECT_EQ(seen.size(), 100u);
  for (auto& [n, k] : seen) EXPECT_EQ(k, 1) << n;
}

TEST(XdsStreamState, ManyUpdatesWhileBlockedBecomeOneSendOfTheLatest) {
  XdsStreamState s;
  std::shared_ptr<const Snapshot> snap = buildSnapshot(withEndpoints({{"a:80", 1}, {"b:80", 1}}), nullptr);
  s.onSnapshot(snap);
  s.onRequest(eds({"a:80", "b:80"}));
  ASSERT_EQ(drain(s).size(), 1u);  // both clusters in one response

  // The transport is busy (the owner does not call next()) while 500 snapshots arrive.
  for (int i = 2; i <= 501; ++i) {
    auto source = withEndpoints({{"a:80", i}}, 2000 + i);
    source.services.push_back(withEndpoints({{"b:80", 1}}).services[0]);
    snap = buildSnapshot(source, snap.get());
    s.onSnapshot(snap);
  }
  EXPECT_TRUE(s.pending());
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);  // b did not change; a is sent once
  EXPECT_EQ(out[0].resources[0].name, "a:80");
  EXPECT_EQ(out[0].versionInfo, (*snap->find("a:80"))->version);
  EXPECT_EQ(out[0].resources[0].state->endpoints.size(), 501u);
  EXPECT_FALSE(s.pending());
}

TEST(XdsStreamState, ChangedAndChangedBackIsNotSent) {
  XdsStreamState s;
  auto v1 = buildSnapshot(withEndpoints({{"a:80", 1}}), nullptr);
  s.onSnapshot(v1);
  s.onRequest(eds({"a:80"}));
  ASSERT_EQ(drain(s).size(), 1u);
  auto v2 = buildSnapshot(withEndpoints({{"a:80", 2}}), v1.get());
  s.onSnapshot(v2);
  auto v3 = buildSnapshot(withEndpoints({{"a:80", 1}}), v2.get());
  s.onSnapshot(v3);
  EXPECT_TRUE(drain(s).empty());
}

TEST(XdsStreamState, AckAndNackNeverCauseAResend) {
  XdsStreamState s;
  auto snap = buildSnapshot(withEndpoints({{"a:80", 1}}), nullptr);
  s.onSnapshot(snap);
  s.onRequest(eds({"a:80"}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  XdsRequest nack = eds({"a:80"}, out[0].nonce, "");
  nack.hasError = true;
  nack.errorMessage = "rejected";
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(s.onRequest(nack), RequestKind::kNack);
    EXPECT_TRUE(drain(s).empty());
  }
  EXPECT_EQ(s.onRequest(eds({"a:80"}, out[0].nonce, out[0].versionInfo)), RequestKind::kAck);
  EXPECT_EQ(s.ackedVersion(ResourceType::kEndpoint), out[0].versionInfo);
  EXPECT_TRUE(drain(s).empty());
  // The next content change after a NACK is sent as usual.
  s.onSnapshot(buildSnapshot(withEndpoints({{"a:80", 2}}), snap.get()));
  EXPECT_EQ(drain(s).size(), 1u);
}

TEST(XdsStreamState, UnknownClusterIsAnsweredEmptyAndFilledWhenItAppears) {
  XdsStreamState s;
  auto v1 = buildSnapshot(withEndpoints({{"a:80", 1}}), nullptr);
  s.onSnapshot(v1);
  s.onRequest(eds({"nope:80"}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].versionInfo, kAbsentVersion);
  EXPECT_EQ(out[0].resources[0].name, "nope:80");
  EXPECT_EQ(out[0].resources[0].state, nullptr);
  auto v2 = buildSnapshot(withEndpoints({{"a:80", 1}, {"nope:80", 2}}), v1.get());
  s.onSnapshot(v2);
  out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_NE(out[0].resources[0].state, nullptr);
  EXPECT_EQ(out[0].resources[0].state->endpoints.size(), 2u);
  // Deleted again: the client is told at once (empty), never left with the old set.
  s.onSnapshot(buildSnapshot(withEndpoints({{"a:80", 1}}), v2.get()));
  out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].resources[0].state, nullptr);
}

TEST(XdsStreamState, UnsubscribedClustersAreForgotten) {
  XdsStreamState s;
  auto v1 = buildSnapshot(withEndpoints({{"a:80", 1}, {"b:80", 1}}), nullptr);
  s.onSnapshot(v1);
  s.onRequest(eds({"a:80", "b:80"}));
  s.onRequest(eds({"a:80"}));  // b dropped before anything was sent
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].resources[0].name, "a:80");
  EXPECT_EQ(s.subscribedCount(ResourceType::kEndpoint), 1u);
  s.onSnapshot(buildSnapshot(withEndpoints({{"a:80", 1}, {"b:80", 5}}), v1.get()));
  EXPECT_TRUE(drain(s).empty());
  // Re-subscribing sends the current state again (a new subscription).
  s.onRequest(eds({"a:80", "b:80"}, out[0].nonce));
  out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].resources[0].name, "b:80");
}

TEST(XdsStreamState, CdsListsExistingSubscribedClustersAndAnswersUnknownOnes) {
  XdsStreamState s;
  auto v1 = buildSnapshot(withEndpoints({{"a:80", 1}, {"b:80", 1}}), nullptr);
  s.onSnapshot(v1);
  s.onRequest(cds({"a:80", "zzz:80"}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, ResourceType::kCluster);
  ASSERT_EQ(out[0].resources.size(), 1u);  // zzz does not exist: absent from the response
  EXPECT_EQ(out[0].resources[0].name, "a:80");
  // Endpoint-only changes (of a subscribed or an unsubscribed cluster) send no CDS.
  auto v2 = buildSnapshot(withEndpoints({{"a:80", 4}, {"b:80", 3}}), v1.get());
  s.onSnapshot(v2);
  EXPECT_TRUE(drain(s).empty());
  // zzz appears: one response listing both.
  auto v3 = buildSnapshot(withEndpoints({{"a:80", 4}, {"b:80", 3}, {"zzz:80", 1}}), v2.get());
  s.onSnapshot(v3);
  out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].resources.size(), 2u);
}

TEST(XdsStreamState, CdsWildcardListsEverything) {
  XdsStreamState s;
  s.onSnapshot(buildSnapshot(withEndpoints({{"a:80", 1}, {"b:80", 1}}), nullptr));
  s.onRequest(cds({}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].resources.size(), 2u);
}

TEST(XdsStreamState, CdsIsSentBeforeEds) {
  XdsStreamState s;
  s.onSnapshot(buildSnapshot(withEndpoints({{"a:80", 1}}), nullptr));
  s.onRequest(eds({"a:80"}));
  s.onRequest(cds({"a:80"}));
  auto out = drain(s);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type, ResourceType::kCluster);
  EXPECT_EQ(out[1].type, ResourceType::kEndpoint);
}

TEST(XdsStreamState, UnknownTypeIsIgnored) {
  XdsStreamState s;
  XdsRequest r{"type.googleapis.com/envoy.config.listener.v3.Listener", {"x"}, "", "", false, ""};
  EXPECT_EQ(s.onRequest(r), RequestKind::kUnknownType);
  EXPECT_FALSE(s.next());
}

}  // namespace
}  // namespace weft::controller

namespace weft::controller {
namespace {

// ACKs repeat the whole subscription; the unchanged-list fast path must still
// see a list that did change, and endpoint-only snapshots must not cost CDS.
TEST(XdsStreamState, RepeatedNamesAreCheapButChangedNamesStillApply) {
  XdsStreamState s;
  auto snap = buildSnapshot(withEndpoints({{"a:80", 1}, {"b:80", 1}, {"c:80", 1}}), nullptr);
  s.onSnapshot(snap);
  s.onRequest(cds({"a:80", "b:80"}));
  s.onRequest(eds({"a:80", "b:80"}));
  auto first = drain(s);
  ASSERT_EQ(first.size(), 2u);  // CDS + one EDS carrying both clusters
  ASSERT_EQ(first.back().resources.size(), 2u);
  EXPECT_EQ(s.onRequest(eds({"a:80", "b:80"}, first.back().nonce, first.back().versionInfo)), RequestKind::kAck);
  EXPECT_TRUE(drain(s).empty());
  // Same names, another order: a new list, nothing new to send.
  s.onRequest(eds({"b:80", "a:80"}, first.back().nonce));
  EXPECT_TRUE(drain(s).empty());
  // One name more: only it is sent.
  s.onRequest(eds({"b:80", "a:80", "c:80"}, first.back().nonce));
  auto more = drain(s);
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].resources[0].name, "c:80");
  // One name less, then back: it is new to the stream again.
  s.onRequest(eds({"b:80", "a:80"}, more[0].nonce));
  s.onRequest(eds({"b:80", "a:80", "c:80"}, more[0].nonce));
  EXPECT_EQ(drain(s).size(), 1u);

  // Endpoint churn: EDS only; a new cluster in the CDS subscription: CDS.
  auto next = buildSnapshot(withEndpoints({{"a:80", 2}, {"b:80", 1}, {"c:80", 1}}), snap.get());
  EXPECT_EQ(next->cdsVersion, snap->cdsVersion);
  s.onSnapshot(next);
  auto churn = drain(s);
  ASSERT_EQ(churn.size(), 1u);
  EXPECT_EQ(churn[0].type, ResourceType::kEndpoint);
  auto grown = buildSnapshot(withEndpoints({{"a:80", 2}, {"b:80", 1}, {"c:80", 1}, {"d:80", 1}}), next.get());
  EXPECT_NE(grown->cdsVersion, next->cdsVersion);
  s.onRequest(cds({"a:80", "b:80", "d:80"}));
  s.onSnapshot(grown);
  auto listing = drain(s);
  ASSERT_FALSE(listing.empty());
  EXPECT_EQ(listing[0].type, ResourceType::kCluster);
  EXPECT_EQ(listing[0].resources.size(), 3u);
}

}  // namespace
}  // namespace weft::controller
