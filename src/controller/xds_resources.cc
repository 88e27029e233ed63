#include "controller/xds_resources.h"

#include <envoy/config/cluster/v3/cluster.pb.h>
#include <envoy/config/endpoint/v3/endpoint.pb.h>
#include <envoy/service/discovery/v3/discovery.pb.h>
#include <google/protobuf/struct.pb.h>

#include "net/address.h"

namespace weft::controller {
namespace {

namespace cluster_v3 = envoy::config::cluster::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;

void fillCluster(const ClusterState& c, cluster_v3::Cluster* out) {
  out->set_name(c.name);
  out->set_type(cluster_v3::Cluster::EDS);
  out->mutable_eds_cluster_config()->mutable_eds_config()->mutable_ads();
  auto& fields = *(*out->mutable_metadata()->mutable_filter_metadata())["weft"].mutable_fields();
  fields["kind"].set_string_value(c.isSplit ? "split" : "service");
  if (c.protocol != Protocol::kUnspecified) fields["protocol"].set_string_value(std::string(protocolName(c.protocol)));
}

void fillAssignment(const ResourceRef& r, endpoint_v3::ClusterLoadAssignment* out) {
  out->set_cluster_name(r.name);
  if (!r.state || r.state->endpoints.empty()) return;
  auto* locality = out->add_endpoints();
  for (const auto& e : r.state->endpoints) {
    auto parsed = net::parseEndpoint(e.address);
    if (!parsed) continue;  // the source validated every address; stay total
    auto* lb = locality->add_lb_endpoints();
    auto* sa = lb->mutable_endpoint()->mutable_address()->mutable_socket_address();
    sa->set_address(parsed->address().to_string());
    sa->set_port_value(parsed->port());
    lb->mutable_load_balancing_weight()->set_value(e.weight);
  }
}

}  // namespace

void fillDiscoveryResponse(const XdsResponse& in, envoy::service::discovery::v3::DiscoveryResponse* out) {
  out->Clear();
  out->set_version_info(in.versionInfo);
  out->set_nonce(in.nonce);
  out->set_type_url(std::string(typeUrlOf(in.type)));
  for (const auto& r : in.resources) {
    if (in.type == ResourceType::kCluster) {
      cluster_v3::Cluster c;
      if (r.state) fillCluster(*r.state, &c);
      out->add_resources()->PackFrom(c);
    } else {
      // Wrapped so each ClusterLoadAssignment of a batch carries its own
      // version (xDS allows Resource wrappers in SotW responses).
      envoy::service::discovery::v3::Resource wrapped;
      wrapped.set_name(r.name);
      wrapped.set_version(r.version);
      endpoint_v3::ClusterLoadAssignment a;
      fillAssignment(r, &a);
      wrapped.mutable_resource()->PackFrom(a);
      out->add_resources()->PackFrom(wrapped);
    }
  }
}

}  // namespace weft::controller
