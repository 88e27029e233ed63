#include "controller/xds_stream_state.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace weft::controller {

std::optional<ResourceType> resourceTypeOf(std::string_view typeUrl) {
  if (typeUrl == kClusterTypeUrl) return ResourceType::kCluster;
  if (typeUrl == kEndpointTypeUrl) return ResourceType::kEndpoint;
  return std::nullopt;
}

std::string_view typeUrlOf(ResourceType t) { return t == ResourceType::kCluster ? kClusterTypeUrl : kEndpointTypeUrl; }

std::string_view shortTypeName(ResourceType t) { return t == ResourceType::kCluster ? "cds" : "eds"; }

RequestKind XdsStreamState::onRequest(const XdsRequest& req) {
  auto type = resourceTypeOf(req.typeUrl);
  if (!type) return RequestKind::kUnknownType;
  const int ti = static_cast<int>(*type);
  RequestKind kind = RequestKind::kInitial;
  if (!req.responseNonce.empty()) {
    kind = req.hasError ? RequestKind::kNack : RequestKind::kAck;
    // An ACK of an older response (one is already on its way) says nothing
    // about the latest; its names are still the client's current ones.
    if (kind == RequestKind::kAck && req.responseNonce == nonce_[ti]) acked_[ti] = req.versionInfo;
  }

  // Names are applied from every request: the client sends its whole current
  // subscription each time, in order. Only names new to the stream are sent.
  // The same list as last time changes nothing (and an ACK usually repeats it).
  if (lastNames_[ti] == req.names && (*type == ResourceType::kEndpoint || cdsSubscribed_)) return kind;
  lastNames_[ti] = req.names;
  if (*type == ResourceType::kCluster) {
    std::set<std::string> names(req.names.begin(), req.names.end());
    bool wildcard = names.count("*") > 0 || (names.empty() && (!cdsSubscribed_ || cdsWildcard_));
    names.erase("*");
    std::vector<std::string> sorted(names.begin(), names.end());
    if (!cdsSubscribed_ || wildcard != cdsWildcard_ || sorted != cdsNames_) cdsDirty_ = true;
    cdsSubscribed_ = true;
    cdsWildcard_ = wildcard;
    cdsNames_ = std::move(sorted);
  } else {
    std::set<std::string> names(req.names.begin(), req.names.end());
    for (auto it = eds_.begin(); it != eds_.end();) {
      if (names.count(it->first)) {
        ++it;
        continue;
      }
      if (it->second.queued) edsDirty_.erase(std::find(edsDirty_.begin(), edsDirty_.end(), it->first));
      it = eds_.erase(it);
    }
    for (const auto& n : names) {
      auto [it, inserted] = eds_.try_emplace(n);
      if (inserted) markEds(it->first, it->second);
    }
  }
  return kind;
}

void XdsStreamState::onSnapshot(std::shared_ptr<const Snapshot> snap) {
  // Endpoint churn leaves every Cluster resource as it was: no CDS signature
  // to recompute then (next() compares signatures when it may have changed).
  if (cdsSubscribed_ && snap->cdsVersion != snap_->cdsVersion) cdsDirty_ = true;
  snap_ = std::move(snap);
  for (auto& [name, e] : eds_) {
    if (!e.queued && versionOf(name) != e.sentVersion) markEds(name, e);
  }
}

const std::string& XdsStreamState::versionOf(const std::string& name) const {
  static const std::string absent(kAbsentVersion);
  auto* c = snap_->find(name);
  return c ? (*c)->version : absent;
}

void XdsStreamState::markEds(const std::string& name, EdsEntry& e) {
  e.queued = true;
  edsDirty_.push_back(name);
}

std::string XdsStreamState::cdsSignature() const {
  // The subscription and what it lists: changes when either does.
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  if (cdsWildcard_) {
    mix("*");
    for (const auto& [name, c] : snap_->clusters) {
      mix(name);
      mix(c->clusterResourceVersion);
    }
  } else {
    for (const auto& name : cdsNames_) {
      mix(name);
      auto* c = snap_->find(name);
      mix(c ? (*c)->clusterResourceVersion : kAbsentVersion);
    }
  }
  return fmt::format("{:016x}", h);
}

size_t XdsStreamState::estimatedBytes(const std::string& name, const ClusterState* c) {
  // Roughly the encoded size: the Resource wrapper and name, plus one
  // LbEndpoint (address, port, weight) per endpoint. Only a budget, not exact.
  return 96 + 2 * name.size() + (c ? c->endpoints.size() * 48 : 0);
}

std::string XdsStreamState::batchVersion(const std::vector<ResourceRef>& resources) {
  // Opaque to clients (each resource carries its own version); it only has
  // to differ between different contents, as version_info must.
  uint64_t h = 14695981039346656037ull;
  for (const auto& r : resources) {
    for (std::string_view s : {std::string_view(r.name), std::string_view(r.version)}) {
      for (unsigned char ch : s) {
        h ^= ch;
        h *= 1099511628211ull;
      }
      h ^= 0xff;
      h *= 1099511628211ull;
    }
  }
  return fmt::format("batch-{:016x}", h);
}

std::string XdsStreamState::newNonce() { return std::to_string(++nonceCounter_); }

std::optional<XdsResponse> XdsStreamState::next() {
  // CDS first: a client learns that a cluster exists before its endpoints.
  if (cdsDirty_) {
    cdsDirty_ = false;
    auto sig = cdsSignature();
    if (sig != cdsSentSignature_) {
      cdsSentSignature_ = sig;
      XdsResponse r{ResourceType::kCluster, sig, newNonce(), {}};
      if (cdsWildcard_) {
        for (const auto& [name, c] : snap_->clusters) r.resources.push_back({name, c, {}});
      } else {
        for (const auto& name : cdsNames_) {
          if (auto* c = snap_->find(name)) r.resources.push_back({name, *c, {}});
        }
      }
      nonce_[static_cast<int>(ResourceType::kCluster)] = r.nonce;
      return r;
    }
  }
  // EDS: every dirty cluster (round robin, up to the byte budget) in ONE
  // response, so a lagging stream costs one write and one ACK per completed
  // write however many clusters changed meanwhile.
  XdsResponse r{ResourceType::kEndpoint, {}, {}, {}};
  size_t bytes = 0;
  while (!edsDirty_.empty()) {
    auto it = eds_.find(edsDirty_.front());
    if (it == eds_.end()) {
      edsDirty_.pop_front();
      continue;
    }
    const auto& version = versionOf(it->first);
    if (version == it->second.sentVersion) {  // changed and changed back meanwhile
      it->second.queued = false;
      edsDirty_.pop_front();
      continue;
    }
    auto* c = snap_->find(it->first);
    size_t cost = estimatedBytes(it->first, c ? c->get() : nullptr);
    // Always at least one resource, however large.
    if (!r.resources.empty() && bytes + cost > maxBatchBytes_) break;
    bytes += cost;
    it->second.queued = false;
    it->second.sentVersion = version;
    r.resources.push_back({it->first, c ? *c : nullptr, version});
    edsDirty_.pop_front();
  }
  if (!r.resources.empty()) {
    r.versionInfo = r.resources.size() == 1 ? r.resources[0].version : batchVersion(r.resources);
    r.nonce = newNonce();
    nonce_[static_cast<int>(ResourceType::kEndpoint)] = r.nonce;
    return r;
  }
  return std::nullopt;
}

size_t XdsStreamState::subscribedCount(ResourceType t) const {
  return t == ResourceType::kCluster ? cdsNames_.size() : eds_.size();
}

const std::string& XdsStreamState::ackedVersion(ResourceType t) const { return acked_[static_cast<int>(t)]; }
const std::string& XdsStreamState::lastNonce(ResourceType t) const { return nonce_[static_cast<int>(t)]; }

}  // namespace weft::controller
