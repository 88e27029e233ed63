#include "controller/state_store.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include <fmt/format.h>

namespace weft::controller {

const std::shared_ptr<const ClusterState>* Snapshot::find(const std::string& name) const {
  auto it = clusters.find(name);
  return it == clusters.end() ? nullptr : &it->second;
}

namespace {

// Sorted by address, duplicate addresses merged by summing weights.
std::vector<model::Endpoint> canonical(std::vector<model::Endpoint> eps) {
  std::sort(eps.begin(), eps.end(), [](const auto& a, const auto& b) { return a.address < b.address; });
  std::vector<model::Endpoint> out;
  for (auto& e : eps) {
    if (!out.empty() && out.back().address == e.address) {
      out.back().weight += e.weight;
    } else {
      out.push_back(std::move(e));
    }
  }
  return out;
}

constexpr uint64_t kExactLimit = 1'000'000;

}  // namespace

std::vector<model::Endpoint> splitEndpoints(
    const std::vector<std::pair<uint32_t, std::vector<model::Endpoint>>>& backends) {
  // Only backends that can take traffic take part in the normalisation.
  struct Part {
    uint64_t weight;
    uint64_t sum;  // of the backend's endpoint weights
    const std::vector<model::Endpoint>* eps;
  };
  std::vector<Part> parts;
  uint64_t totalWeight = 0;
  for (const auto& [w, eps] : backends) {
    if (w == 0 || eps.empty()) continue;
    uint64_t sum = 0;
    for (const auto& e : eps) sum += e.weight;
    parts.push_back({w, sum, &eps});
    totalWeight += w;
  }
  std::vector<model::Endpoint> out;
  if (parts.empty()) return out;

  // Exact: weight_e = W_b * w_e * (L / S_b) with L = lcm of the S_b, reduced by the gcd.
  bool exact = true;
  uint64_t lcm = 1;
  for (const auto& p : parts) {
    lcm = std::lcm(lcm, p.sum);
    if (lcm > kExactLimit) {
      exact = false;
      break;
    }
  }
  std::vector<uint64_t> raw;
  uint64_t rawSum = 0;
  if (exact) {
    for (const auto& p : parts) {
      for (const auto& e : *p.eps) {
        raw.push_back(p.weight * e.weight * (lcm / p.sum));
        rawSum += raw.back();
      }
    }
    uint64_t g = 0;
    for (auto r : raw) g = std::gcd(g, r);
    for (auto& r : raw) r /= g;
    rawSum /= g;
    exact = rawSum <= kExactLimit;
  }
  if (!exact) {
    raw.clear();
    for (const auto& p : parts) {
      for (const auto& e : *p.eps) {
        double share = static_cast<double>(p.weight) / static_cast<double>(totalWeight) *
                       static_cast<double>(e.weight) / static_cast<double>(p.sum);
        raw.push_back(std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(share * kExactLimit))));
      }
    }
  }
  size_t i = 0;
  for (const auto& p : parts) {
    for (const auto& e : *p.eps) out.push_back({e.address, static_cast<uint32_t>(raw[i++])});
  }
  return canonical(std::move(out));
}

namespace {

std::string hashCluster(const ClusterState& c, bool withEndpoints) {
  // FNV-1a 64 over an unambiguous serialisation (fields separated by a byte
  // that cannot occur in names or addresses).
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  mix(c.name);
  mix(protocolName(c.protocol));
  mix(c.isSplit ? "split" : "service");
  if (withEndpoints) {
    for (const auto& e : c.endpoints) {
      mix(e.address);
      mix(std::to_string(e.weight));
    }
  }
  return fmt::format("{:016x}", h);
}

}  // namespace

std::string clusterVersion(const ClusterState& c) { return hashCluster(c, true); }
std::string clusterResourceVersion(const ClusterState& c) { return hashCluster(c, false); }

std::shared_ptr<const Snapshot> buildSnapshot(const SourceState& source, const Snapshot* previous) {
  auto snap = std::make_shared<Snapshot>();
  snap->generation = previous ? previous->generation + 1 : 1;
  std::map<std::string, const ServiceSpec*> services;
  std::vector<ClusterState> next;
  for (const auto& s : source.services) {
    services[s.name] = &s;
    ClusterState c;
    c.name = s.name;
    c.protocol = s.protocol;
    c.endpoints = canonical(s.endpoints);
    next.push_back(std::move(c));
  }
  for (const auto& sp : source.splits) {
    std::vector<std::pair<uint32_t, std::vector<model::Endpoint>>> backends;
    // Unless the split says, the apex speaks what its weighted backends all
    // speak; when they disagree (or one does not say) it is left unspecified.
    std::optional<Protocol> agreed;
    bool disagree = false;
    for (const auto& b : sp.backends) {
      auto it = services.find(b.service);
      if (it == services.end()) continue;  // the parser rejects this; stay total anyway
      backends.emplace_back(b.weight, it->second->endpoints);
      if (b.weight == 0) continue;
      if (agreed && *agreed != it->second->protocol) disagree = true;
      agreed = it->second->protocol;
    }
    Protocol proto = sp.protocol;
    if (proto == Protocol::kUnspecified && agreed && !disagree) proto = *agreed;
    ClusterState c;
    c.name = sp.name;
    c.protocol = proto;
    c.isSplit = true;
    c.endpoints = splitEndpoints(backends);
    next.push_back(std::move(c));
  }
  for (auto& c : next) {
    c.version = clusterVersion(c);
    c.clusterResourceVersion = clusterResourceVersion(c);
    if (previous) {
      if (auto* old = previous->find(c.name); old && (*old)->version == c.version) {
        snap->clusters[c.name] = *old;
        continue;
      }
    }
    c.generation = snap->generation;
    auto name = c.name;  // the right-hand side below is evaluated (and moves c) first
    snap->clusters[name] = std::make_shared<const ClusterState>(std::move(c));
  }
  uint64_t h = 14695981039346656037ull;
  for (const auto& [name, c] : snap->clusters) {
    for (std::string_view part : {std::string_view(name), std::string_view(c->clusterResourceVersion)}) {
      for (unsigned char ch : part) {
        h ^= ch;
        h *= 1099511628211ull;
      }
      h ^= 0xff;
      h *= 1099511628211ull;
    }
  }
  snap->cdsVersion = h;
  return snap;
}

StateStore::StateStore() : current_(std::make_shared<const Snapshot>()) {}

std::shared_ptr<const Snapshot> StateStore::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

bool StateStore::apply(const SourceState& source) {
  std::lock_guard update(updateMu_);
  auto prev = current();
  auto next = buildSnapshot(source, prev.get());
  bool changed = next->clusters.size() != prev->clusters.size();
  for (auto it = next->clusters.begin(), jt = prev->clusters.begin(); !changed && it != next->clusters.end();
       ++it, ++jt) {
    changed = it->first != jt->first || it->second != jt->second;
  }
  if (!changed) return false;
  {
    std::lock_guard lock(mu_);
    current_ = next;
  }
  for (auto& l : listeners_) l(next);
  return true;
}

void StateStore::addListener(Listener l) {
  std::lock_guard update(updateMu_);
  listeners_.push_back(std::move(l));
}

}  // namespace weft::controller
