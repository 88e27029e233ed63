#pragma once
// The proxy's ExchangeHandler: routes one exchange to a cluster (by authority
// outbound, to the app inbound), picks an endpoint, sends it through that
// endpoint's pool, and decides retries, deadlines and error mapping in one
// place (docs/errors.md). One Forwarder per worker per direction; worker
// thread only; handle() suspends.
//
// With a controller (outbound only), clusters the config does not define are
// discovered (docs/discovery.md): the first request for an authority asks
// for a subscription and waits, up to the failfast timeout, for the
// controller's first answer; every answer is a whole snapshot that replaces
// the cluster's endpoint set. A per-worker tick reports use (touch) and asks
// again (resubscribe) when a discovered cluster has had no ready endpoint for
// longer than its failfast timeout. forwarder_discovery.cc holds that part.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "core/metrics.h"
#include "http/session/exchange.h"
#include "model/endpoint_snapshot.h"
#include "proxy/config.h"
#include "proxy/endpoint_metrics.h"
#include "proxy/discovery_link.h"
#include "upstream/cluster.h"
#include "upstream/retry_budget.h"
#include "core/random.h"

namespace weft::proxy {

enum class Direction { kOutbound, kInbound };

class Forwarder final : public http::ExchangeHandler {
 public:
  // Outbound: one cluster per configured cluster, matched by authority.
  // Inbound: every request goes to the app address.
  // `discovery` (outbound, with a controller; outlives the forwarder): how to
  // ask for subscriptions. Null: only static clusters.
  Forwarder(boost::asio::any_io_executor ex, const ProxyConfig& config, Direction direction, size_t workerIndex,
            const DiscoveryLink* discovery = nullptr);
  ~Forwarder() override;

  boost::asio::awaitable<void> handle(std::shared_ptr<http::Exchange> exchange) override;
  // Forwards without a coroutine when nothing has to wait: a known, settled
  // cluster whose picked endpoint's pool can send it at once (an HTTP/2
  // connection with room; an idle HTTP/1 connection, no request body). The
  // request is then on its way when this returns, and its end is handled by
  // the connection's callback. Otherwise (and for retries) the attempts run
  // in a coroutine, handed what routing found: awaitDiscoveredThenRun() while
  // a discovered cluster waits for the controller, else run().
  void start(std::shared_ptr<http::Exchange> exchange, const boost::asio::any_io_executor& ex) override;

  // Applies a new config's clusters (endpoints and settings). Worker thread.
  void applyConfig(const ProxyConfig& config);

  // JSON array elements for /debug/endpoints (worker thread); `only` filters by name.
  void debugJson(std::string_view only, std::vector<std::string>& out) const;

  // Discovery (worker thread; ignored without a DiscoveryLink). The snapshot
  // replaces the cluster's endpoint set, creating the cluster if this worker
  // has not seen it yet (every worker mirrors every subscription). A static
  // cluster of the same name wins: the snapshot is ignored.
  void applyDiscovered(std::shared_ptr<const model::EndpointSnapshot> snapshot);
  // The discovery client dropped the subscription (unused): forget the
  // cluster, unless a request used it meanwhile (then subscribe again).
  void forgetDiscovered(const std::string& name);

  std::string_view directionName() const { return direction_ == Direction::kOutbound ? "outbound" : "inbound"; }

 private:
  // A cluster from the controller: what this worker applied and its use.
  struct Discovered {
    explicit Discovered(const boost::asio::any_io_executor& ex) : changed(ex) {
      changed.expires_at(boost::asio::steady_timer::time_point::max());
    }
    std::shared_ptr<const model::EndpointSnapshot> snapshot;  // null until the first answer
    bool used = false;         // a request since the last tick (then: touch)
    bool failingFast = false;  // a wait for an answer / endpoints timed out; cleared by the next snapshot
    size_t waiting = 0;        // requests waiting for an answer or endpoints
    std::chrono::steady_clock::time_point healthyAt;  // last seen with a ready endpoint (or applied)
    boost::asio::steady_timer changed;  // cancelled to wake the waiting requests
    // Settled: requests go on to the balancer without waiting here.
    bool settled() const { return snapshot && (!snapshot->exists || !snapshot->endpoints.empty()); }
  };

  struct ClusterEntry {
    std::unique_ptr<upstream::Cluster> cluster;
    std::shared_ptr<Discovered> discovered;  // null: a static cluster (from the config)
    ClusterConfig config;
    Counter* requests = nullptr;
    Histogram* latency = nullptr;
    std::array<Counter*, 6> byStatusClass{};  // index status/100; 0 = no status
    upstream::RetryBudget budget;
    Counter* budgetExhausted = nullptr;
    std::unique_ptr<EndpointMetrics> byEndpoint;  // weft stat's per-endpoint series
    std::string version;                      // of the endpoint set applied
    std::chrono::steady_clock::time_point appliedAt;
  };

  // Entries are shared with the requests using them, so a config reload that
  // removes a cluster never frees it under a request in flight. An authority
  // no cluster has yet is asked of the controller (with a DiscoveryLink).
  std::shared_ptr<ClusterEntry> route(const http::RequestHead& request);
  // Creates the entry (cluster, metrics) if needed and applies `c`'s settings.
  ClusterEntry& configureEntry(const ClusterConfig& c);
  ClusterEntry& addCluster(const ClusterConfig& c);
  // --- discovery (forwarder_discovery.cc) ---
  std::shared_ptr<ClusterEntry> discover(const std::string& name);
  ClusterEntry& newDiscovered(const std::string& name);
  // The settings of a discovered cluster: its config entry (or the defaults),
  // with the controller's protocol when the config does not say.
  ClusterConfig discoveredConfig(const std::string& name, const model::EndpointSnapshot* snapshot) const;
  // Waits (bounded by the failfast timeout) until the cluster is settled;
  // returns the error to answer with, or kNone to go on to the balancer.
  boost::asio::awaitable<ProxyError> awaitDiscovered(std::shared_ptr<ClusterEntry> entry);
  static ProxyError discoveredError(const Discovered& d);
  void wake(Discovered& d);
  void startDiscoveryTick();
  void discoveryTick();
  // One request's attempts (run() makes them): where the next goes, and
  // what the retry rules have spent so far.
  struct Attempts {
    upstream::PoolProtocol protocol = upstream::PoolProtocol::kHttp1;
    bool statusRetryable = false;  // a retryable response may be retried (method, gRPC)
    upstream::ClusterPick pick;    // empty: pick again before the next attempt
    const upstream::EndpointState* avoid = nullptr;
    bool fresh = false;  // the next attempt needs a new connection
    bool retriedNotProcessed = false;
    int connectAttempts = 0;
    uint32_t statusRetries = 0;
    // The attempt in flight:
    upstream::RetryBudget::Withdrawal reserved = upstream::RetryBudget::Withdrawal::kNone;
    bool budgetDenied = false;  // it could have been retried but the budget said no
    std::chrono::steady_clock::time_point sentAt;
  };
  // One request being forwarded: what its attempts carry between them.
  // Owned by run()'s frame, or, while a send started without a coroutine is
  // out, by that upstream stream (as its observer). Its cluster and endpoint
  // are held weakly, because they own the connection that owns that stream;
  // run() holds them while it runs.
  struct Forwarding final : http::SendObserver, std::enable_shared_from_this<Forwarding> {
    Forwarding(Forwarder& fw, std::shared_ptr<http::Exchange> ex, bool isGrpc, const std::shared_ptr<ClusterEntry>& e)
        : forwarder(fw), exchange(std::move(ex)), grpc(isGrpc), entry(e) {}
    // The send startNow() began is over (forwarder_start.cc).
    void sendDone(const upstream::SendResult& result) override;

    Forwarder& forwarder;
    std::shared_ptr<http::Exchange> exchange;
    bool grpc;
    std::weak_ptr<ClusterEntry> entry;
    Attempts a;
    std::weak_ptr<upstream::EndpointPool> sentPool;  // a.pick, while the send is out without a coroutine
    std::weak_ptr<upstream::EndpointState> sentState;
    std::optional<boost::asio::steady_timer> deadline;
  };
  // --- the path of one request (forwarder.cc; without a coroutine: forwarder_start.cc) ---
  // Once the cluster is known (or known to be missing): answers routing
  // errors (null then), or begins the request's forwarding.
  std::shared_ptr<Forwarding> admit(const std::shared_ptr<http::Exchange>& exchange,
                                    const std::shared_ptr<ClusterEntry>& entry, ProxyError routeError, bool grpc);
  boost::asio::awaitable<void> awaitDiscoveredThenRun(std::shared_ptr<http::Exchange> exchange,
                                                      std::shared_ptr<ClusterEntry> entry, bool grpc);
  // The attempts, from the first or (`first`) from one started without a
  // coroutine whose result did not end the request.
  boost::asio::awaitable<void> run(std::shared_ptr<Forwarding> f, std::shared_ptr<ClusterEntry> entry,
                                   std::optional<upstream::SendResult> first);
  // The request is over: telemetry (none if `entry` is null: the cluster left
  // the config while the request was out).
  void finish(Forwarding& f, ClusterEntry* entry);
  // What handle() and start() both do first: route the request and, unless
  // its discovered cluster still waits for the controller, admit it
  // (`forwarding` null: it was answered with a routing error).
  struct Routed {
    std::shared_ptr<ClusterEntry> entry;
    std::shared_ptr<Forwarding> forwarding;
    bool grpc = false;
    bool awaitDiscovery = false;  // run awaitDiscoveredThenRun(entry) next
  };
  Routed routeAndAdmit(const std::shared_ptr<http::Exchange>& exchange);
  // Sends an admitted request's first attempt without a coroutine when the
  // picked endpoint's connection has room; false (nothing changed) otherwise.
  bool startNow(const std::shared_ptr<Forwarding>& f, ClusterEntry& entry);
  // The upstream protocol: the cluster's, or the client's (gRPC: HTTP/2).
  static upstream::PoolProtocol protocolFor(const ClusterConfig& c, const http::RequestHead& r, bool grpc);
  // The request's deadline: the cluster's request timeout or grpc-timeout,
  // whichever is sooner; none if neither is set.
  std::optional<boost::asio::steady_timer> armDeadline(const ClusterEntry& entry,
                                                       const std::shared_ptr<http::Exchange>& exchange);
  // Before a send to a.pick: reserves a retry, tells the balancer.
  void startAttempt(ClusterEntry& entry, http::Exchange& exchange, Attempts& a);
  // After it: tells the balancer (unless the endpoint is gone: a.pick.state
  // null) and the budget, and decides whether another attempt follows.
  // Returns the retry's reason, or nullptr for none (the exchange is over:
  // answered, or to be failed with the result's error).
  const char* endAttempt(ClusterEntry& entry, const http::Exchange& exchange, Attempts& a,
                         const upstream::SendResult& result);
  void record(ClusterEntry& entry, const http::Exchange& exchange, bool grpc);

  boost::asio::any_io_executor ex_;
  Direction direction_;
  size_t workerIndex_;
  std::map<std::string, std::shared_ptr<ClusterEntry>, std::less<>> clusters_;
  // The authority routed last and its entry: a client sends the same
  // authority request after request, and normalizing it and looking it up
  // cost ~2 % of an h2c request's instructions. Only an entry leaving
  // clusters_ can change what a found authority routes to: forgetRoute().
  struct LastRoute {
    std::string authority;
    std::shared_ptr<ClusterEntry> entry;
  } lastRoute_;
  void forgetRoute() { lastRoute_.entry.reset(); }
  uint64_t generation_ = 0;  // config applications, for static clusters' version
  FastRandom rng_;  // retry backoff jitter
  size_t workers_ = 1;        // the proxy's worker count, to share the retry floor
  const DiscoveryLink* discovery_ = nullptr;
  std::map<std::string, ClusterConfig, std::less<>> discoveredSettings_;  // config entries without endpoints
  size_t discoveredCount_ = 0;
  std::unique_ptr<boost::asio::steady_timer> tick_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed: late tick callbacks stop
};

}  // namespace weft::proxy
