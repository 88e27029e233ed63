#pragma once
// The proxy's xDS client: one ADS stream (StreamAggregatedResources, state of
// the world) to the controller, CDS + EDS per subscribed cluster name (= the
// authority, "api.test:80"). docs/discovery.md is the reference.
//
// Threads: grpc++ runs on the client's own threads (one event loop thread, plus
// one reader thread per open stream); it never touches worker state. The
// public methods are thread-safe and never block on the network: they record
// the change and wake the loop. `onUpdate` runs on the loop thread, one call
// at a time, in the order updates were accepted; it must not block for long
// (post to the workers and return) and must not call back into the client's
// destructor.
//
// Contract (INCIDENTS.md 001):
//  - every ClusterUpdate is a WHOLE endpoint set: replace, never merge;
//  - an invalid response is NACKed (reason in error_detail, previous version
//    kept, weft_xds_nacks_sent_total) and delivers nothing;
//  - a broken stream delivers nothing (no empty sets on disconnect): the last
//    sets keep serving until the new stream's first response, which is
//    delivered like any other update;
//  - reconnects use full-jitter backoff (core/backoff.h) and re-send every
//    subscription.
//
// Lifetime: construct, start() once, destroy (stops the stream and joins).
// grpc++ and protobuf stay out of this header (pimpl).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/endpoint.h"

namespace weft::discovery {

struct ClusterUpdate {
  std::string name;     // the authority, e.g. "api.test:80"
  // The cluster's version as the controller sent it: its Resource wrapper's
  // version, else the response's version_info ("absent": unknown cluster).
  std::string version;
  std::vector<model::Endpoint> endpoints;  // canonical "ip:port" / "[v6]:port", weight >= 1
  std::optional<std::string> protocol;     // "http1" | "http2" from CDS metadata when known
  bool exists = true;   // false when the controller says the cluster does not exist
  // True when the CLIENT dropped the subscription (unsubscribe() or
  // unusedTimeout): the proxy forgets the cluster, and the next use
  // subscribes again. Not a statement of the controller; endpoints are empty.
  bool unsubscribed = false;
};

struct DiscoveryOptions {
  std::string controller;  // "127.0.0.1:18000"
  std::string nodeId;      // e.g. "weft-proxy-<pid>"
  // Full-jitter backoff between stream attempts. A cap of about a second is
  // what lets every proxy converge within 2 s of a controller's return.
  std::chrono::milliseconds reconnectBase{100}, reconnectMax{1000};
  std::chrono::milliseconds unusedTimeout{60000};  // unsubscribe a cluster not used for this long
  // How long one connection attempt may take before it counts as failed.
  std::chrono::milliseconds connectTimeout{5000};
};

class DiscoveryClient {
 public:
  DiscoveryClient(DiscoveryOptions, std::function<void(const ClusterUpdate&)> onUpdate);
  ~DiscoveryClient();
  DiscoveryClient(const DiscoveryClient&) = delete;
  DiscoveryClient& operator=(const DiscoveryClient&) = delete;

  void start();
  // Thread-safe; idempotent; also marks the cluster used. Subscriptions are
  // re-sent on every new stream. Subscribing a cluster that is already
  // subscribed and answered delivers its applied set again (a caller that
  // asks later than others still gets an answer).
  void subscribe(const std::string& cluster);
  // Thread-safe. Delivers an update with unsubscribed = true.
  void unsubscribe(const std::string& cluster);
  // Thread-safe and cheap (a shared lock and a relaxed store): marks the
  // cluster used now. A no-op for a cluster not subscribed. Call it at most
  // about once a second per worker and cluster, not per request.
  void touch(const std::string& cluster);
  // Self-heal: asks the controller again for the cluster's whole state. The
  // SotW server resends only names new to the stream, so the EDS
  // subscription is re-sent without, then with, the name; the current set
  // keeps serving until the answer (delivered as a normal update). Thread-safe;
  // at most one resend per cluster per second (calls in between are ignored).
  void resubscribe(const std::string& cluster);

  struct ClusterStatus {
    std::string name, version;  // version "" until the first response
    std::chrono::steady_clock::time_point appliedAt;  // epoch until the first response
    size_t endpoints = 0;
    bool exists = true;
  };
  std::vector<ClusterStatus> status() const;  // thread-safe; sorted by name
  bool connected() const;                     // a stream is open

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::discovery
