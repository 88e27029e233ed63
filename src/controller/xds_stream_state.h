#pragma once
// The per-stream state of the ADS server, free of gRPC and protobuf so it can
// be tested directly (test/unit/controller/xds_stream_state_test.cc).
//
// Level-triggered, coalescing: the stream keeps, per type, the set of
// subscribed names and the version last sent for each, plus the latest
// Snapshot (shared, never copied). A new snapshot or a new subscription only
// marks names dirty; next() builds ONE response from the latest state when the
// transport can take it. However many snapshots arrive while a write is
// outstanding, each resource is sent once, at its latest version. Memory is
// bounded by the number of subscribed names, never by the number of updates.
//
// Responses (state of the world):
//  - CDS: every response lists every subscribed cluster that exists (all
//    clusters for a wildcard subscription); a subscribed name missing from it
//    does not exist. Sent when that listing changes (endpoint changes do
//    not change a Cluster resource, so they send no CDS).
//  - EDS: ONE response carries every subscribed cluster that changed since
//    it was last sent (round robin, up to maxBatchBytes of estimated encoded
//    size, at least one), so the number of responses (and ACKs, each of
//    which repeats the whole subscription) is bounded by write completions,
//    not by changes. SotW EDS may carry a subset of the subscription. Each
//    resource carries its own version (ResourceRef::version, sent in an
//    envoy.service.discovery.v3.Resource wrapper), so a proxy can report
//    per-cluster versions that match the controller's; version_info is that
//    version when the response carries one cluster, else an opaque
//    "batch-<hash>". An unknown (or deleted) cluster is answered with an
//    empty ClusterLoadAssignment, version "absent": the client drops its old
//    set at once instead of keeping stale endpoints.
// A request never causes a resend of something already sent: an ACK or NACK
// with unchanged names changes nothing, so a NACKed version is never resent in
// a loop; the next content change is sent as usual.
//
// Not thread-safe: the owner (one gRPC stream) serialises calls.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/state_store.h"

namespace weft::controller {

inline constexpr std::string_view kClusterTypeUrl = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr std::string_view kEndpointTypeUrl = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

enum class ResourceType { kCluster, kEndpoint };
std::optional<ResourceType> resourceTypeOf(std::string_view typeUrl);
std::string_view typeUrlOf(ResourceType t);
std::string_view shortTypeName(ResourceType t);  // "cds" | "eds" (metric label)

struct XdsRequest {
  std::string typeUrl;
  std::vector<std::string> names;
  std::string versionInfo;
  std::string responseNonce;
  bool hasError = false;  // error_detail set: a NACK
  std::string errorMessage;
};

enum class RequestKind {
  kInitial,      // no nonce: a first request (or a subscription on a new stream)
  kAck,          // nonce, no error
  kNack,         // nonce with error_detail
  kUnknownType,  // a type this server does not serve (ignored)
};

struct ResourceRef {
  std::string name;
  std::shared_ptr<const ClusterState> state;  // null: absent
  std::string version;                        // the cluster's version, or "absent"
};

struct XdsResponse {
  ResourceType type;
  std::string versionInfo;
  std::string nonce;
  std::vector<ResourceRef> resources;
};

class XdsStreamState {
 public:
  // 1 MiB: far below gRPC's 4 MiB default receive limit, large enough for
  // hundreds of typical clusters per response.
  static constexpr size_t kDefaultMaxBatchBytes = 1 << 20;
  explicit XdsStreamState(size_t maxBatchBytes = kDefaultMaxBatchBytes) : maxBatchBytes_(maxBatchBytes) {}

  RequestKind onRequest(const XdsRequest& req);
  void onSnapshot(std::shared_ptr<const Snapshot> snap);
  // The next response to write, or nullopt when everything sent is current.
  // Records what it returns as sent.
  std::optional<XdsResponse> next();
  bool pending() const { return cdsDirty_ || !edsDirty_.empty(); }

  size_t subscribedCount(ResourceType t) const;
  // The version the client last ACKed for a type ("" before the first ACK).
  const std::string& ackedVersion(ResourceType t) const;
  const std::string& lastNonce(ResourceType t) const;

 private:
  struct EdsEntry {
    std::string sentVersion;  // "" before the first send
    bool queued = false;      // in edsDirty_
  };
  // A reference into the snapshot (or to the absent version): no copy per name.
  const std::string& versionOf(const std::string& name) const;
  void markEds(const std::string& name, EdsEntry& e);
  std::string cdsSignature() const;
  static size_t estimatedBytes(const std::string& name, const ClusterState* c);
  static std::string batchVersion(const std::vector<ResourceRef>& resources);
  std::string newNonce();

  size_t maxBatchBytes_;
  std::shared_ptr<const Snapshot> snap_ = std::make_shared<const Snapshot>();
  uint64_t nonceCounter_ = 0;

  // CDS
  bool cdsSubscribed_ = false;  // any CDS request seen
  bool cdsWildcard_ = false;
  std::vector<std::string> cdsNames_;  // sorted, unique
  std::string cdsSentSignature_;
  bool cdsDirty_ = false;
  // The names of the last request of each type, as sent: a client repeats its
  // whole subscription in every ACK, and an unchanged one (the common case,
  // one per response) must not cost a rebuild of the subscription.
  std::vector<std::string> lastNames_[2];

  // EDS
  std::map<std::string, EdsEntry> eds_;
  std::deque<std::string> edsDirty_;  // round robin over changed clusters

  std::string acked_[2];
  std::string nonce_[2];
};

}  // namespace weft::controller
