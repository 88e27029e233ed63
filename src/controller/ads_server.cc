#include "controller/ads_server.h"

#include <mutex>
#include <set>
#include <stdexcept>

#include <envoy/service/discovery/v3/ads.grpc.pb.h>
#include <envoy/service/discovery/v3/discovery.pb.h>
#include <grpcpp/grpcpp.h>

#include "controller/xds_resources.h"
#include "core/logging.h"
#include "core/metrics.h"

namespace weft::controller {

namespace discovery_v3 = envoy::service::discovery::v3;

namespace {

Counter& typeCounter(const char* name, const char* help, ResourceType t) {
  return threadCounter(name, help, labelPair("type", shortTypeName(t)));
}

}  // namespace

class AdsStream;

// Shared by the service and its streams: the latest snapshot and the open streams.
class Hub {
 public:
  Hub() : streams_(MetricsRegistry::global().gauge("weft_xds_streams", "Open ADS streams")) {}

  void add(AdsStream* s);
  void remove(AdsStream* s);
  void publish(std::shared_ptr<const Snapshot> snap);
  size_t count() const {
    std::lock_guard lock(mu_);
    return set_.size();
  }

 private:
  // Recursive: a stream's write may complete inline inside publish() (gRPC
  // runs callbacks at the end of the caller's exec context), and its
  // completion may end the stream, which removes it from the hub.
  mutable std::recursive_mutex mu_;
  std::shared_ptr<const Snapshot> current_ = std::make_shared<const Snapshot>();
  std::set<AdsStream*> set_;
  Gauge& streams_;
};

class AdsStream final : public grpc::ServerBidiReactor<discovery_v3::DiscoveryRequest, discovery_v3::DiscoveryResponse> {
 public:
  AdsStream(Hub& hub, grpc::CallbackServerContext* ctx) : hub_(hub), peer_(ctx->peer()) {
    hub_.add(this);  // delivers the current snapshot
    StartRead(&req_);
  }

  void onSnapshot(std::shared_ptr<const Snapshot> snap) {
    {
      std::lock_guard lock(mu_);
      state_.onSnapshot(std::move(snap));
    }
    maybeWrite();
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed or the call was cancelled
      bool finishNow;
      {
        std::lock_guard lock(mu_);
        readsDone_ = true;
        finishNow = !writing_ && !finished_;
        finished_ = finished_ || finishNow;
      }
      if (finishNow) Finish(grpc::Status::OK);
      return;
    }
    XdsRequest r;
    r.typeUrl = req_.type_url();
    r.names.assign(req_.resource_names().begin(), req_.resource_names().end());
    r.versionInfo = req_.version_info();
    r.responseNonce = req_.response_nonce();
    r.hasError = req_.has_error_detail();
    r.errorMessage = req_.error_detail().message();
    RequestKind kind;
    {
      std::lock_guard lock(mu_);
      kind = state_.onRequest(r);
    }
    auto type = resourceTypeOf(r.typeUrl);
    switch (kind) {
      case RequestKind::kNack:
        typeCounter("weft_xds_nacks_total", "xDS responses rejected by clients", *type).inc();
        WEFT_LOG_WARN("xds: {} NACKed {} version {} (nonce {}): {}", peer_, shortTypeName(*type), r.versionInfo,
                      r.responseNonce, r.errorMessage);
        break;
      case RequestKind::kAck:
        typeCounter("weft_xds_acks_total", "xDS responses accepted by clients", *type).inc();
        break;
      case RequestKind::kInitial:
        WEFT_LOG_DEBUG("xds: {} subscribes to {} {} name(s)", peer_, shortTypeName(*type), r.names.size());
        break;
      case RequestKind::kUnknownType:
        threadCounter("weft_xds_unknown_type_requests_total", "xDS requests for types this server does not serve", "")
            .inc();
        WEFT_LOG_DEBUG("xds: {} asked for unserved type {}", peer_, r.typeUrl);
        break;
    }
    StartRead(&req_);
    maybeWrite();
  }

  void OnWriteDone(bool ok) override {
    bool finishNow = false;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) broken_ = true;  // the stream is going away; reads will fail next
      if (readsDone_ && !finished_) finishNow = finished_ = true;
    }
    if (finishNow) {
      Finish(grpc::Status::OK);
      return;
    }
    maybeWrite();
  }

  void OnDone() override {
    hub_.remove(this);
    delete this;
  }

 private:
  // Starts the next write when none is outstanding and something is dirty.
  // The response is built from the latest state at this moment: coalescing.
  void maybeWrite() {
    std::optional<XdsResponse> next;
    {
      std::lock_guard lock(mu_);
      if (writing_ || finished_ || broken_ || readsDone_) return;
      next = state_.next();
      if (!next) return;
      writing_ = true;
      // resp_ is only touched while writing_ is being set, so no lock is needed past here.
      fillDiscoveryResponse(*next, &resp_);
    }
    typeCounter("weft_xds_pushes_total", "xDS responses sent", next->type).inc();
    StartWrite(&resp_);  // outside the lock: completion may run inline
  }

  Hub& hub_;
  std::string peer_;
  discovery_v3::DiscoveryRequest req_;   // owned by the single outstanding read
  discovery_v3::DiscoveryResponse resp_; // owned by the single outstanding write
  std::mutex mu_;
  XdsStreamState state_;
  bool writing_ = false;
  bool readsDone_ = false;
  bool finished_ = false;
  bool broken_ = false;
};

void Hub::add(AdsStream* s) {
  std::lock_guard lock(mu_);
  set_.insert(s);
  streams_.set(static_cast<int64_t>(set_.size()));
  s->onSnapshot(current_);
}

void Hub::remove(AdsStream* s) {
  std::lock_guard lock(mu_);
  set_.erase(s);
  streams_.set(static_cast<int64_t>(set_.size()));
}

void Hub::publish(std::shared_ptr<const Snapshot> snap) {
  std::lock_guard lock(mu_);
  current_ = snap;
  // A copy: a stream may end (and leave set_) while it is being notified.
  std::vector<AdsStream*> streams(set_.begin(), set_.end());
  for (auto* s : streams) {
    if (set_.count(s)) s->onSnapshot(snap);
  }
}

class AdsServer::Impl final : public discovery_v3::AggregatedDiscoveryService::CallbackService {
 public:
  grpc::ServerBidiReactor<discovery_v3::DiscoveryRequest, discovery_v3::DiscoveryResponse>* StreamAggregatedResources(
      grpc::CallbackServerContext* ctx) override {
    return new AdsStream(hub_, ctx);
  }

  Hub hub_;
  std::unique_ptr<grpc::Server> server_;
};

AdsServer::AdsServer() : impl_(std::make_unique<Impl>()) {}

AdsServer::~AdsServer() { shutdown(std::chrono::milliseconds(0)); }

int AdsServer::start(const std::string& hostPort, std::shared_ptr<const Snapshot> initial, Keepalive keepalive) {
  impl_->hub_.publish(std::move(initial));
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(hostPort, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(impl_.get());
  // Dead peers are found by keepalive rather than by a write that never completes.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(keepalive.interval.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, static_cast<int>(keepalive.timeout.count()));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.SetMaxSendMessageSize(64 * 1024 * 1024);
  impl_->server_ = builder.BuildAndStart();
  if (!impl_->server_ || port == 0) throw std::runtime_error("cannot listen on " + hostPort);
  return port;
}

void AdsServer::publish(std::shared_ptr<const Snapshot> snap) { impl_->hub_.publish(std::move(snap)); }

void AdsServer::shutdown(std::chrono::milliseconds grace) {
  if (!impl_->server_) return;
  impl_->server_->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server_->Wait();
  impl_->server_.reset();
}

size_t AdsServer::streamCount() const { return impl_->hub_.count(); }

}  // namespace weft::controller
