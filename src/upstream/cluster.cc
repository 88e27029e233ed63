#include "upstream/cluster.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

#include "core/logging.h"
#include "core/turn_clock.h"
#include "net/address.h"
#include "net/connect.h"
#include "net/errno_name.h"
#include "upstream/connect_report.h"
#include "upstream/http1_pool.h"
#include "upstream/http2_pool.h"

namespace weft::upstream {

namespace asio = boost::asio;

Cluster::Cluster(asio::any_io_executor ex, std::string name, PoolOptions options, BalancerOptions balancer,
                 EndpointPolicy policy, size_t workerIndex)
    : ex_(ex),
      name_(std::move(name)),
      options_(std::move(options)),
      policy_(policy),
      balancer_(ex, balancer, 0x5eed0000u + workerIndex * 7919 + std::hash<std::string>{}(name_)),
      rng_(0xfeedu + workerIndex * 104729 + std::hash<std::string>{}(name_)) {
  options_.cluster = name_;
  static_assert(static_cast<int>(EndpointHealth::kPending) == 0 && static_cast<int>(EndpointHealth::kReady) == 1 &&
                static_cast<int>(EndpointHealth::kFailed) == 2);
  health_ = &MetricsRegistry::global().gaugeTriple(
      "weft_balancer_endpoints", "Endpoints of a cluster by state, per worker",
      labels({labelPair("cluster", name_), labelPair("worker", std::to_string(workerIndex))}), "state",
      {std::string(healthName(EndpointHealth::kPending)), std::string(healthName(EndpointHealth::kReady)),
       std::string(healthName(EndpointHealth::kFailed))});
}

Cluster::~Cluster() {
  std::array<int32_t, 3> delta{};
  for (auto& s : slots_) {
    *s->alive = false;
    delta[static_cast<size_t>(s->state->health())]--;
  }
  addHealth(delta);
}

void Cluster::setEndpoints(const std::vector<model::Endpoint>& endpoints) {
  std::array<int32_t, 3> delta{};  // applied in one step: the exported counts jump from set to set
  std::vector<std::unique_ptr<Slot>> next;
  std::vector<Slot*> fresh;
  // New endpoints start from what their peers measure, not from the default
  // RTT (peak_ewma.h): taken over the set as it stands before this change,
  // i.e. the ready endpoints that have served requests.
  auto now = EndpointState::Clock::now();
  auto peerEstimate = balancer_.peerEstimateNanos(now);
  for (const auto& spec : endpoints) {
    auto addr = net::parseEndpoint(spec.address);
    if (!addr) {
      WEFT_LOG_WARN("cluster {}: ignoring endpoint with bad address '{}'", name_, spec.address);
      continue;
    }
    bool duplicate = false;
    for (auto& n : next) duplicate |= n->address == *addr;
    if (duplicate) continue;
    std::unique_ptr<Slot> slot;
    for (auto& old : slots_)
      if (old && old->address == *addr) slot = std::move(old);
    if (!slot) {
      slot = std::make_unique<Slot>();
      slot->address = *addr;
      slot->state = std::make_shared<EndpointState>(spec.address, spec.weight, policy_, now);
      if (peerEstimate) slot->state->load().seed(*peerEstimate, now);
      slot->probeTimer = std::make_unique<asio::steady_timer>(ex_);
      slot->alive = std::make_shared<bool>(true);
      delta[static_cast<size_t>(EndpointHealth::kPending)]++;
      fresh.push_back(slot.get());
    }
    slot->spec = spec;
    slot->state->setWeight(spec.weight);
    next.push_back(std::move(slot));
  }
  for (auto& removed : slots_) {
    if (!removed) continue;
    // Stop dialing at once: cancel the probe and mark the slot dead so any
    // connect already under way is ignored when it completes.
    *removed->alive = false;
    removed->probeTimer->cancel();
    delta[static_cast<size_t>(removed->state->health())]--;
    // Idle connections close now; requests in flight hold the pool (and the
    // endpoint state) through their ClusterPick until they finish.
    for (auto* pool : {&removed->http1, &removed->http2})
      if (*pool) (*pool)->drain();
  }
  slots_ = std::move(next);
  addHealth(delta);
  std::vector<EndpointState*> states;
  for (auto& s : slots_) states.push_back(s->state.get());
  balancer_.setEndpoints(std::move(states));
  for (Slot* s : fresh) scheduleProbe(*s, std::chrono::milliseconds(0));
}

const std::shared_ptr<EndpointPool>& Cluster::poolFor(Slot& slot, PoolProtocol protocol) {
  auto& pool = protocol == PoolProtocol::kHttp2 ? slot.http2 : slot.http1;
  if (!pool) {
    PoolOptions o = options_;
    Slot* s = &slot;
    o.onConnect = [this, s, alive = slot.alive](int err) {
      if (*alive) onConnectResult(*s, err);
    };
    if (protocol == PoolProtocol::kHttp2)
      pool = std::make_shared<Http2Pool>(ex_, slot.address, std::move(o));
    else
      pool = std::make_shared<Http1Pool>(ex_, slot.address, std::move(o));
  }
  return pool;
}

void Cluster::setHealth(Slot& slot, EndpointHealth before) {
  auto after = slot.state->health();
  if (before == after) return;
  std::array<int32_t, 3> delta{};
  delta[static_cast<size_t>(before)]--;
  delta[static_cast<size_t>(after)]++;
  addHealth(delta);
  balancer_.healthChanged();
}

void Cluster::onConnectResult(Slot& slot, int err) {
  auto before = slot.state->health();
  if (err == 0) {
    slot.state->connectSucceeded();
    setHealth(slot, before);
    return;
  }
  auto delay = slot.state->connectFailed(net::errnoName(err), jitter());
  setHealth(slot, before);
  scheduleProbe(slot, delay);
}

void Cluster::scheduleProbe(Slot& slot, std::chrono::milliseconds delay) {
  if (slot.probing) return;  // one probe schedule per endpoint, whatever the number of failures
  if (balancer_.readyCount() == 0 && delay > kDemandProbeCap)
    delay = std::chrono::milliseconds(static_cast<int64_t>(jitter() * kDemandProbeCap.count()));
  slot.probing = true;
  slot.probeDue = std::chrono::steady_clock::now() + delay;
  uint64_t generation = ++slot.probeGeneration;
  slot.probeTimer->expires_after(delay);
  slot.probeTimer->async_wait([this, s = &slot, alive = slot.alive, generation](boost::system::error_code ec) {
    if (!*alive || generation != s->probeGeneration) return;
    s->probing = false;
    if (ec) return;
    asio::co_spawn(ex_, probe(s, alive), asio::detached);
  });
}

void Cluster::expediteProbes() {
  auto latest = std::chrono::steady_clock::now() + kDemandProbeCap;
  for (auto& s : slots_) {
    if (!s->probing || s->probeDue <= latest) continue;
    s->probing = false;  // the pending wait becomes stale (generation) and is replaced
    scheduleProbe(*s, kDemandProbeCap);
  }
}

asio::awaitable<void> Cluster::probe(Slot* slot, std::shared_ptr<bool> alive) {
  auto before = slot->state->health();
  slot->state->probeStarted();
  setHealth(*slot, before);
  // A plain TCP connect decides readiness for every protocol; pools then
  // connect on demand while the endpoint is ready.
  auto result = co_await net::connectWithDeadline(slot->address, options_.connectTimeout);
  if (!*alive) co_return;  // removed while connecting: nothing more to do
  PoolOptions probeOptions;
  probeOptions.cluster = name_;
  probeOptions.onConnect = [this, slot](int err) { onConnectResult(*slot, err); };
  reportConnect(probeOptions, result.error, "probe");
}

ClusterPick Cluster::pickIfReady(PoolProtocol protocol, const EndpointState* avoid) {
  if (balancer_.readyCount() == 0) return {};
  Slot& slot = *slots_[balancer_.pickReady(avoid).index];
  return ClusterPick{ProxyError::kNone, poolFor(slot, protocol), slot.state};
}

asio::awaitable<ClusterPick> Cluster::pick(PoolProtocol protocol, const EndpointState* avoid) {
  if (balancer_.readyCount() == 0 && !slots_.empty()) expediteProbes();
  auto p = co_await balancer_.pick(avoid);
  if (p.error != ProxyError::kNone) co_return ClusterPick{p.error, nullptr, nullptr};
  Slot& slot = *slots_[p.index];
  co_return ClusterPick{ProxyError::kNone, poolFor(slot, protocol), slot.state};
}

void Cluster::requestEnded(EndpointState& state, bool failed, std::string_view error, std::chrono::nanoseconds rtt) {
  auto now = TurnClock::now();
  state.load().requestEnded(now);
  if (rtt.count() > 0) state.load().observe(rtt, now);
  if (!failed) {
    state.requestSucceeded();
    return;
  }
  Slot* slot = nullptr;
  for (auto& s : slots_)
    if (s->state.get() == &state) slot = s.get();
  if (!slot) return;  // removed meanwhile
  auto before = state.health();
  // Never eject the last ready endpoint: a degraded endpoint beats none.
  bool mayEject = balancer_.readyCount() > 1;
  auto penalty = state.requestFailed(error, mayEject, jitter());
  if (penalty.count() > 0) {
    WEFT_LOG_WARN("cluster {}: ejecting {} for {} ms after consecutive failures ({})", name_, state.address(),
                  penalty.count(), error);
    threadCounter("weft_endpoint_ejections_total", "Endpoints ejected by failure accrual", labelPair("cluster", name_))
        .inc();
    setHealth(*slot, before);
    scheduleProbe(*slot, penalty);
  }
}

size_t Cluster::count(EndpointHealth h) const {
  size_t n = 0;
  for (auto& s : slots_) n += s->state->health() == h;
  return n;
}

std::string Cluster::debugJson() const {
  boost::json::array eps;
  auto now = EndpointState::Clock::now();
  for (auto& s : slots_) {
    const auto& st = *s->state;
    boost::json::object o;
    o["address"] = st.address();
    o["state"] = std::string(healthName(st.health()));
    o["weight"] = st.weight();
    o["ewma_ms"] = st.load().estimateNanos(now) / 1e6;
    o["in_flight"] = st.load().inFlight();
    o["load"] = st.load().load(now);  // what the balancer's cost counts (peak_ewma.h)
    o["consecutive_failures"] = st.consecutiveFailures();
    o["connect_failures"] = st.connectFailures();
    o["last_error"] = st.lastError();
    size_t conns = (s->http1 ? s->http1->openConnections() : 0) + (s->http2 ? s->http2->openConnections() : 0);
    o["open_connections"] = conns;
    eps.push_back(std::move(o));
  }
  boost::json::object c;
  c["name"] = name_;
  c["pending"] = count(EndpointHealth::kPending);
  c["ready"] = count(EndpointHealth::kReady);
  c["failed"] = count(EndpointHealth::kFailed);
  c["failing_fast"] = balancer_.failingFast();
  c["waiting_requests"] = balancer_.waiting();
  c["endpoints"] = std::move(eps);
  return boost::json::serialize(c);
}

}  // namespace weft::upstream
