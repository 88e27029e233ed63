#pragma once
// One logical service as seen by one worker (DESIGN.md §3, §6): its endpoints
// with their lifecycle state (pending → ready → failed → pending, probed on a
// backoff schedule), their connection pools (an HTTP/1 keep-alive pool and/or
// an HTTP/2 pool per endpoint, created on first use), and the P2C balancer.
//
// Connects are per endpoint, never per request: a failed endpoint is not
// picked, so requests cannot make it dial; only its probe, when the backoff
// elapses, does (incident 003). A removed endpoint's probe stops at once and
// its pools drain. Invariant, exported per worker as
// weft_balancer_endpoints{cluster,state,worker}: pending + ready + failed ==
// size of the current endpoint set.
//
// While no endpoint is ready and requests want one, probe delays are capped
// at kDemandProbeCap (jittered), so the first endpoint to come back is found
// within about a second however long the outage was; the cap costs at most
// one connect per endpoint per worker per cap interval.
//
// Owned by a worker and touched only on its thread.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/metrics.h"
#include "model/endpoint.h"
#include "upstream/balancer.h"
#include "upstream/endpoint_pool.h"
#include "upstream/endpoint_state.h"

namespace weft::upstream {

enum class PoolProtocol { kHttp1, kHttp2 };

// Shared ownership: a request keeps its endpoint's pool and state alive
// while it is in flight, even if a config change removes the endpoint.
struct ClusterPick {
  ProxyError error = ProxyError::kNone;
  std::shared_ptr<EndpointPool> pool;
  std::shared_ptr<EndpointState> state;
};

class Cluster {
 public:
  static constexpr std::chrono::milliseconds kDemandProbeCap{500};

  Cluster(boost::asio::any_io_executor ex, std::string name, PoolOptions options, BalancerOptions balancer,
          EndpointPolicy policy, size_t workerIndex);
  ~Cluster();

  // Replaces the endpoint set (config reload or discovery). Endpoints that stay
  // keep their state, statistics and pools; new ones start pending and are
  // probed at once, their latency estimate seeded from the measured ready
  // peers (Balancer::peerEstimateNanos; the default RTT when there are none);
  // removed ones stop being dialed and their pools drain.
  void setEndpoints(const std::vector<model::Endpoint>& endpoints);
  void setBalancerOptions(const BalancerOptions& o) { balancer_.setOptions(o); }

  // Waits (bounded by the failfast timeout) for a ready endpoint.
  boost::asio::awaitable<ClusterPick> pick(PoolProtocol protocol, const EndpointState* avoid = nullptr);
  // pick() when it need not wait, without a coroutine frame: a pool when an
  // endpoint is ready, else an empty pick (error kNone: call pick()).
  ClusterPick pickIfReady(PoolProtocol protocol, const EndpointState* avoid = nullptr);

  // Outcome of a request sent to `state` (failure accrual, peak-EWMA).
  // `now`: when the request was sent (the forwarder reads the clock for its RTT anyway).
  void requestStarted(EndpointState& state, EndpointState::Clock::time_point now) { state.load().requestStarted(now); }
  void requestEnded(EndpointState& state, bool failed, std::string_view error, std::chrono::nanoseconds rtt);

  bool empty() const { return slots_.empty(); }
  size_t size() const { return slots_.size(); }
  const std::string& name() const { return name_; }
  const PoolOptions& options() const { return options_; }
  const Balancer& balancer() const { return balancer_; }
  // Count of endpoints in `h` (the invariant's terms).
  size_t count(EndpointHealth h) const;

  // JSON object for /debug/endpoints (worker thread).
  std::string debugJson() const;

 private:
  struct Slot {
    model::Endpoint spec;
    boost::asio::ip::tcp::endpoint address;
    std::shared_ptr<EndpointState> state;
    std::shared_ptr<EndpointPool> http1;
    std::shared_ptr<EndpointPool> http2;
    std::unique_ptr<boost::asio::steady_timer> probeTimer;
    bool probing = false;
    uint64_t probeGeneration = 0;  // a rescheduled probe makes older timer callbacks stale
    std::chrono::steady_clock::time_point probeDue{};
    std::shared_ptr<bool> alive;  // false once removed: late callbacks are ignored
  };
  const std::shared_ptr<EndpointPool>& poolFor(Slot& slot, PoolProtocol protocol);
  void setHealth(Slot& slot, EndpointHealth before);
  void onConnectResult(Slot& slot, int connectErrno);
  void scheduleProbe(Slot& slot, std::chrono::milliseconds delay);
  // With requests waiting and nothing ready, bring far-off probes forward.
  void expediteProbes();
  boost::asio::awaitable<void> probe(Slot* slot, std::shared_ptr<bool> alive);
  double jitter() { return rng_.unit(); }

  boost::asio::any_io_executor ex_;
  std::string name_;
  PoolOptions options_;
  EndpointPolicy policy_;
  std::vector<std::unique_ptr<Slot>> slots_;
  Balancer balancer_;
  FastRandom rng_;
  // weft_balancer_endpoints{state} for this worker, indexed by EndpointHealth;
  // one word, so every scrape sees a consistent triple.
  GaugeTriple* health_ = nullptr;
  void addHealth(const std::array<int32_t, 3>& delta) { health_->add(delta[0], delta[1], delta[2]); }
};

}  // namespace weft::upstream
