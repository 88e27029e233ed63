#pragma once
// Picks an endpoint for each request: power of two choices over the ready
// endpoints' peak-EWMA cost (DESIGN.md §6). The two candidates are sampled
// in proportion to their weights; the second replaces the first only when it
// is clearly cheaper (< 2/3 of the first's cost; peak-EWMA is biased against
// busier endpoints, which see more slow samples, so a small band would let
// that bias bend the shares). Endpoints whose costs are
// within that band therefore get exactly their weight's share (the first
// sample decides), while a slow or busy endpoint loses every comparison it
// takes part in. With none ready a request waits in
// a bounded queue for up to the failfast timeout; when that expires with
// still none ready the balancer enters fail-fast — later requests fail at once
// — and leaves it on the first endpoint that becomes ready. A full queue
// sheds load. Worker thread only; pick() may suspend (only while nothing is
// ready), the ready path allocates nothing.
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/proxy_error.h"
#include "core/turn_clock.h"
#include "upstream/endpoint_state.h"
#include "core/random.h"

namespace weft::upstream {

struct BalancerOptions {
  std::chrono::milliseconds failfastTimeout{3000};
  size_t queueCapacity = 10000;
};

struct Pick {
  ProxyError error = ProxyError::kNone;  // kNoEndpoints, kFailFast, kLoadShed
  size_t index = 0;                      // into the endpoint list given to setEndpoints
};

class Balancer {
 public:
  Balancer(boost::asio::any_io_executor ex, BalancerOptions options, uint64_t seed);

  // The cluster's endpoints, in the cluster's order. Pointers stay valid until
  // the next call. Call healthChanged() after any endpoint changes health.
  void setEndpoints(std::vector<EndpointState*> endpoints);
  void healthChanged();

  // `avoid`: an endpoint to skip if another is ready (retry elsewhere).
  boost::asio::awaitable<Pick> pick(const EndpointState* avoid = nullptr);

  // The synchronous path of pick() when readyCount() > 0 (no waiting).
  Pick pickReady(const EndpointState* avoid = nullptr) { return pickReadyAt(TurnClock::now(), avoid); }
  Pick pickReadyAt(EndpointState::Clock::time_point now, const EndpointState* avoid = nullptr);

  // The median peak-EWMA estimate of the ready endpoints that have measured
  // at least one response, or nullopt when none has: what a newly added
  // endpoint starts from (Cluster::setEndpoints) instead of the default RTT.
  // The median, not the mean: one slow or spiking peer must not hand every
  // newcomer its penalty. O(endpoints) and it allocates, so it is for
  // endpoint-set changes only, never per request.
  std::optional<double> peerEstimateNanos(EndpointState::Clock::time_point now) const;

  bool failingFast() const { return failFast_; }
  size_t waiting() const { return waiting_; }
  size_t readyCount() const { return ready_.size(); }
  const BalancerOptions& options() const { return options_; }
  void setOptions(const BalancerOptions& o) { options_ = o; }

 private:

  boost::asio::any_io_executor ex_;
  BalancerOptions options_;
  FastRandom rng_;
  std::vector<EndpointState*> endpoints_;
  std::vector<size_t> ready_;           // indices of ready endpoints
  // Vose's alias table over the ready endpoints' weights: O(1) weighted
  // sampling (a pick with 1 000 endpoints must stay well under 100 ns).
  std::vector<double> aliasProbability_;
  std::vector<uint32_t> alias_;
  void buildAliasTable();
  size_t sampleWeighted();              // index into ready_
  bool failFast_ = false;
  size_t waiting_ = 0;
  boost::asio::steady_timer readySignal_;  // cancelled to wake every waiter
};

}  // namespace weft::upstream
