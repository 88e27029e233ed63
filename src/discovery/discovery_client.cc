#include "discovery/discovery_client.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <envoy/service/discovery/v3/ads.grpc.pb.h>
#include <envoy/service/discovery/v3/discovery.pb.h>
#include <grpcpp/grpcpp.h>

#include "core/backoff.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "discovery/xds_client_state.h"

namespace weft::discovery {

namespace discovery_v3 = envoy::service::discovery::v3;

namespace {

using Clock = std::chrono::steady_clock;
using Stream = grpc::ClientReaderWriter<discovery_v3::DiscoveryRequest, discovery_v3::DiscoveryResponse>;

constexpr size_t kMaxQueuedResponses = 64;
constexpr auto kResubscribeInterval = std::chrono::seconds(1);

int64_t nowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

// How often the loop wakes without events: unused-cluster expiry and age gauges.
std::chrono::milliseconds tickOf(std::chrono::milliseconds unused) {
  return std::clamp(unused / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

}  // namespace

class DiscoveryClient::Impl {
 public:
  Impl(DiscoveryOptions o, std::function<void(const ClusterUpdate&)> onUpdate)
      : opts_(std::move(o)),
        onUpdate_(std::move(onUpdate)),
        unused_(opts_.unusedTimeout),
        tick_(tickOf(unused_)),
        rng_(std::random_device{}()),
        connectedGauge_(MetricsRegistry::global().gauge("weft_discovery_connected",
                                                        "1 while the proxy's ADS stream to the controller is open")),
        restarts_(MetricsRegistry::global().counter("weft_discovery_stream_restarts_total",
                                                    "ADS streams that ended and were reopened")) {}

  ~Impl() { stop(); }

  void start() {
    std::lock_guard lock(mu_);
    if (thread_.joinable() || stop_) return;
    thread_ = std::thread([this] { run(); });
  }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      if (activeCtx_) activeCtx_->TryCancel();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    connectedGauge_.set(0);
  }

  void subscribe(const std::string& name) {
    {
      std::unique_lock lock(useMu_);
      auto [it, inserted] = lastUsed_.try_emplace(name, nullptr);
      if (inserted)
        it->second = std::make_shared<std::atomic<int64_t>>(nowNs());
      else
        it->second->store(nowNs(), std::memory_order_relaxed);
    }
    // Also when already subscribed: the loop re-delivers the applied set.
    push({Cmd::kSubscribe, name});
  }

  void unsubscribe(const std::string& name) {
    {
      std::unique_lock lock(useMu_);
      if (!lastUsed_.erase(name)) return;
    }
    push({Cmd::kUnsubscribe, name});
  }

  void touch(const std::string& name) {
    std::shared_lock lock(useMu_);
    auto it = lastUsed_.find(name);
    if (it != lastUsed_.end()) it->second->store(nowNs(), std::memory_order_relaxed);
  }

  void resubscribe(const std::string& name) { push({Cmd::kResubscribe, name}); }

  std::vector<ClusterStatus> status() const {
    std::lock_guard lock(statusMu_);
    std::vector<ClusterStatus> out;
    out.reserve(status_.size());
    for (const auto& [name, st] : status_) out.push_back(st);
    return out;
  }

  bool connected() const { return connected_.load(std::memory_order_relaxed); }

 private:
  struct Cmd {
    enum Kind { kSubscribe, kUnsubscribe, kResubscribe } kind;
    std::string name;
  };
  struct ClusterMetrics {
    Counter* updates;
    Counter* resubscribes;
    Gauge* age;
    Gauge* endpoints;
  };

  void push(Cmd c) {
    {
      std::lock_guard lock(mu_);
      cmds_.push_back(std::move(c));
    }
    cv_.notify_all();
  }

  bool stopping() {
    std::lock_guard lock(mu_);
    return stop_;
  }

  void setConnected(bool on) {
    connected_.store(on, std::memory_order_relaxed);
    connectedGauge_.set(on ? 1 : 0);
  }

  // ---- the loop thread from here on ----

  void run() {
    BackoffPolicy backoff{opts_.reconnectBase, opts_.reconnectMax, 2.0};
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    uint32_t attempt = 0;
    while (!stopping()) {
      bool gotResponse = runStream();
      setConnected(false);
      if (gotResponse) attempt = 0;  // the controller was healthy: start the schedule over
      auto delay = backoff.delay(attempt, unit(rng_));
      if (attempt < 64) ++attempt;
      WEFT_LOG_DEBUG("discovery: stream to {} ended; reconnecting in {} ms", opts_.controller, delay.count());
      // Subscriptions keep being recorded while disconnected; they go out with the next stream.
      auto until = Clock::now() + delay;
      while (Clock::now() < until) {
        std::unique_lock lock(mu_);
        if (stop_) return;
        cv_.wait_until(lock, std::min(until, Clock::now() + tick_), [&] { return stop_ || !cmds_.empty(); });
        lock.unlock();
        handleCommands(nullptr);
        expireUnused(nullptr);
        refreshAges();  // the age matters most while disconnected
      }
    }
  }

  std::shared_ptr<grpc::Channel> newChannel() {
    grpc::ChannelArguments args;
    // A fresh channel per attempt, with its own subchannel: our backoff, not
    // gRPC's (which grows to 120 s), decides when to dial the controller again.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // A dead controller host is found by keepalive (the server permits pings every 10 s).
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 15'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
    return grpc::CreateCustomChannel(opts_.controller, grpc::InsecureChannelCredentials(), args);
  }

  // One stream, from connecting to its end. Returns whether any response arrived.
  bool runStream() {
    auto channel = newChannel();
    auto deadline = Clock::now() + opts_.connectTimeout;
    while (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::milliseconds(100))) {
      if (stopping() || Clock::now() >= deadline) return false;
      handleCommands(nullptr);
      expireUnused(nullptr);
      refreshAges();
    }
    auto stub = discovery_v3::AggregatedDiscoveryService::NewStub(channel);
    grpc::ClientContext ctx;
    {
      std::lock_guard lock(mu_);
      if (stop_) return false;
      activeCtx_ = &ctx;
      responses_.clear();
      streamEnded_ = false;
      readerStop_ = false;
    }
    std::unique_ptr<Stream> stream = stub->StreamAggregatedResources(&ctx);
    setConnected(true);
    WEFT_LOG_INFO("discovery: ADS stream to {} open", opts_.controller);
    state_.onStreamStart();

    std::thread reader([this, s = stream.get()] {
      auto resp = std::make_unique<discovery_v3::DiscoveryResponse>();
      while (s->Read(resp.get())) {
        {
          // Bounded: a loop that falls behind stops the reads (and so, by
          // flow control, the controller's writes to this stream).
          std::unique_lock lock(mu_);
          cv_.wait(lock, [&] { return responses_.size() < kMaxQueuedResponses || stop_ || readerStop_; });
          if (stop_ || readerStop_) break;
          responses_.push_back(std::move(resp));
        }
        cv_.notify_all();
        resp = std::make_unique<discovery_v3::DiscoveryResponse>();
      }
      {
        std::lock_guard lock(mu_);
        streamEnded_ = true;
      }
      cv_.notify_all();
    });

    bool gotResponse = false;
    bool ok = send(*stream, state_.subscriptionRequests());
    while (ok) {
      std::deque<std::unique_ptr<discovery_v3::DiscoveryResponse>> batch;
      bool ended;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, tick_, [&] { return stop_ || streamEnded_ || !cmds_.empty() || !responses_.empty(); });
        if (stop_) break;
        batch.swap(responses_);
        ended = streamEnded_;
      }
      cv_.notify_all();  // room for the reader
      for (auto& r : batch) {
        gotResponse = true;
        ok = handleResponse(*stream, *r) && ok;
      }
      ok = handleCommands(stream.get()) && ok;
      ok = expireUnused(stream.get()) && ok;
      refreshAges();
      if (ended) break;
    }

    {
      std::lock_guard lock(mu_);
      activeCtx_ = nullptr;
      readerStop_ = true;
    }
    cv_.notify_all();
    ctx.TryCancel();
    reader.join();
    auto st = stream->Finish();
    if (!stopping()) {
      restarts_.inc();
      WEFT_LOG_WARN("discovery: ADS stream to {} ended: {} {}", opts_.controller, static_cast<int>(st.error_code()),
                    st.error_message());
    }
    return gotResponse;
  }

  bool send(Stream& s, const std::vector<OutRequest>& reqs) {
    for (const auto& r : reqs) {
      if (!s.Write(encoder_.encode(r))) return false;
    }
    return true;
  }

  bool handleResponse(Stream& s, const discovery_v3::DiscoveryResponse& r) {
    auto out = state_.onResponse(r, Clock::now());
    if (!out.type) {
      WEFT_LOG_WARN("discovery: ignoring a response of unrequested type {}", r.type_url());
      return true;
    }
    if (out.nacked) {
      threadCounter("weft_xds_nacks_sent_total", "xDS responses this proxy rejected", labelPair("type", shortTypeName(*out.type)))
          .inc();
      WEFT_LOG_WARN("discovery: NACK {} version {} (nonce {}): {}", shortTypeName(*out.type), r.version_info(), r.nonce(),
                    out.error);
    }
    // ACK before delivering: the controller learns at once; delivery cannot fail.
    bool ok = !out.reply || send(s, {*out.reply});
    // status() is current by the time a receiver of the update looks at it;
    // only the clusters this response changed are copied.
    if (!out.updates.empty()) publishStatus(out.updates);
    for (const auto& u : out.updates) deliver(u);
    return ok;
  }

  void deliver(const ClusterUpdate& u) {
    auto& m = metricsOf(u.name);
    if (!u.unsubscribed) {
      m.updates->inc();
      m.age->set(0);
      m.endpoints->set(u.exists ? static_cast<int64_t>(u.endpoints.size()) : -1);
      WEFT_LOG_DEBUG("discovery: {} version {} ({} endpoints{})", u.name, u.version, u.endpoints.size(),
                     u.exists ? "" : ", does not exist");
    } else {
      m.age->set(-1);
      m.endpoints->set(-1);
    }
    if (onUpdate_) onUpdate_(u);
  }

  // Applies queued subscription changes; sends them when a stream is open.
  bool handleCommands(Stream* s) {
    std::deque<Cmd> cmds;
    {
      std::lock_guard lock(mu_);
      cmds.swap(cmds_);
    }
    if (cmds.empty()) return true;
    bool changed = false;
    bool ok = true;
    std::vector<std::string> gone;
    std::vector<ClusterUpdate> again;
    for (auto& c : cmds) {
      switch (c.kind) {
        case Cmd::kSubscribe:
          if (state_.subscribe(c.name))
            changed = true;
          else if (auto u = state_.applied(c.name))
            again.push_back(std::move(*u));
          break;
        case Cmd::kUnsubscribe:
          lastResubscribe_.erase(c.name);
          if (state_.unsubscribe(c.name)) {
            changed = true;
            gone.push_back(c.name);
          }
          break;
        case Cmd::kResubscribe: {
          if (!state_.subscribed(c.name)) break;
          // Every worker may ask for the same failing cluster: one resend a second is enough.
          auto& last = lastResubscribe_[c.name];
          if (last != Clock::time_point{} && Clock::now() - last < kResubscribeInterval) break;
          last = Clock::now();
          metricsOf(c.name).resubscribes->inc();
          WEFT_LOG_INFO("discovery: re-subscribing {}", c.name);
          // Pending changes first, so the resubscription's names are current.
          if (changed && s) ok = send(*s, state_.subscriptionRequests()) && ok;
          changed = false;
          if (s) ok = send(*s, state_.resubscribeRequests(c.name)) && ok;
          break;
        }
      }
    }
    if (changed && s) ok = send(*s, state_.subscriptionRequests()) && ok;
    publishStatus();
    for (const auto& n : gone) dropped(n);
    // Not counted as updates: nothing new came from the controller.
    for (const auto& u : again)
      if (onUpdate_) onUpdate_(u);
    return ok;
  }

  // Unsubscribes clusters not used for the unused timeout.
  bool expireUnused(Stream* s) {
    auto now = Clock::now();
    if (now < nextExpiry_) return true;
    nextExpiry_ = now + tick_;
    const int64_t limit = nowNs() - std::chrono::duration_cast<std::chrono::nanoseconds>(unused_).count();
    std::vector<std::string> stale;
    {
      std::unique_lock lock(useMu_);
      for (auto it = lastUsed_.begin(); it != lastUsed_.end();) {
        if (it->second->load(std::memory_order_relaxed) < limit) {
          stale.push_back(it->first);
          it = lastUsed_.erase(it);
        } else {
          ++it;
        }
      }
    }
    if (stale.empty()) return true;
    std::vector<std::string> gone;
    for (const auto& n : stale) {
      lastResubscribe_.erase(n);
      if (state_.unsubscribe(n)) {
        WEFT_LOG_INFO("discovery: unsubscribing {} (unused for {} ms)", n, unused_.count());
        gone.push_back(n);
      }
    }
    bool ok = gone.empty() || !s || send(*s, state_.subscriptionRequests());
    publishStatus();
    for (const auto& n : gone) dropped(n);
    return ok;
  }

  void dropped(const std::string& name) {
    ClusterUpdate u;
    u.name = name;
    u.unsubscribed = true;
    deliver(u);
  }

  void refreshAges() {
    auto now = Clock::now();
    if (now < nextAges_) return;
    nextAges_ = now + std::chrono::seconds(1);
    for (const auto& c : state_.status()) {
      if (c.version.empty()) continue;
      metricsOf(c.name).age->set(std::chrono::duration_cast<std::chrono::seconds>(now - c.appliedAt).count());
    }
  }

  void publishStatus() {
    std::map<std::string, ClusterStatus> s;
    for (auto& c : state_.status()) {
      auto name = c.name;
      s.emplace(std::move(name), std::move(c));
    }
    std::lock_guard lock(statusMu_);
    status_ = std::move(s);
  }

  void publishStatus(const std::vector<ClusterUpdate>& updates) {
    std::lock_guard lock(statusMu_);
    for (const auto& u : updates) {
      auto st = state_.statusOf(u.name);
      if (!st) continue;  // an update is only ever of a subscribed cluster
      status_.insert_or_assign(u.name, std::move(*st));
    }
  }

  ClusterMetrics& metricsOf(const std::string& name) {
    auto it = metrics_.find(name);
    if (it != metrics_.end()) return it->second;
    auto l = labelPair("cluster", name);
    auto& reg = MetricsRegistry::global();
    return metrics_[name] = {
               &reg.counter("weft_discovery_updates_total", "Endpoint-set updates accepted from the controller", l),
               &reg.counter("weft_discovery_resubscribes_total", "Self-heal re-subscriptions of a cluster", l),
               &reg.gauge("weft_discovery_cluster_age_seconds",
                          "Seconds since the cluster's applied set was received (-1: not subscribed)", l),
               &reg.gauge("weft_discovery_cluster_endpoints",
                          "Endpoints in the applied set (-1: does not exist or not subscribed)", l)};
  }

  const DiscoveryOptions opts_;
  const std::function<void(const ClusterUpdate&)> onUpdate_;
  const std::chrono::milliseconds unused_;
  const std::chrono::milliseconds tick_;
  std::mt19937_64 rng_;
  Gauge& connectedGauge_;
  Counter& restarts_;
  RequestEncoder encoder_{opts_.nodeId};  // loop thread only

  // Loop wake-ups: commands, responses, the stream's end, stop.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Cmd> cmds_;
  std::deque<std::unique_ptr<discovery_v3::DiscoveryResponse>> responses_;
  bool streamEnded_ = false;
  bool readerStop_ = false;  // the loop is done with the stream: the reader must not wait for room
  bool stop_ = false;
  grpc::ClientContext* activeCtx_ = nullptr;  // cancelled by stop()
  std::thread thread_;

  // The subscribed names as the callers see them, with their last use.
  std::shared_mutex useMu_;
  std::unordered_map<std::string, std::shared_ptr<std::atomic<int64_t>>> lastUsed_;

  mutable std::mutex statusMu_;
  std::map<std::string, ClusterStatus> status_;  // by name, so status() stays sorted
  std::atomic<bool> connected_{false};

  // Loop thread only.
  XdsClientState state_;
  std::map<std::string, ClusterMetrics> metrics_;
  std::map<std::string, Clock::time_point> lastResubscribe_;
  Clock::time_point nextExpiry_{};
  Clock::time_point nextAges_{};
};

DiscoveryClient::DiscoveryClient(DiscoveryOptions o, std::function<void(const ClusterUpdate&)> onUpdate)
    : impl_(std::make_unique<Impl>(std::move(o), std::move(onUpdate))) {}

DiscoveryClient::~DiscoveryClient() = default;

void DiscoveryClient::start() { impl_->start(); }
void DiscoveryClient::subscribe(const std::string& c) { impl_->subscribe(c); }
void DiscoveryClient::unsubscribe(const std::string& c) { impl_->unsubscribe(c); }
void DiscoveryClient::touch(const std::string& c) { impl_->touch(c); }
void DiscoveryClient::resubscribe(const std::string& c) { impl_->resubscribe(c); }
std::vector<DiscoveryClient::ClusterStatus> DiscoveryClient::status() const { return impl_->status(); }
bool DiscoveryClient::connected() const { return impl_->connected(); }

}  // namespace weft::discovery
