#pragma once
// The ADS server: envoy.service.discovery.v3.AggregatedDiscoveryService,
// StreamAggregatedResources, state of the world, CDS + EDS (xds_stream_state.h
// has the protocol rules). Delta xDS answers UNIMPLEMENTED.
//
// Threads: gRPC's callback API runs every stream on gRPC's own threads. Each
// stream has at most ONE outstanding write; a new snapshot only marks the
// stream's resources dirty and, if no write is outstanding, starts one. A
// client that does not read stalls only its own stream (its write never
// completes, its state keeps coalescing), never publish() or other streams.
//
// publish() may be called from any thread (the source's). Lifetime: start()
// once, shutdown() before destruction; grpc++ stays out of this header.
#include <chrono>
#include <memory>
#include <string>

#include "controller/state_store.h"

namespace weft::controller {

class AdsServer {
 public:
  AdsServer();
  ~AdsServer();
  AdsServer(const AdsServer&) = delete;
  AdsServer& operator=(const AdsServer&) = delete;

  // Listens on `hostPort` ("127.0.0.1:18000"; port 0 picks one). Returns the
  // bound port; throws std::runtime_error when it cannot listen.
  struct Keepalive {
    std::chrono::milliseconds interval{30000};  // PING after this long without one
    std::chrono::milliseconds timeout{10000};   // close when a PING goes unanswered this long
  };
  int start(const std::string& hostPort, std::shared_ptr<const Snapshot> initial, Keepalive keepalive);
  void publish(std::shared_ptr<const Snapshot> snap);
  // Stops accepting, cancels open streams after `grace`, waits for them to end.
  void shutdown(std::chrono::milliseconds grace);
  size_t streamCount() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace weft::controller
