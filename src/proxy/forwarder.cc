#include "proxy/forwarder.h"

#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include "core/coarse_clock.h"
#include "core/logging.h"
#include "core/turn_clock.h"
#include "http/codec/grpc.h"
#include "model/endpoint.h"
#include "proxy/tap.h"

namespace weft::proxy {
namespace {

using upstream::SendOutcome;

constexpr size_t kReplayBufferBytes = 64 * 1024;
// A request whose connect failed was never seen by any server, so trying
// another endpoint cannot multiply load; bounded all the same.
constexpr int kMaxConnectAttempts = 3;
constexpr std::string_view kInboundCluster = "inbound";

upstream::BalancerOptions balancerOptions(const ClusterConfig& c) {
  return upstream::BalancerOptions{c.failfastTimeout, c.queueCapacity};
}

upstream::PoolOptions poolOptions(const ClusterConfig& c) {
  upstream::PoolOptions o;
  o.cluster = c.name;
  o.connectTimeout = c.connectTimeout;
  o.idleTimeout = c.idleTimeout;
  o.maxRequestsPerConnection = c.maxRequestsPerConnection;
  o.maxConcurrentStreams = c.maxConcurrentStreams;
  o.keepaliveInterval = c.keepaliveInterval;
  o.keepaliveTimeout = c.keepaliveTimeout;
  return o;
}

bool isConnectError(ProxyError e) { return e == ProxyError::kConnectFailed || e == ProxyError::kConnectTimeout; }

// RFC 9110 §9.2.2: repeating these has the same effect as sending them once.
bool isIdempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

// Backoff before a retry: full jitter under 25 ms × 2^n, capped at 250 ms.
std::chrono::milliseconds retryBackoff(int retry, FastRandom& rng) {
  int64_t ceiling = std::min<int64_t>(250, int64_t{25} << std::min(retry, 4));
  return std::chrono::milliseconds(static_cast<int64_t>(rng.below(static_cast<size_t>(ceiling) + 1)));
}

}  // namespace

upstream::PoolProtocol Forwarder::protocolFor(const ClusterConfig& c, const http::RequestHead& r, bool grpc) {
  if (r.upgrade) return upstream::PoolProtocol::kHttp1;
  switch (c.protocol) {
    case UpstreamProtocol::kHttp1: return upstream::PoolProtocol::kHttp1;
    case UpstreamProtocol::kHttp2: return upstream::PoolProtocol::kHttp2;
    case UpstreamProtocol::kSameAsClient: break;
  }
  if (r.version == http::Version::kHttp2 || grpc) return upstream::PoolProtocol::kHttp2;
  return upstream::PoolProtocol::kHttp1;
}

Forwarder::Forwarder(boost::asio::any_io_executor ex, const ProxyConfig& config, Direction direction,
                     size_t workerIndex, const DiscoveryLink* discovery)
    : ex_(std::move(ex)),
      direction_(direction),
      workerIndex_(workerIndex),
      rng_(0x7e7u + workerIndex * 31337),
      discovery_(direction == Direction::kOutbound ? discovery : nullptr) {
  applyConfig(config);
  if (discovery_) startDiscoveryTick();
}

Forwarder::~Forwarder() {
  *alive_ = false;
  if (tick_) tick_->cancel();
}

Forwarder::ClusterEntry& Forwarder::configureEntry(const ClusterConfig& c) {
  auto& slot = clusters_[c.name];
  if (!slot) slot = std::make_shared<ClusterEntry>();
  auto& e = *slot;
  if (!e.cluster) {
    e.cluster = std::make_unique<upstream::Cluster>(ex_, c.name, poolOptions(c), balancerOptions(c),
                                                    upstream::EndpointPolicy{}, workerIndex_);
    auto& reg = MetricsRegistry::global();
    auto base = labels({labelPair("direction", directionName()), labelPair("cluster", c.name)});
    e.requests = &reg.counter("weft_requests_total", "Requests received, by cluster", base);
    e.budgetExhausted = &reg.counter("weft_retry_budget_exhausted_total",
                                     "Retryable failures passed to the client because the retry budget was spent", base);
    e.latency = &reg.histogram("weft_request_duration_seconds",
                               "Time from request head to the end of the response, by cluster", base);
    e.byEndpoint = std::make_unique<EndpointMetrics>(directionName(), c.name);
    static constexpr std::string_view kClasses[] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < e.byStatusClass.size(); ++i)
      e.byStatusClass[i] = &reg.counter("weft_responses_total", "Responses sent, by cluster and status class",
                                        labels({base, labelPair("status_class", kClasses[i])}));
  }
  e.cluster->setBalancerOptions(balancerOptions(c));
  // Each worker keeps its own budget; the floor is the proxy's, so each worker
  // gets its share of it (the ratio part scales with each worker's requests).
  e.budget.setPolicy({c.retryBudgetRatio, static_cast<double>(c.retryBudgetMinPerSecond) / workers_, c.retryBudgetTtl});
  return e;
}

Forwarder::ClusterEntry& Forwarder::addCluster(const ClusterConfig& c) {
  auto& e = configureEntry(c);
  if (e.discovered) {
    // A discovered cluster became static: the config wins from now on. Wake
    // requests waiting for the controller (they see the static set) and drop
    // the subscription (idempotent; every worker does the same).
    wake(*e.discovered);
    e.discovered.reset();
    e.version.clear();
    --discoveredCount_;
    if (discovery_->unsubscribe) discovery_->unsubscribe(c.name);
  }
  if (e.version.empty() || e.config.endpoints != c.endpoints) {
    e.version = fmt::format("config-{}", generation_);
    e.appliedAt = std::chrono::steady_clock::now();
  }
  e.config = c;
  e.cluster->setEndpoints(c.endpoints);
  return e;
}

void Forwarder::applyConfig(const ProxyConfig& config) {
  ++generation_;
  workers_ = std::max<size_t>(1, config.workers);
  if (direction_ == Direction::kInbound) {
    ClusterConfig app;
    app.name = std::string(kInboundCluster);
    if (config.app) app.endpoints.push_back({*config.app, 1});
    app.connectTimeout = config.inboundConnectTimeout;
    addCluster(app);
    return;
  }
  discoveredSettings_.clear();
  for (const auto& c : config.clusters) {
    if (discovery_ && !config.isStatic(c))
      discoveredSettings_[c.name] = c;
    else
      addCluster(c);
  }
  // Clusters gone from the config keep no endpoints: their pools drain and
  // requests for them now fail as unknown services (or, with a controller,
  // are discovered on their next use). Discovered clusters stay; their
  // settings follow the config.
  for (auto it = clusters_.begin(); it != clusters_.end();) {
    if (auto& e = *it->second; e.discovered) {
      e.config = discoveredConfig(it->first, e.discovered->snapshot.get());
      configureEntry(e.config);
      ++it;
      continue;
    }
    const ClusterConfig* c = config.findCluster(it->first);
    if (!c || (discovery_ && !config.isStatic(*c))) {
      it->second->cluster->setEndpoints({});
      it = clusters_.erase(it);
      forgetRoute();
    } else {
      ++it;
    }
  }
}

std::shared_ptr<Forwarder::ClusterEntry> Forwarder::route(const http::RequestHead& request) {
  if (direction_ == Direction::kInbound) return clusters_.begin()->second;
  if (lastRoute_.entry && request.authority == lastRoute_.authority) return lastRoute_.entry;
  auto name = model::normalizeAuthority(request.authority);
  auto it = clusters_.find(name);
  if (it != clusters_.end()) {
    lastRoute_.authority = request.authority;
    lastRoute_.entry = it->second;
    return it->second;
  }
  return discovery_ ? discover(name) : nullptr;
}

namespace {
boost::asio::awaitable<void> nothingMore() { co_return; }
}  // namespace

Forwarder::Routed Forwarder::routeAndAdmit(const std::shared_ptr<http::Exchange>& exchange) {
  Routed r;
  r.grpc = exchange->request.isGrpc();
  r.entry = route(exchange->request);
  ProxyError routeError = ProxyError::kNone;
  if (r.entry && r.entry->discovered) {
    // Discovered: waits only until the controller's first answer (or, for an
    // empty set, endpoints); a settled cluster goes straight on.
    r.entry->discovered->used = true;
    if (!r.entry->discovered->settled()) {
      r.awaitDiscovery = true;
      return r;
    }
    routeError = discoveredError(*r.entry->discovered);
  }
  r.forwarding = admit(exchange, r.entry, routeError, r.grpc);
  return r;
}

// Not a coroutine itself: the one coroutine of a request is run() (or, while
// a discovered cluster is awaited, awaitDiscoveredThenRun()).
boost::asio::awaitable<void> Forwarder::handle(std::shared_ptr<http::Exchange> exchange) {
  auto r = routeAndAdmit(exchange);
  if (r.awaitDiscovery) return awaitDiscoveredThenRun(std::move(exchange), std::move(r.entry), r.grpc);
  if (!r.forwarding) return nothingMore();
  return run(std::move(r.forwarding), std::move(r.entry), std::nullopt);
}

boost::asio::awaitable<void> Forwarder::awaitDiscoveredThenRun(std::shared_ptr<http::Exchange> exchange,
                                                               std::shared_ptr<ClusterEntry> entry, bool grpc) {
  ProxyError routeError = co_await awaitDiscovered(entry);
  if (auto f = admit(exchange, entry, routeError, grpc)) co_await run(std::move(f), std::move(entry), std::nullopt);
}

std::shared_ptr<Forwarder::Forwarding> Forwarder::admit(const std::shared_ptr<http::Exchange>& exchange,
                                                        const std::shared_ptr<ClusterEntry>& entry,
                                                        ProxyError routeError, bool grpc) {
  if (!entry || routeError == ProxyError::kUnknownService) {
    exchange->failBeforeResponse(ProxyError::kUnknownService);
    threadCounter("weft_requests_unrouted_total", "Requests whose authority matched no cluster",
                  labelPair("direction", directionName()))
        .inc();
    if (Tap::anyClient()) Tap::record(*exchange, direction_ == Direction::kInbound, workerIndex_);
    return nullptr;
  }
  exchange->cluster = entry->cluster->name();
  entry->requests->inc();
  if (routeError != ProxyError::kNone) {  // no answer from the controller in time
    exchange->failBeforeResponse(routeError);
    record(*entry, *exchange, grpc);
    return nullptr;
  }
  auto f = std::make_shared<Forwarding>(*this, exchange, grpc, entry);
  f->deadline = armDeadline(*entry, exchange);
  auto& a = f->a;
  a.protocol = protocolFor(entry->config, exchange->request, grpc);
  // Which failed responses may be retried: 5xx for idempotent methods, and
  // gRPC UNAVAILABLE (by status, whatever the method). Never an upgrade.
  a.statusRetryable = !exchange->request.upgrade && (isIdempotent(exchange->request.method) || grpc);
  entry->budget.recordRequest(coarseNow());  // a window of seconds: the coarse clock will do
  exchange->requestBody.retainForReplay(kReplayBufferBytes);
  return f;
}

boost::asio::awaitable<void> Forwarder::run(std::shared_ptr<Forwarding> f, std::shared_ptr<ClusterEntry> entry,
                                            std::optional<upstream::SendResult> first) {
  auto& exchange = f->exchange;
  auto& a = f->a;
  auto& cluster = *entry->cluster;
  std::optional<upstream::SendResult> result = first;
  for (;; result.reset()) {
    if (!result) {
      if (exchange->cancelled()) break;
      if (!a.pick.pool) {
        a.pick = cluster.pickIfReady(a.protocol, a.avoid);
        if (!a.pick.pool) a.pick = co_await cluster.pick(a.protocol, a.avoid);
        if (a.pick.error != ProxyError::kNone) {
          exchange->failBeforeResponse(a.pick.error);
          break;
        }
        if (exchange->cancelled()) break;
      }
      startAttempt(*entry, *exchange, a);
      auto pool = a.pick.pool;  // held across the send, whatever a reload does meanwhile
      result = co_await pool->send(exchange, a.fresh);
    }
    const char* reason = endAttempt(*entry, *exchange, a, *result);
    if (result->outcome == SendOutcome::kOk) break;
    if (result->outcome == SendOutcome::kRetryableResponse) {
      boost::asio::steady_timer backoff(ex_, retryBackoff(static_cast<int>(a.statusRetries), rng_));
      co_await backoff.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    if (!reason || !exchange->requestBody.rewind()) {
      ProxyError error = result->outcome == SendOutcome::kFailed ? result->error : ProxyError::kUpstreamReset;
      exchange->failBeforeResponse(error == ProxyError::kNone ? ProxyError::kUpstreamReset : error);
      break;
    }
    exchange->retries++;
    threadCounter("weft_retries_total", "Requests sent again, by reason",
                  labels({labelPair("direction", directionName()), labelPair("cluster", entry->config.name),
                          labelPair("reason", reason)}))
        .inc();
  }
  a.pick = {};
  finish(*f, entry.get());
}

void Forwarder::finish(Forwarding& f, ClusterEntry* entry) {
  f.exchange->mayRetryResponse = false;
  f.exchange->requestBody.stopRetaining();
  if (f.deadline) f.deadline->cancel();
  if (entry) record(*entry, *f.exchange, f.grpc);
}

std::optional<boost::asio::steady_timer> Forwarder::armDeadline(const ClusterEntry& entry,
                                                               const std::shared_ptr<http::Exchange>& exchange) {
  // Deadline: the cluster's request timeout or grpc-timeout, whichever is
  // sooner. On expiry the exchange is cancelled: before a response head the
  // client gets 504 / DEADLINE_EXCEEDED; after it the stream ends with that error.
  std::chrono::microseconds timeout = entry.config.requestTimeout;
  if (auto g = http::parseGrpcTimeout(exchange->request.headers.get("grpc-timeout")))
    if (timeout.count() == 0 || *g < timeout) timeout = *g;
  // Constructed only when armed: an Asio timer looks its service up under the
  // context's mutex, a cost every request would pay for nothing.
  std::optional<boost::asio::steady_timer> deadline;
  if (timeout.count() > 0) {
    deadline.emplace(ex_, timeout);
    deadline->async_wait([weak = std::weak_ptr<http::Exchange>(exchange)](boost::system::error_code ec) {
      if (ec) return;
      if (auto ex = weak.lock()) ex->cancel(ProxyError::kTimeout);
    });
  }
  return deadline;
}

void Forwarder::startAttempt(ClusterEntry& entry, http::Exchange& exchange, Attempts& a) {
  // Reserve a retry before an attempt that may need one (so concurrent
  // requests cannot overdraw); the pool checks at response time that the
  // whole request body is in hand to replay.
  a.reserved = upstream::RetryBudget::Withdrawal::kNone;
  a.budgetDenied = false;
  if (a.statusRetryable && a.statusRetries < entry.config.maxRetries) {
    a.reserved = entry.budget.withdraw(coarseNow());
    a.budgetDenied = a.reserved == upstream::RetryBudget::Withdrawal::kNone;
  }
  exchange.mayRetryResponse = a.reserved != upstream::RetryBudget::Withdrawal::kNone;
  exchange.endpoint = a.pick.state->address();
  a.sentAt = TurnClock::now();
  entry.cluster->requestStarted(*a.pick.state, a.sentAt);
}

const char* Forwarder::endAttempt(ClusterEntry& entry, const http::Exchange& exchange, Attempts& a,
                                  const upstream::SendResult& result) {
  auto& cluster = *entry.cluster;
  // Latency sample for peak-EWMA: time to the response head, the part the
  // endpoint controls (a long stream's body is the client's business).
  auto rtt = exchange.hasResponse() ? exchange.responseHeadAt - a.sentAt : std::chrono::nanoseconds(0);
  bool failed = result.outcome == SendOutcome::kFailed || result.outcome == SendOutcome::kRetryableResponse ||
                (exchange.hasResponse() && exchange.response.status >= 500) || exchange.responseBody.failed();
  std::string_view why = result.outcome == SendOutcome::kFailed ? proxyErrorCode(result.error)
                         : exchange.responseBody.failed()      ? proxyErrorCode(exchange.responseBody.error())
                                                               : std::string_view("http-5xx");
  if (a.pick.state) cluster.requestEnded(*a.pick.state, failed, why, rtt);
  if (result.outcome != SendOutcome::kRetryableResponse) entry.budget.refund(a.reserved, coarseNow());
  switch (result.outcome) {
    case SendOutcome::kOk:
      if (a.budgetDenied && exchange.hasResponse() && exchange.isRetryableResponse(exchange.response))
        entry.budgetExhausted->inc();
      return nullptr;
    case SendOutcome::kNotProcessed:
      if (a.retriedNotProcessed) return nullptr;
      // The upstream never saw it (DESIGN.md §6): once, on a fresh connection
      // to the same endpoint, outside any retry budget.
      a.retriedNotProcessed = true;
      a.fresh = true;
      return "not-processed";
    case SendOutcome::kFailed:
      if (!isConnectError(result.error) || ++a.connectAttempts >= kMaxConnectAttempts || cluster.size() <= 1)
        return nullptr;
      // Never reached a server: another endpoint cannot add load anywhere.
      a.avoid = a.pick.state.get();
      a.pick = {};
      a.fresh = false;
      return "connect-failed";
    case SendOutcome::kRetryableResponse:
      // The attempt was allowed to be retried and its response was
      // discarded: from here on, a retry is owed to the client.
      ++a.statusRetries;  // paid for by the reservation made for it
      a.avoid = cluster.size() > 1 ? a.pick.state.get() : nullptr;
      a.pick = {};
      a.fresh = false;
      return "status";
  }
  return nullptr;
}

void Forwarder::debugJson(std::string_view only, std::vector<std::string>& out) const {
  for (const auto& [name, entry] : clusters_)
    if (const auto& e = *entry; only.empty() || only == name) {
      auto age = std::chrono::duration<double>(std::chrono::steady_clock::now() - e.appliedAt).count();
      // Discovered clusters: the controller's per-cluster version exactly, and the
      // age of the snapshot applied (-1 while no answer has arrived).
      std::string_view protocol = e.config.protocol == UpstreamProtocol::kHttp1   ? "http1"
                                  : e.config.protocol == UpstreamProtocol::kHttp2 ? "http2"
                                                                                  : "client";
      std::string source = fmt::format("\"protocol\":\"{}\",\"source\":\"static\"", protocol);
      if (const auto* d = e.discovered.get()) {
        if (!d->snapshot) age = -1;
        bool dns = d->snapshot && d->snapshot->origin == model::EndpointSnapshot::Origin::kDns;
        source = fmt::format("\"protocol\":\"{}\",\"source\":\"{}\",\"discovery_state\":\"{}\"", protocol,
                             dns ? "dns" : "discovery",
                             !d->snapshot ? "awaiting" : d->snapshot->exists ? "applied" : "unknown-service");
      }
      // Splice the set's version and age into the cluster's own JSON object.
      auto json = e.cluster->debugJson();
      // The version comes from the controller: quoted as JSON, whatever it holds.
      out.push_back(fmt::format("{{\"direction\":\"{}\",\"worker\":{},\"version\":{},\"age_seconds\":{:.3f},{},{}",
                                directionName(), workerIndex_, boost::json::serialize(boost::json::value(e.version)),
                                age, source, json.substr(1)));
    }
}

void Forwarder::record(ClusterEntry& entry, const http::Exchange& exchange, bool grpc) {
  int status = exchange.hasResponse() ? exchange.response.status
                                      : (exchange.error() != ProxyError::kNone ? proxyErrorHttpStatus(exchange.error()) : 0);
  size_t cls = status >= 100 && status < 600 ? static_cast<size_t>(status / 100) : 0;
  entry.byStatusClass[cls]->inc();
  auto elapsed = TurnClock::now() - exchange.start;
  auto micros = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
  entry.latency->observeMicros(micros);
  bool success = cls >= 1 && cls <= 4 && !exchange.responseBody.failed();
  if (success && grpc) {
    // Trailers-only responses carry grpc-status in the head.
    auto g = exchange.response.headers.get("grpc-status");
    if (g.empty()) g = exchange.responseBody.trailers().get("grpc-status");
    success = g.empty() || g == "0";
  }
  entry.byEndpoint->record(exchange.endpoint, success, micros);
  // Nobody tapping costs one relaxed load (proxy/tap.h).
  if (Tap::anyClient()) Tap::record(exchange, direction_ == Direction::kInbound, workerIndex_);
}

}  // namespace weft::proxy
