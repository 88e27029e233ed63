#pragma once
// The controller's state: immutable, versioned snapshots of every cluster it
// serves (services and split apexes alike).
//
// A Snapshot never changes once published; readers on any thread hold it by
// std::shared_ptr<const Snapshot>. Each cluster's `version` is a hash of its
// content (name, protocol, endpoints sorted by address, weights), so an
// unchanged cluster keeps its version across updates AND across controller
// restarts — a proxy reconnecting to a restarted controller sees the same
// version for the same set. `generation` is the snapshot counter at which the
// content last changed (a number for metrics and humans).
//
// StateStore is thread-safe: apply() from the source's thread, current() and
// listeners from anywhere. Listeners run synchronously inside apply(), in
// order, with the store's update lock held (so they see snapshots in order);
// they must not call apply().
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controller/services_file.h"
#include "model/endpoint.h"

namespace weft::controller {

struct ClusterState {
  std::string name;
  Protocol protocol = Protocol::kUnspecified;
  bool isSplit = false;
  std::vector<model::Endpoint> endpoints;  // sorted by address, unique addresses
  std::string version;                     // 16 hex digits, content hash
  // Hash of what the CDS resource carries (name, protocol, kind): endpoint
  // churn does not change it, so it does not cause CDS pushes.
  std::string clusterResourceVersion;
  uint64_t generation = 0;
};

struct Snapshot {
  uint64_t generation = 0;
  std::map<std::string, std::shared_ptr<const ClusterState>> clusters;
  // Hash of every cluster's name and clusterResourceVersion: equal in two
  // snapshots when no Cluster (CDS) resource differs, so subscribers can skip
  // CDS work on endpoint-only changes.
  uint64_t cdsVersion = 0;

  // nullptr when the snapshot has no such cluster.
  const std::shared_ptr<const ClusterState>* find(const std::string& name) const;
};

// The version an absent cluster is served with (empty ClusterLoadAssignment).
inline constexpr std::string_view kAbsentVersion = "absent";

// The endpoint set of a split apex: each backend b with weight W_b (of total W)
// gets the share W_b / W of traffic, spread over its endpoints in proportion
// to their own weights. Integer weights are exact when small (reduced by their
// gcd), else rounded to a total of about 10^6 with every endpoint keeping at
// least 1. Backends with weight 0 or without endpoints contribute nothing; an
// address present in two backends gets the sum of both weights.
std::vector<model::Endpoint> splitEndpoints(const std::vector<std::pair<uint32_t, std::vector<model::Endpoint>>>& backends);

// Content hash of a cluster as served (16 hex digits).
std::string clusterVersion(const ClusterState& c);
// Hash of the cluster's CDS resource content: everything but the endpoints.
std::string clusterResourceVersion(const ClusterState& c);

// The snapshot for `source`: clusters whose content equals their state in
// `previous` are the very same shared objects (same version, same generation).
std::shared_ptr<const Snapshot> buildSnapshot(const SourceState& source, const Snapshot* previous);

class StateStore {
 public:
  using Listener = std::function<void(const std::shared_ptr<const Snapshot>&)>;

  StateStore();
  std::shared_ptr<const Snapshot> current() const;
  // Builds and publishes the next snapshot; returns false (and publishes
  // nothing) when no cluster changed.
  bool apply(const SourceState& source);
  void addListener(Listener l);

 private:
  mutable std::mutex mu_;      // guards current_
  std::mutex updateMu_;        // serialises apply() and listener calls
  std::shared_ptr<const Snapshot> current_;
  std::vector<Listener> listeners_;
};

}  // namespace weft::controller
