#include "discovery/xds_client_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <envoy/config/cluster/v3/cluster.pb.h>
#include <envoy/config/endpoint/v3/endpoint.pb.h>
#include <envoy/service/discovery/v3/discovery.pb.h>
#include <google/protobuf/struct.pb.h>

namespace weft::discovery {
namespace {

namespace discovery_v3 = envoy::service::discovery::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace cluster_v3 = envoy::config::cluster::v3;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Ep {
  std::string ip;
  uint32_t port;
  std::optional<uint32_t> weight;
  envoy::config::core::v3::HealthStatus health = envoy::config::core::v3::UNKNOWN;
};

endpoint_v3::ClusterLoadAssignment assignment(const std::string& cluster, const std::vector<Ep>& eps) {
  endpoint_v3::ClusterLoadAssignment cla;
  cla.set_cluster_name(cluster);
  if (eps.empty()) return cla;
  auto* loc = cla.add_endpoints();
  for (const auto& e : eps) {
    auto* lb = loc->add_lb_endpoints();
    auto* sa = lb->mutable_endpoint()->mutable_address()->mutable_socket_address();
    sa->set_address(e.ip);
    sa->set_port_value(e.port);
    if (e.weight) lb->mutable_load_balancing_weight()->set_value(*e.weight);
    lb->set_health_status(e.health);
  }
  return cla;
}

discovery_v3::DiscoveryResponse eds(const std::string& version, const std::string& nonce,
                                    const std::vector<endpoint_v3::ClusterLoadAssignment>& clas) {
  discovery_v3::DiscoveryResponse r;
  r.set_type_url(std::string(kEndpointTypeUrl));
  r.set_version_info(version);
  r.set_nonce(nonce);
  for (const auto& c : clas) r.add_resources()->PackFrom(c);
  return r;
}

cluster_v3::Cluster cluster(const std::string& name, std::optional<std::string> protocol) {
  cluster_v3::Cluster c;
  c.set_name(name);
  c.set_type(cluster_v3::Cluster::EDS);
  auto& fields = *(*c.mutable_metadata()->mutable_filter_metadata())["weft"].mutable_fields();
  fields["kind"].set_string_value("service");
  if (protocol) fields["protocol"].set_string_value(*protocol);
  return c;
}

discovery_v3::DiscoveryResponse cds(const std::string& version, const std::string& nonce,
                                    const std::vector<cluster_v3::Cluster>& cs) {
  discovery_v3::DiscoveryResponse r;
  r.set_type_url(std::string(kClusterTypeUrl));
  r.set_version_info(version);
  r.set_nonce(nonce);
  for (const auto& c : cs) r.add_resources()->PackFrom(c);
  return r;
}

const auto kNow = std::chrono::steady_clock::now();

TEST(DecodeEds, CanonicalAddressesWeightsDuplicatesAndHealth) {
  auto r = eds("v1", "1",
               {assignment("api.test:80", {{"10.0.0.1", 80, std::nullopt},
                                           {"::1", 8080, 3},
                                           {"10.0.0.1", 80, 2},  // listed twice: weights add
                                           {"10.0.0.9", 80, 1, envoy::config::core::v3::DRAINING},
                                           {"10.0.0.8", 80, 1, envoy::config::core::v3::HEALTHY}})});
  auto out = decodeEds(r);
  ASSERT_TRUE(std::holds_alternative<std::vector<DecodedAssignment>>(out)) << std::get<std::string>(out);
  auto& v = std::get<std::vector<DecodedAssignment>>(out);
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].cluster, "api.test:80");
  EXPECT_THAT(v[0].endpoints, ElementsAre(model::Endpoint{"10.0.0.1:80", 3}, model::Endpoint{"[::1]:8080", 3},
                                          model::Endpoint{"10.0.0.8:80", 1}));
}

TEST(DecodeEds, LocalitiesAndPrioritiesAreFlattened) {
  auto cla = assignment("a:80", {{"10.0.0.1", 1, std::nullopt}});
  auto* second = cla.add_endpoints();
  second->set_priority(1);
  auto* sa = second->add_lb_endpoints()->mutable_endpoint()->mutable_address()->mutable_socket_address();
  sa->set_address("10.0.0.2");
  sa->set_port_value(2);
  auto out = decodeEds(eds("v", "1", {cla}));
  ASSERT_TRUE(std::holds_alternative<std::vector<DecodedAssignment>>(out));
  EXPECT_EQ(std::get<std::vector<DecodedAssignment>>(out)[0].endpoints.size(), 2u);
}

std::string edsError(const discovery_v3::DiscoveryResponse& r) {
  auto out = decodeEds(r);
  return std::holds_alternative<std::string>(out) ? std::get<std::string>(out) : "";
}

TEST(DecodeEds, RejectsWithAReason) {
  EXPECT_THAT(edsError(eds("v", "1", {assignment("a:80", {{"10.0.0.1", 80, 0}})})), HasSubstr("weight"));
  EXPECT_THAT(edsError(eds("v", "1", {assignment("a:80", {{"api.test", 80, 1}})})), HasSubstr("not a numeric"));
  EXPECT_THAT(edsError(eds("v", "1", {assignment("a:80", {{"localhost", 80, 1}})})), HasSubstr("not a numeric"));
  EXPECT_THAT(edsError(eds("v", "1", {assignment("a:80", {{"10.0.0.1", 0, 1}})})), HasSubstr("port"));
  EXPECT_THAT(edsError(eds("v", "1", {assignment("a:80", {{"10.0.0.1", 70000, 1}})})), HasSubstr("port"));
  EXPECT_THAT(edsError(eds("v", "1", {assignment("", {})})), HasSubstr("cluster_name"));
  EXPECT_THAT(edsError(eds("v", "1", {assignment("a:80", {}), assignment("a:80", {})})), HasSubstr("twice"));

  auto named = assignment("a:80", {});
  named.add_endpoints()->add_lb_endpoints()->set_endpoint_name("ep-1");
  EXPECT_THAT(edsError(eds("v", "1", {named})), HasSubstr("endpoint_name"));

  auto pipe = assignment("a:80", {});
  pipe.add_endpoints()->add_lb_endpoints()->mutable_endpoint()->mutable_address()->mutable_pipe()->set_path("/x");
  EXPECT_THAT(edsError(eds("v", "1", {pipe})), HasSubstr("socket_address"));

  // The Any's type must be the response's, and it must decode.
  auto wrongType = eds("v", "1", {});
  wrongType.add_resources()->PackFrom(cluster("a:80", std::nullopt));
  EXPECT_THAT(edsError(wrongType), HasSubstr("has type"));
  auto garbage = eds("v", "1", {});
  auto* any = garbage.add_resources();
  any->set_type_url(std::string(kEndpointTypeUrl));
  any->set_value("\xff\xff\xff\xff");
  EXPECT_THAT(edsError(garbage), HasSubstr("does not decode"));

  auto cdsTyped = eds("v", "1", {});
  cdsTyped.set_type_url(std::string(kClusterTypeUrl));
  EXPECT_THAT(edsError(cdsTyped), HasSubstr("not EDS"));
}

TEST(DecodeCds, ProtocolFromWeftMetadata) {
  auto out = decodeCds(cds("c1", "1", {cluster("a:80", "http2"), cluster("b:80", std::nullopt)}));
  ASSERT_TRUE(std::holds_alternative<std::vector<DecodedCluster>>(out)) << std::get<std::string>(out);
  auto& v = std::get<std::vector<DecodedCluster>>(out);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].protocol, "http2");
  EXPECT_EQ(v[1].protocol, std::nullopt);

  auto bad = decodeCds(cds("c1", "1", {cluster("a:80", "spdy")}));
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_THAT(std::get<std::string>(bad), HasSubstr("http1"));
  auto unnamed = decodeCds(cds("c1", "1", {cluster("", std::nullopt)}));
  ASSERT_TRUE(std::holds_alternative<std::string>(unnamed));
}

TEST(XdsClientState, SubscriptionRequestsAreWholeAndNeverAnAccidentalWildcard) {
  XdsClientState s;
  EXPECT_TRUE(s.subscriptionRequests().empty());  // nothing subscribed: an empty CDS request would be a wildcard
  EXPECT_TRUE(s.subscribe("b:80"));
  EXPECT_TRUE(s.subscribe("a:80"));
  EXPECT_FALSE(s.subscribe("a:80"));  // idempotent
  auto reqs = s.subscriptionRequests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].type, XdsType::kCluster);  // CDS first
  EXPECT_EQ(reqs[1].type, XdsType::kEndpoint);
  EXPECT_THAT(*reqs[1].names, ElementsAre("a:80", "b:80"));
  EXPECT_TRUE(reqs[1].responseNonce.empty());

  EXPECT_TRUE(s.unsubscribe("a:80"));
  EXPECT_TRUE(s.unsubscribe("b:80"));
  EXPECT_FALSE(s.unsubscribe("b:80"));
  reqs = s.subscriptionRequests();  // requested before on this stream: empty now means "none"
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[0].names->empty());
  s.onStreamStart();
  EXPECT_TRUE(s.subscriptionRequests().empty());  // a new stream: nothing to say
}

TEST(XdsClientState, AcceptedEdsIsDeliveredWholeAndAcked) {
  XdsClientState s;
  s.subscribe("api.test:80");
  s.subscriptionRequests();
  auto out = s.onResponse(eds("v1", "7", {assignment("api.test:80", {{"10.0.0.1", 80, 1}, {"10.0.0.2", 80, 2}})}), kNow);
  EXPECT_FALSE(out.nacked);
  ASSERT_EQ(out.updates.size(), 1u);
  EXPECT_EQ(out.updates[0].name, "api.test:80");
  EXPECT_EQ(out.updates[0].version, "v1");
  EXPECT_TRUE(out.updates[0].exists);
  EXPECT_EQ(out.updates[0].endpoints.size(), 2u);
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->type, XdsType::kEndpoint);
  EXPECT_EQ(out.reply->versionInfo, "v1");
  EXPECT_EQ(out.reply->responseNonce, "7");
  EXPECT_TRUE(out.reply->errorDetail.empty());
  EXPECT_THAT(*out.reply->names, ElementsAre("api.test:80"));

  // Replace, never merge: the next set is the whole truth.
  out = s.onResponse(eds("v2", "8", {assignment("api.test:80", {{"10.0.0.3", 80, 1}})}), kNow);
  ASSERT_EQ(out.updates.size(), 1u);
  EXPECT_THAT(out.updates[0].endpoints, ElementsAre(model::Endpoint{"10.0.0.3:80", 1}));
  auto st = s.status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].version, "v2");
  EXPECT_EQ(st[0].endpoints, 1u);
}

TEST(XdsClientState, InvalidResponseIsNackedAndThePreviousVersionKept) {
  XdsClientState s;
  s.subscribe("a:80");
  s.subscribe("b:80");
  s.subscriptionRequests();
  s.onResponse(eds("v1", "1", {assignment("a:80", {{"10.0.0.1", 80, 1}})}), kNow);
  // One bad resource rejects the whole response, the good one included.
  auto out = s.onResponse(
      eds("v2", "2", {assignment("b:80", {{"10.0.0.2", 80, 1}}), assignment("a:80", {{"10.0.0.9", 80, 0}})}), kNow);
  EXPECT_TRUE(out.nacked);
  EXPECT_THAT(out.error, HasSubstr("weight"));
  EXPECT_TRUE(out.updates.empty());
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->versionInfo, "v1");  // the version still applied
  EXPECT_EQ(out.reply->responseNonce, "2");
  EXPECT_EQ(out.reply->errorDetail, out.error);
  auto st = s.status();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].version, "v1");
  EXPECT_EQ(st[0].endpoints, 1u);
  EXPECT_EQ(st[1].version, "");  // b never applied

  discovery_v3::DiscoveryRequest req;
  toProto(*out.reply, "node-1", &req);
  EXPECT_EQ(req.type_url(), kEndpointTypeUrl);
  EXPECT_EQ(req.node().id(), "node-1");
  EXPECT_EQ(req.error_detail().code(), 3);
  EXPECT_THAT(req.error_detail().message(), HasSubstr("weight"));
  EXPECT_EQ(req.resource_names_size(), 2);
}

TEST(XdsClientState, AbsentClusterDoesNotExistAndUnsubscribedNamesAreIgnored) {
  XdsClientState s;
  s.subscribe("gone:80");
  auto out = s.onResponse(eds("v1", "1", {assignment("gone:80", {{"10.0.0.1", 80, 1}})}), kNow);
  ASSERT_EQ(out.updates.size(), 1u);
  EXPECT_TRUE(out.updates[0].exists);
  out = s.onResponse(eds(std::string(kAbsentVersion), "2", {assignment("gone:80", {})}), kNow);
  ASSERT_EQ(out.updates.size(), 1u);
  EXPECT_FALSE(out.updates[0].exists);
  EXPECT_TRUE(out.updates[0].endpoints.empty());
  EXPECT_FALSE(s.status()[0].exists);
  // "absent" with endpoints contradicts itself: NACKed, nothing delivered
  // (found by the xds_response fuzz target's checks).
  out = s.onResponse(eds(std::string(kAbsentVersion), "2b", {assignment("gone:80", {{"10.0.0.1", 80, 1}})}), kNow);
  EXPECT_TRUE(out.nacked);
  EXPECT_THAT(out.error, HasSubstr("absent"));
  EXPECT_TRUE(out.updates.empty());

  out = s.onResponse(eds("v9", "3", {assignment("other:80", {{"10.0.0.1", 80, 1}})}), kNow);
  EXPECT_FALSE(out.nacked);
  EXPECT_TRUE(out.updates.empty());
  ASSERT_TRUE(out.reply);  // still ACKed
  EXPECT_EQ(out.reply->versionInfo, "v9");
}

TEST(XdsClientState, CdsCarriesTheProtocolAndItsAbsenceChangesNothing) {
  XdsClientState s;
  s.subscribe("a:80");
  s.subscriptionRequests();
  // CDS before EDS: nothing to deliver yet.
  auto out = s.onResponse(cds("c1", "1", {cluster("a:80", "http2")}), kNow);
  EXPECT_TRUE(out.updates.empty());
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->type, XdsType::kCluster);
  EXPECT_EQ(out.reply->versionInfo, "c1");
  out = s.onResponse(eds("v1", "2", {assignment("a:80", {{"10.0.0.1", 80, 1}})}), kNow);
  ASSERT_EQ(out.updates.size(), 1u);
  EXPECT_EQ(out.updates[0].protocol, "http2");

  // A protocol change re-delivers the same set with the new protocol.
  out = s.onResponse(cds("c2", "3", {cluster("a:80", "http1")}), kNow);
  ASSERT_EQ(out.updates.size(), 1u);
  EXPECT_EQ(out.updates[0].protocol, "http1");
  EXPECT_EQ(out.updates[0].version, "v1");
  EXPECT_EQ(out.updates[0].endpoints.size(), 1u);
  // The same listing again: nothing.
  EXPECT_TRUE(s.onResponse(cds("c2", "4", {cluster("a:80", "http1")}), kNow).updates.empty());
  // Missing from CDS (possibly an answer to an older subscription): no flap.
  out = s.onResponse(cds("c3", "5", {}), kNow);
  EXPECT_TRUE(out.updates.empty());
  EXPECT_TRUE(s.status()[0].exists);

  auto bad = s.onResponse(cds("c4", "6", {cluster("a:80", "h3")}), kNow);
  EXPECT_TRUE(bad.nacked);
  EXPECT_EQ(bad.reply->versionInfo, "c3");
}

TEST(XdsClientState, UnknownTypeIsIgnoredWithoutAReply) {
  XdsClientState s;
  s.subscribe("a:80");
  discovery_v3::DiscoveryResponse r;
  r.set_type_url("type.googleapis.com/envoy.config.listener.v3.Listener");
  r.set_nonce("1");
  auto out = s.onResponse(r, kNow);
  EXPECT_FALSE(out.type);
  EXPECT_FALSE(out.reply);
}

TEST(XdsClientState, ResubscribeSendsTheNameAwayAndBack) {
  XdsClientState s;
  EXPECT_TRUE(s.resubscribeRequests("a:80").empty());  // not subscribed
  s.subscribe("a:80");
  s.subscribe("b:80");
  s.subscriptionRequests();
  s.onResponse(eds("v1", "5", {assignment("a:80", {{"10.0.0.1", 80, 1}})}), kNow);
  auto reqs = s.resubscribeRequests("a:80");
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].type, XdsType::kEndpoint);
  EXPECT_THAT(*reqs[0].names, ElementsAre("b:80"));
  EXPECT_THAT(*reqs[1].names, ElementsAre("a:80", "b:80"));
  EXPECT_EQ(reqs[1].responseNonce, "5");
  // The applied set keeps serving meanwhile.
  EXPECT_EQ(s.status()[0].version, "v1");
}

TEST(XdsClientState, NewStreamForgetsNoncesButKeepsAppliedSets) {
  XdsClientState s;
  s.subscribe("a:80");
  s.subscriptionRequests();
  s.onResponse(eds("v1", "5", {assignment("a:80", {{"10.0.0.1", 80, 1}})}), kNow);
  s.onStreamStart();
  auto reqs = s.subscriptionRequests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_TRUE(reqs[1].responseNonce.empty());
  EXPECT_EQ(reqs[1].versionInfo, "v1");
  EXPECT_EQ(s.status()[0].version, "v1");
  EXPECT_EQ(s.status()[0].endpoints, 1u);
}

// A batched response as the weft controller sends it: each ClusterLoadAssignment
// wrapped in a Resource carrying its name and version.
discovery_v3::DiscoveryResponse wrappedEds(
    const std::string& nonce, const std::vector<std::pair<std::string, endpoint_v3::ClusterLoadAssignment>>& items) {
  discovery_v3::DiscoveryResponse r;
  r.set_type_url(std::string(kEndpointTypeUrl));
  r.set_version_info("batch-1");
  r.set_nonce(nonce);
  for (const auto& [version, cla] : items) {
    discovery_v3::Resource w;
    w.set_name(cla.cluster_name());
    w.set_version(version);
    w.mutable_resource()->PackFrom(cla);
    r.add_resources()->PackFrom(w);
  }
  return r;
}

TEST(XdsClientState, BatchedWrappedResourcesCarryPerClusterVersions) {
  XdsClientState s;
  for (auto n : {"a:80", "b:80", "c:80"}) s.subscribe(n);
  s.subscriptionRequests();
  auto out = s.onResponse(wrappedEds("1", {{"va", assignment("a:80", {{"10.0.0.1", 80, 1}})},
                                            {"vb", assignment("b:80", {{"10.0.0.2", 80, 1}, {"10.0.0.3", 80, 1}})},
                                            {"absent", assignment("c:80", {})}}),
                          kNow);
  EXPECT_FALSE(out.nacked) << out.error;
  ASSERT_EQ(out.updates.size(), 3u);
  EXPECT_EQ(out.updates[0].version, "va");
  EXPECT_EQ(out.updates[1].version, "vb");
  EXPECT_EQ(out.updates[1].endpoints.size(), 2u);
  EXPECT_FALSE(out.updates[2].exists);  // per-resource "absent"
  ASSERT_TRUE(out.reply);
  EXPECT_EQ(out.reply->versionInfo, "batch-1");  // the response's version is ACKed
  auto st = s.status();
  ASSERT_EQ(st.size(), 3u);
  EXPECT_EQ(st[0].version, "va");
  EXPECT_EQ(st[1].version, "vb");
  EXPECT_EQ(st[2].version, "absent");
  // A later batch with only b: a keeps its version (a subset, not a replacement of the type).
  out = s.onResponse(wrappedEds("2", {{"vb2", assignment("b:80", {{"10.0.0.4", 80, 1}})}}), kNow);
  ASSERT_EQ(out.updates.size(), 1u);
  EXPECT_EQ(s.statusOf("a:80")->version, "va");
  EXPECT_EQ(s.statusOf("b:80")->version, "vb2");
  EXPECT_EQ(s.statusOf("b:80")->endpoints, 1u);
  EXPECT_FALSE(s.statusOf("zzz:80"));
}

TEST(DecodeEds, RejectsBadWrappers) {
  auto r = wrappedEds("1", {{"v", assignment("a:80", {{"10.0.0.1", 80, 1}})}});
  // Wrapper name differs from the assignment's cluster.
  auto bad = r;
  discovery_v3::Resource w;
  ASSERT_TRUE(bad.resources(0).UnpackTo(&w));
  w.set_name("b:80");
  bad.mutable_resources(0)->PackFrom(w);
  auto res = decodeEds(bad);
  ASSERT_TRUE(std::holds_alternative<std::string>(res));
  EXPECT_THAT(std::get<std::string>(res), HasSubstr("differs"));
  // Wrapped resource of another type.
  bad = r;
  w.set_name("a:80");
  w.mutable_resource()->PackFrom(cluster("a:80", std::nullopt));
  bad.mutable_resources(0)->PackFrom(w);
  res = decodeEds(bad);
  ASSERT_TRUE(std::holds_alternative<std::string>(res));
  EXPECT_THAT(std::get<std::string>(res), HasSubstr("Cluster"));
  // Per-resource "absent" with endpoints contradicts itself.
  res = decodeEds(wrappedEds("1", {{"absent", assignment("a:80", {{"10.0.0.1", 80, 1}})}}));
  ASSERT_TRUE(std::holds_alternative<std::string>(res));
  EXPECT_THAT(std::get<std::string>(res), HasSubstr("absent"));
  // One bad wrapped resource rejects the whole batch.
  XdsClientState s;
  s.subscribe("a:80");
  s.subscribe("b:80");
  auto out = s.onResponse(wrappedEds("1", {{"va", assignment("a:80", {{"10.0.0.1", 80, 1}})},
                                            {"vb", assignment("b:80", {{"10.0.0.2", 80, 0}})}}),
                          kNow);
  EXPECT_TRUE(out.nacked);
  EXPECT_TRUE(out.updates.empty());
  EXPECT_EQ(s.statusOf("a:80")->version, "");
}

TEST(RequestEncoder, ReusesNamesUntilTheSubscriptionChanges) {
  XdsClientState s;
  s.subscribe("a:80");
  s.subscribe("b:80");
  RequestEncoder enc("node-1");
  auto reqs = s.subscriptionRequests();
  const auto& first = enc.encode(reqs[1]);
  EXPECT_EQ(first.resource_names_size(), 2);
  auto out = s.onResponse(eds("v1", "1", {assignment("a:80", {{"10.0.0.1", 80, 1}})}), kNow);
  EXPECT_EQ(out.reply->names, reqs[1].names);  // the same shared list, not a copy
  const auto& ack = enc.encode(*out.reply);
  EXPECT_EQ(ack.version_info(), "v1");
  EXPECT_EQ(ack.response_nonce(), "1");
  EXPECT_FALSE(ack.has_error_detail());
  EXPECT_EQ(ack.resource_names_size(), 2);
  EXPECT_EQ(ack.node().id(), "node-1");
  out = s.onResponse(eds("v2", "2", {assignment("a:80", {{"10.0.0.1", 80, 0}})}), kNow);
  ASSERT_TRUE(out.nacked);
  EXPECT_TRUE(enc.encode(*out.reply).has_error_detail());
  out = s.onResponse(eds("v3", "3", {assignment("a:80", {{"10.0.0.1", 80, 1}})}), kNow);
  EXPECT_FALSE(enc.encode(*out.reply).has_error_detail());  // cleared again
  // A new subscription is a new list, encoded afresh.
  s.subscribe("c:80");
  out = s.onResponse(eds("v4", "4", {assignment("a:80", {{"10.0.0.1", 80, 1}})}), kNow);
  const auto& grown = enc.encode(*out.reply);
  ASSERT_EQ(grown.resource_names_size(), 3);
  EXPECT_EQ(grown.resource_names(2), "c:80");
  EXPECT_EQ(grown.version_info(), "v4");
}

}  // namespace
}  // namespace weft::discovery
