#include "discovery/xds_client_state.h"

#include <algorithm>
#include <limits>
#include <set>

#include <envoy/config/cluster/v3/cluster.pb.h>
#include <envoy/config/endpoint/v3/endpoint.pb.h>
#include <envoy/service/discovery/v3/discovery.pb.h>
#include <fmt/format.h>
#include <google/protobuf/struct.pb.h>

#include "net/address.h"

namespace weft::discovery {

namespace discovery_v3 = envoy::service::discovery::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace cluster_v3 = envoy::config::cluster::v3;
namespace core_v3 = envoy::config::core::v3;

std::string_view typeUrlOf(XdsType t) { return t == XdsType::kCluster ? kClusterTypeUrl : kEndpointTypeUrl; }
std::string_view shortTypeName(XdsType t) { return t == XdsType::kCluster ? "cds" : "eds"; }

namespace {

// Checks one LbEndpoint and adds it to `out` (summing a repeated address).
// Returns the reason when it is invalid.
std::optional<std::string> addEndpoint(const endpoint_v3::LbEndpoint& lb, std::vector<model::Endpoint>& out) {
  if (!lb.has_endpoint()) return "endpoint_name (named endpoints) is not supported";
  const auto& addr = lb.endpoint().address();
  if (!addr.has_socket_address()) return "endpoint address is not a socket_address";
  const auto& sa = addr.socket_address();
  if (sa.has_named_port()) return fmt::format("endpoint {}: named ports are not supported", sa.address());
  if (sa.protocol() != core_v3::SocketAddress::TCP) return fmt::format("endpoint {}: not TCP", sa.address());
  if (sa.port_value() == 0 || sa.port_value() > 65535) {
    return fmt::format("endpoint {}: port {} out of range", sa.address(), sa.port_value());
  }
  // IPv6 literals come without brackets in a SocketAddress.
  bool v6 = sa.address().find(':') != std::string::npos;
  std::string hostPort = v6 ? fmt::format("[{}]:{}", sa.address(), sa.port_value())
                            : fmt::format("{}:{}", sa.address(), sa.port_value());
  auto parsed = net::parseEndpoint(hostPort);
  // parseEndpoint maps "localhost"; discovery wants numeric addresses only.
  if (!parsed || sa.address() == "localhost") return fmt::format("endpoint '{}' is not a numeric ip:port", hostPort);
  uint32_t weight = 1;
  if (lb.has_load_balancing_weight()) {
    weight = lb.load_balancing_weight().value();
    if (weight < 1) return fmt::format("endpoint {}: load_balancing_weight must be >= 1", hostPort);
  }
  switch (lb.health_status()) {
    case core_v3::UNHEALTHY:
    case core_v3::DRAINING:
    case core_v3::TIMEOUT:
      return std::nullopt;  // not serving: the controller's own word
    default:
      break;
  }
  auto canonical = net::formatEndpoint(*parsed);
  for (auto& e : out) {
    if (e.address == canonical) {
      uint64_t sum = uint64_t{e.weight} + weight;
      e.weight = static_cast<uint32_t>(std::min<uint64_t>(sum, std::numeric_limits<uint32_t>::max()));
      return std::nullopt;
    }
  }
  out.push_back({std::move(canonical), weight});
  return std::nullopt;
}

std::optional<std::string> checkAnyType(const discovery_v3::DiscoveryResponse& r, int i) {
  const auto& any = r.resources(i);
  if (any.type_url() != r.type_url()) {
    return fmt::format("resource {} has type {}, response type is {}", i, any.type_url(), r.type_url());
  }
  return std::nullopt;
}

}  // namespace

EdsResult decodeEds(const discovery_v3::DiscoveryResponse& r) {
  if (r.type_url() != kEndpointTypeUrl) return fmt::format("type_url {} is not EDS", r.type_url());
  std::vector<DecodedAssignment> out;
  out.reserve(r.resources_size());
  std::set<std::string> seen;
  for (int i = 0; i < r.resources_size(); ++i) {
    const auto& any = r.resources(i);
    endpoint_v3::ClusterLoadAssignment cla;
    std::string version = r.version_info();
    if (any.type_url() == kResourceWrapperTypeUrl) {
      // A batched response: each resource carries its own name and version.
      discovery_v3::Resource wrapped;
      if (!any.UnpackTo(&wrapped)) return fmt::format("resource {}: Resource wrapper does not decode", i);
      if (wrapped.resource().type_url() != r.type_url()) {
        return fmt::format("resource {} has type {}, response type is {}", i, wrapped.resource().type_url(), r.type_url());
      }
      if (!wrapped.resource().UnpackTo(&cla)) return fmt::format("resource {}: ClusterLoadAssignment does not decode", i);
      if (!wrapped.name().empty() && wrapped.name() != cla.cluster_name()) {
        return fmt::format("resource {}: wrapper name {} differs from cluster_name {}", i, wrapped.name(), cla.cluster_name());
      }
      if (!wrapped.version().empty()) version = wrapped.version();
    } else {
      if (auto err = checkAnyType(r, i)) return *err;
      if (!any.UnpackTo(&cla)) return fmt::format("resource {}: ClusterLoadAssignment does not decode", i);
    }
    if (cla.cluster_name().empty()) return fmt::format("resource {}: cluster_name is empty", i);
    if (!seen.insert(cla.cluster_name()).second) {
      return fmt::format("cluster {} is listed twice in one response", cla.cluster_name());
    }
    DecodedAssignment a{cla.cluster_name(), std::move(version), {}};
    for (const auto& locality : cla.endpoints()) {
      if (locality.has_leds_cluster_locality_config()) {
        return fmt::format("cluster {}: LEDS is not supported", cla.cluster_name());
      }
      auto addAll = [&](const auto& list) -> std::optional<std::string> {
        for (const auto& lb : list) {
          if (auto err = addEndpoint(lb, a.endpoints)) return fmt::format("cluster {}: {}", cla.cluster_name(), *err);
        }
        return std::nullopt;
      };
      if (auto err = addAll(locality.lb_endpoints())) return *err;
      if (locality.has_load_balancer_endpoints()) {
        if (auto err = addAll(locality.load_balancer_endpoints().lb_endpoints())) return *err;
      }
    }
    // "absent" means "no such cluster" (the weft controller sends it with an
    // empty assignment only): with endpoints it contradicts itself.
    if (a.version == kAbsentVersion && !a.endpoints.empty()) {
      return fmt::format("version 'absent' (no such cluster) with endpoints for {}", a.cluster);
    }
    out.push_back(std::move(a));
  }
  return out;
}

CdsResult decodeCds(const discovery_v3::DiscoveryResponse& r) {
  if (r.type_url() != kClusterTypeUrl) return fmt::format("type_url {} is not CDS", r.type_url());
  std::vector<DecodedCluster> out;
  std::set<std::string> seen;
  for (int i = 0; i < r.resources_size(); ++i) {
    if (auto err = checkAnyType(r, i)) return *err;
    cluster_v3::Cluster c;
    if (!r.resources(i).UnpackTo(&c)) return fmt::format("resource {}: Cluster does not decode", i);
    if (c.name().empty()) return fmt::format("resource {}: cluster name is empty", i);
    if (!seen.insert(c.name()).second) return fmt::format("cluster {} is listed twice in one response", c.name());
    DecodedCluster d{c.name(), std::nullopt};
    const auto& fm = c.metadata().filter_metadata();
    if (auto it = fm.find("weft"); it != fm.end()) {
      const auto& fields = it->second.fields();
      if (auto p = fields.find("protocol"); p != fields.end()) {
        if (!p->second.has_string_value() || (p->second.string_value() != "http1" && p->second.string_value() != "http2")) {
          return fmt::format("cluster {}: weft protocol must be \"http1\" or \"http2\"", c.name());
        }
        d.protocol = p->second.string_value();
      }
    }
    out.push_back(std::move(d));
  }
  return out;
}

void toProto(const OutRequest& in, const std::string& nodeId, discovery_v3::DiscoveryRequest* out) {
  out->Clear();
  out->set_type_url(std::string(typeUrlOf(in.type)));
  out->set_version_info(in.versionInfo);
  out->set_response_nonce(in.responseNonce);
  for (const auto& n : *in.names) out->add_resource_names(n);
  auto* node = out->mutable_node();
  node->set_id(nodeId);
  node->set_cluster("weft-proxy");
  node->set_user_agent_name("weft");
  if (!in.errorDetail.empty()) {
    out->mutable_error_detail()->set_code(3);  // INVALID_ARGUMENT
    out->mutable_error_detail()->set_message(in.errorDetail);
  }
}

RequestEncoder::RequestEncoder(std::string nodeId) : nodeId_(std::move(nodeId)) {}
RequestEncoder::~RequestEncoder() = default;

const discovery_v3::DiscoveryRequest& RequestEncoder::encode(const OutRequest& in) {
  const int ti = static_cast<int>(in.type);
  auto& msg = msg_[ti];
  if (!msg || names_[ti] != in.names) {
    if (!msg) msg = std::make_unique<discovery_v3::DiscoveryRequest>();
    toProto(in, nodeId_, msg.get());
    names_[ti] = in.names;
    return *msg;
  }
  msg->set_version_info(in.versionInfo);
  msg->set_response_nonce(in.responseNonce);
  if (in.errorDetail.empty()) {
    msg->clear_error_detail();
  } else {
    msg->mutable_error_detail()->set_code(3);  // INVALID_ARGUMENT
    msg->mutable_error_detail()->set_message(in.errorDetail);
  }
  return *msg;
}

bool XdsClientState::subscribe(const std::string& name) {
  bool added = clusters_.try_emplace(name).second;
  if (added) names_.reset();
  return added;
}

bool XdsClientState::unsubscribe(const std::string& name) {
  bool removed = clusters_.erase(name) > 0;
  if (removed) names_.reset();
  return removed;
}

void XdsClientState::onStreamStart() {
  for (auto& t : types_) {
    t.requested = false;
    t.lastNonce.clear();
    // The accepted version is kept: it tells the new stream what we have.
  }
}

const Names& XdsClientState::names() const {
  if (!names_) {
    auto out = std::make_shared<std::vector<std::string>>();
    out->reserve(clusters_.size());
    for (const auto& [n, c] : clusters_) out->push_back(n);
    names_ = std::move(out);
  }
  return names_;
}

OutRequest XdsClientState::request(XdsType t, Names names) const {
  const auto& pt = types_[static_cast<int>(t)];
  return OutRequest{t, std::move(names), pt.acceptedVersion, pt.lastNonce, {}};
}

std::vector<OutRequest> XdsClientState::subscriptionRequests() {
  std::vector<OutRequest> out;
  const auto& all = names();
  for (XdsType t : {XdsType::kCluster, XdsType::kEndpoint}) {
    auto& pt = types_[static_cast<int>(t)];
    if (all->empty() && !pt.requested) continue;
    pt.requested = true;
    out.push_back(request(t, all));
  }
  return out;
}

std::vector<OutRequest> XdsClientState::resubscribeRequests(const std::string& name) {
  if (!clusters_.count(name)) return {};
  const auto& all = names();
  auto without = std::make_shared<std::vector<std::string>>(*all);
  without->erase(std::find(without->begin(), without->end(), name));
  types_[static_cast<int>(XdsType::kEndpoint)].requested = true;
  return {request(XdsType::kEndpoint, std::move(without)), request(XdsType::kEndpoint, all)};
}

ClusterUpdate XdsClientState::updateOf(const std::string& name, const Cluster& c) {
  ClusterUpdate u;
  u.name = name;
  u.version = c.version;
  u.endpoints = c.endpoints;
  u.protocol = c.protocol;
  u.exists = c.version != kAbsentVersion;
  return u;
}

std::optional<ClusterUpdate> XdsClientState::applied(const std::string& name) const {
  auto it = clusters_.find(name);
  if (it == clusters_.end() || !it->second.haveEds) return std::nullopt;
  return updateOf(name, it->second);
}

ResponseOutcome XdsClientState::onResponse(const discovery_v3::DiscoveryResponse& r, Clock::time_point now) {
  ResponseOutcome out;
  XdsType type;
  if (r.type_url() == kEndpointTypeUrl) {
    type = XdsType::kEndpoint;
  } else if (r.type_url() == kClusterTypeUrl) {
    type = XdsType::kCluster;
  } else {
    return out;  // never asked for; answering would subscribe to it
  }
  out.type = type;
  auto& pt = types_[static_cast<int>(type)];
  pt.lastNonce = r.nonce();

  auto nack = [&](std::string reason) {
    out.nacked = true;
    out.error = std::move(reason);
    out.reply = request(type, names());
    out.reply->errorDetail = out.error;
    return out;
  };

  if (type == XdsType::kEndpoint) {
    auto decoded = decodeEds(r);
    if (auto* err = std::get_if<std::string>(&decoded)) return nack(*err);
    for (auto& a : std::get<std::vector<DecodedAssignment>>(decoded)) {
      auto it = clusters_.find(a.cluster);
      if (it == clusters_.end()) continue;  // unsubscribed meanwhile
      auto& c = it->second;
      c.haveEds = true;
      c.version = std::move(a.version);
      c.endpoints = std::move(a.endpoints);
      c.appliedAt = now;
      out.updates.push_back(updateOf(it->first, c));
    }
  } else {
    auto decoded = decodeCds(r);
    if (auto* err = std::get_if<std::string>(&decoded)) return nack(*err);
    std::map<std::string, std::optional<std::string>> listed;
    for (auto& d : std::get<std::vector<DecodedCluster>>(decoded)) listed[d.name] = std::move(d.protocol);
    for (auto& [name, c] : clusters_) {
      auto it = listed.find(name);
      // A name missing from CDS keeps its protocol: see the header (race).
      if (it == listed.end()) continue;
      bool changed = !c.haveCds || c.protocol != it->second;
      c.haveCds = true;
      c.protocol = it->second;
      // Before the first EDS answer there is no set to deliver; EDS will carry the protocol.
      if (changed && c.haveEds) out.updates.push_back(updateOf(name, c));
    }
  }
  pt.acceptedVersion = r.version_info();
  out.reply = request(type, names());
  return out;
}

std::optional<DiscoveryClient::ClusterStatus> XdsClientState::statusOf(const std::string& name) const {
  auto it = clusters_.find(name);
  if (it == clusters_.end()) return std::nullopt;
  const auto& c = it->second;
  return DiscoveryClient::ClusterStatus{name, c.version, c.appliedAt, c.endpoints.size(), c.version != kAbsentVersion};
}

std::vector<DiscoveryClient::ClusterStatus> XdsClientState::status() const {
  std::vector<DiscoveryClient::ClusterStatus> out;
  out.reserve(clusters_.size());
  for (const auto& [name, c] : clusters_) {
    out.push_back({name, c.version, c.appliedAt, c.endpoints.size(), c.version != kAbsentVersion});
  }
  return out;
}

}  // namespace weft::discovery
