#pragma once
// Turning controller state into xDS v3 resources (protobuf only, no gRPC).
//
//  - Cluster: name, type EDS over ADS, and the upstream protocol (when the
//    source knows it) in metadata filter_metadata["weft"] = {protocol:
//    "http1"|"http2", kind: "service"|"split"}. Metadata rather than
//    typed_extension_protocol_options keeps the compiled proto closure small;
//    weft's proxy reads it, other xDS clients ignore it.
//  - ClusterLoadAssignment: cluster_name and every endpoint in one locality,
//    weight as load_balancing_weight. An absent cluster: no endpoints. Each
//    is wrapped in an envoy.service.discovery.v3.Resource {name, version,
//    resource}: an EDS response batches several clusters, each with its own
//    version.
// Any thread; pure.
#include "controller/xds_stream_state.h"

namespace envoy::service::discovery::v3 {
class DiscoveryResponse;
}

namespace weft::controller {

void fillDiscoveryResponse(const XdsResponse& in, envoy::service::discovery::v3::DiscoveryResponse* out);

}  // namespace weft::controller
