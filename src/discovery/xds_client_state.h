#pragma once
// The xDS client's protocol state, free of gRPC so it can be tested directly
// (test/unit/discovery/xds_client_state_test.cc): what is subscribed, what was
// applied, how a response is validated, and which requests to send.
//
// Validation (decodeEds / decodeCds) is all-or-nothing per response: one bad
// resource NACKs the whole response and nothing of it is applied (the
// response is the unit of ACK/NACK; see docs/discovery.md for how this
// compares with Envoy, which applies the clusters it accepted).
//  - the response's type_url must be CDS or EDS; every resource's Any type
//    must equal it and decode;
//  - EDS resources may be wrapped in envoy.service.discovery.v3.Resource
//    {name, version, resource} (the weft controller batches several clusters
//    per response that way): the inner Any must be a ClusterLoadAssignment,
//    a non-empty name must equal its cluster_name, and a non-empty version is
//    that cluster's version; unwrapped resources get the response's
//    version_info;
//  - EDS: cluster_name set and not twice in one response; endpoints are
//    socket addresses with a numeric IP and port 1..65535 (net::parseEndpoint),
//    no named ports, no endpoint_name, no LEDS; load_balancing_weight, when
//    set, >= 1. Localities and priorities are flattened into one set; an
//    address listed twice gets the sum of its weights; endpoints whose
//    health_status is UNHEALTHY, DRAINING or TIMEOUT are left out.
//  - CDS: every Cluster has a name; metadata filter_metadata["weft"].protocol,
//    when present, is the string "http1" or "http2".
//
// Existence: the weft controller answers an unknown or deleted cluster on EDS
// with an empty assignment and version "absent" (per resource) (docs/controller.md);
// that is what sets ClusterUpdate::exists = false. A name missing from a CDS
// response is NOT taken as "does not exist": a SotW CDS response may have been
// built from the subscription before the latest one (subscribe A, then B:
// the answer to [A] lists no B), so CDS absence would flap new clusters to
// "unknown". EDS answers per resource and has no such race.
//
// Not thread-safe: the client's loop thread owns it.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "discovery/discovery_client.h"

namespace envoy::service::discovery::v3 {
class DiscoveryResponse;
class DiscoveryRequest;
}  // namespace envoy::service::discovery::v3

namespace weft::discovery {

inline constexpr std::string_view kClusterTypeUrl = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr std::string_view kEndpointTypeUrl = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
inline constexpr std::string_view kAbsentVersion = "absent";
inline constexpr std::string_view kResourceWrapperTypeUrl = "type.googleapis.com/envoy.service.discovery.v3.Resource";

enum class XdsType { kCluster, kEndpoint };
std::string_view typeUrlOf(XdsType t);
std::string_view shortTypeName(XdsType t);  // "cds" | "eds" (metric label)

struct DecodedAssignment {
  std::string cluster;
  std::string version;  // the wrapper's version, else the response's version_info
  std::vector<model::Endpoint> endpoints;
};
struct DecodedCluster {
  std::string name;
  std::optional<std::string> protocol;
};
// A decoded response or the reason it is invalid.
using EdsResult = std::variant<std::vector<DecodedAssignment>, std::string>;
using CdsResult = std::variant<std::vector<DecodedCluster>, std::string>;
EdsResult decodeEds(const envoy::service::discovery::v3::DiscoveryResponse& r);
CdsResult decodeCds(const envoy::service::discovery::v3::DiscoveryResponse& r);

// The whole subscription of a type, shared: every ACK repeats it, and a
// response must not cost a copy of 1 000 names (XdsClientState rebuilds it
// only when the subscription changes).
using Names = std::shared_ptr<const std::vector<std::string>>;

// One request to send; toProto() / RequestEncoder make the DiscoveryRequest.
struct OutRequest {
  XdsType type;
  Names names;                     // the whole current subscription of the type (never null)
  std::string versionInfo;         // last version accepted for the type
  std::string responseNonce;       // nonce of the latest response of the type ("" before one)
  std::string errorDetail;         // non-empty: a NACK
};
void toProto(const OutRequest& in, const std::string& nodeId, envoy::service::discovery::v3::DiscoveryRequest* out);

// Encodes requests, re-encoding the names only when they are not the same
// Names object as the last request of that type: an ACK then costs no
// allocation per subscribed name (its serialisation still writes them, as
// SotW requires every request to carry the whole subscription).
// Not thread-safe; the returned message is valid until the next encode().
class RequestEncoder {
 public:
  explicit RequestEncoder(std::string nodeId);
  ~RequestEncoder();
  const envoy::service::discovery::v3::DiscoveryRequest& encode(const OutRequest& in);

 private:
  std::string nodeId_;
  Names names_[2];  // held, so a cached pointer can never be a reused address
  std::unique_ptr<envoy::service::discovery::v3::DiscoveryRequest> msg_[2];
};

struct ResponseOutcome {
  std::optional<XdsType> type;  // nullopt: a type this client never asked for (ignored, no reply)
  std::optional<OutRequest> reply;  // the ACK or NACK
  bool nacked = false;
  std::string error;  // the NACK reason
  std::vector<ClusterUpdate> updates;  // accepted, in order
};

class XdsClientState {
 public:
  using Clock = std::chrono::steady_clock;

  // Return true when the subscription changed (send subscriptionRequests()).
  bool subscribe(const std::string& name);
  bool unsubscribe(const std::string& name);
  bool subscribed(const std::string& name) const { return clusters_.count(name) > 0; }
  // The applied set of a subscribed cluster as an update; nullopt before its first EDS answer.
  std::optional<ClusterUpdate> applied(const std::string& name) const;

  // A new stream: per-stream state (nonces, which types were requested) is
  // reset; applied sets are kept (they serve until the first response).
  void onStreamStart();
  // The requests carrying the whole current subscription, CDS first. A type
  // is left out while it has no names and was never requested on this
  // stream: an empty first request would be a wildcard subscription.
  std::vector<OutRequest> subscriptionRequests();
  // Two EDS requests, without and then with `name`: a SotW server resends
  // only names new to the stream. Empty when `name` is not subscribed.
  std::vector<OutRequest> resubscribeRequests(const std::string& name);

  ResponseOutcome onResponse(const envoy::service::discovery::v3::DiscoveryResponse& r, Clock::time_point now);

  std::vector<DiscoveryClient::ClusterStatus> status() const;
  // One cluster's status (a subscribed name); for updating a published copy
  // per delivered update instead of copying every cluster per response.
  std::optional<DiscoveryClient::ClusterStatus> statusOf(const std::string& name) const;

 private:
  struct Cluster {
    bool haveEds = false;
    std::string version;
    std::vector<model::Endpoint> endpoints;
    Clock::time_point appliedAt{};
    bool haveCds = false;
    std::optional<std::string> protocol;
  };
  struct PerType {
    bool requested = false;  // a request of this type went out on this stream
    std::string acceptedVersion;
    std::string lastNonce;
  };
  const Names& names() const;
  OutRequest request(XdsType t, Names names) const;
  static ClusterUpdate updateOf(const std::string& name, const Cluster& c);

  std::map<std::string, Cluster> clusters_;
  mutable Names names_;  // null: rebuild (the subscription changed)
  PerType types_[2];
};

}  // namespace weft::discovery
