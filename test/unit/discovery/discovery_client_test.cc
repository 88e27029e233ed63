// The discovery client against the real controller code (StateStore +
// FileSource + AdsServer) in-process over loopback gRPC, and against a
// scripted fake ADS server for the NACK path (the real controller never sends
// an invalid response).
#include "discovery/discovery_client.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <envoy/config/endpoint/v3/endpoint.pb.h>
#include <envoy/service/discovery/v3/ads.grpc.pb.h>
#include <grpcpp/grpcpp.h>

#include "controller/ads_server.h"
#include "controller/file_source.h"
#include "controller/state_store.h"
#include "core/metrics.h"
#include "discovery/xds_client_state.h"

namespace weft::discovery {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace discovery_v3 = envoy::service::discovery::v3;

// Collects updates delivered on the client's thread.
class Updates {
 public:
  void operator()(const ClusterUpdate& u) {
    {
      std::lock_guard lock(mu_);
      all_.push_back(u);
    }
    cv_.notify_all();
  }
  // Waits for an update of `name` after index `from` matching `pred`; returns its index or -1.
  template <class Pred>
  int waitFor(const std::string& name, size_t from, Pred pred, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    int found = -1;
    cv_.wait_for(lock, timeout, [&] {
      for (size_t i = from; i < all_.size(); ++i) {
        if (all_[i].name == name && pred(all_[i])) {
          found = static_cast<int>(i);
          return true;
        }
      }
      return false;
    });
    return found;
  }
  ClusterUpdate at(int i) {
    std::lock_guard lock(mu_);
    return all_.at(static_cast<size_t>(i));
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return all_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ClusterUpdate> all_;
};

bool eventually(const std::function<bool()>& f, std::chrono::milliseconds timeout = 5s) {
  auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

// The real controller: services.yaml watched by FileSource (polled every
// 50 ms here), snapshots published to an AdsServer that can be restarted on
// the same port.
class Controller {
 public:
  Controller() {
    char tmpl[] = "/tmp/weft-discovery-XXXXXX";
    if (!::mkdtemp(tmpl)) std::abort();
    dir_ = tmpl;
    path_ = dir_ + "/services.yaml";
  }
  ~Controller() {
    stopPolling_ = true;
    if (poller_.joinable()) poller_.join();
    stopServer();
    std::filesystem::remove_all(dir_);
  }

  void write(const std::string& yaml) {
    auto tmp = path_ + ".tmp";
    std::ofstream(tmp) << yaml;
    std::filesystem::rename(tmp, path_);
  }

  void start(const std::string& yaml) {
    write(yaml);
    source_ = std::make_unique<controller::FileSource>(path_, store_);
    ASSERT_EQ(source_->poll(), controller::FileSource::Outcome::kApplied);
    store_.addListener([this](const std::shared_ptr<const controller::Snapshot>& snap) {
      std::lock_guard lock(mu_);
      if (ads_) ads_->publish(snap);
    });
    startServer("127.0.0.1:0");
    poller_ = std::thread([this] {
      while (!stopPolling_) {
        source_->poll();
        std::this_thread::sleep_for(50ms);
      }
    });
  }

  void startServer(const std::string& hostPort) {
    std::lock_guard lock(mu_);
    ads_ = std::make_unique<controller::AdsServer>();
    port_ = ads_->start(hostPort, store_.current(), controller::AdsServer::Keepalive{});
  }
  void stopServer() {
    std::lock_guard lock(mu_);
    if (!ads_) return;
    ads_->shutdown(0ms);
    ads_.reset();
  }
  void restartServer() { startServer("127.0.0.1:" + std::to_string(port_)); }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string versionOf(const std::string& name) {
    auto snap = store_.current();
    auto* c = snap->find(name);
    return c ? (*c)->version : std::string(kAbsentVersion);
  }

 private:
  std::string dir_, path_;
  controller::StateStore store_;
  std::unique_ptr<controller::FileSource> source_;
  std::mutex mu_;
  std::unique_ptr<controller::AdsServer> ads_;
  int port_ = 0;
  std::atomic<bool> stopPolling_{false};
  std::thread poller_;
};

DiscoveryOptions options(const std::string& controller) {
  DiscoveryOptions o;
  o.controller = controller;
  o.nodeId = "weft-proxy-test";
  o.reconnectBase = 20ms;
  o.reconnectMax = 200ms;
  return o;
}

const char* kTwo =
    "services:\n"
    "  - name: api.test:80\n"
    "    protocol: http2\n"
    "    endpoints: [127.0.0.1:9001, {address: 127.0.0.1:9002, weight: 2}]\n"
    "  - name: web.test:80\n"
    "    endpoints: [127.0.0.1:9100]\n";

TEST(DiscoveryClient, SubscribeLiveEditsRemovalAndControllerRestart) {
  Controller ctl;
  ctl.start(kTwo);
  Updates updates;
  DiscoveryClient client(options(ctl.address()), std::ref(updates));
  client.start();
  client.subscribe("api.test:80");

  // subscribe -> the whole set, the controller's version, the CDS protocol.
  int i = updates.waitFor("api.test:80", 0, [](const ClusterUpdate& u) { return u.protocol.has_value(); });
  ASSERT_GE(i, 0);
  auto u = updates.at(i);
  EXPECT_EQ(u.version, ctl.versionOf("api.test:80"));
  EXPECT_TRUE(u.exists);
  EXPECT_EQ(u.protocol, "http2");
  ASSERT_EQ(u.endpoints.size(), 2u);
  EXPECT_EQ(u.endpoints[0], (model::Endpoint{"127.0.0.1:9001", 1}));
  EXPECT_EQ(u.endpoints[1], (model::Endpoint{"127.0.0.1:9002", 2}));
  EXPECT_TRUE(client.connected());
  auto st = client.status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].version, u.version);
  EXPECT_EQ(st[0].endpoints, 2u);
  EXPECT_GE(MetricsRegistry::global().valueOf("weft_discovery_updates_total", labelPair("cluster", "api.test:80")), 1);
  EXPECT_EQ(MetricsRegistry::global().valueOf("weft_discovery_connected"), 1);

  // An edit of services.yaml -> the new WHOLE set within 1 s (9001 gone, not merged).
  size_t mark = updates.size();
  auto edited = Clock::now();
  ctl.write(
      "services:\n"
      "  - name: api.test:80\n"
      "    protocol: http2\n"
      "    endpoints: [127.0.0.1:9002, 127.0.0.1:9003]\n"
      "  - name: web.test:80\n"
      "    endpoints: [127.0.0.1:9100]\n");
  i = updates.waitFor("api.test:80", mark, [](const ClusterUpdate& u) { return u.endpoints.size() == 2 && u.endpoints[1].address == "127.0.0.1:9003"; });
  ASSERT_GE(i, 0);
  EXPECT_LT(Clock::now() - edited, 1s);
  u = updates.at(i);
  EXPECT_EQ(u.endpoints[0], (model::Endpoint{"127.0.0.1:9002", 1}));
  EXPECT_EQ(u.version, ctl.versionOf("api.test:80"));

  // Controller restart: nothing is delivered while it is away (the last set keeps
  // serving); the client reconnects and receives the state as it is now.
  ctl.stopServer();
  ASSERT_TRUE(eventually([&] { return !client.connected(); }));
  mark = updates.size();
  ctl.write(
      "services:\n"
      "  - name: api.test:80\n"
      "    protocol: http2\n"
      "    endpoints: [127.0.0.1:9004]\n");
  std::this_thread::sleep_for(400ms);  // several reconnect attempts fail meanwhile
  EXPECT_EQ(updates.size(), mark) << "an update was delivered while the controller was down";
  auto restarted = Clock::now();
  ctl.restartServer();
  i = updates.waitFor("api.test:80", mark, [](const ClusterUpdate& u) { return u.endpoints.size() == 1; });
  ASSERT_GE(i, 0);
  EXPECT_LT(Clock::now() - restarted, 2s);
  u = updates.at(i);
  EXPECT_EQ(u.endpoints[0].address, "127.0.0.1:9004");
  EXPECT_EQ(u.version, ctl.versionOf("api.test:80"));
  EXPECT_TRUE(client.connected());
  EXPECT_GE(MetricsRegistry::global().valueOf("weft_discovery_stream_restarts_total"), 1);

  // The cluster removed from services.yaml -> exists = false, no endpoints.
  mark = updates.size();
  ctl.write("services: []\n");
  i = updates.waitFor("api.test:80", mark, [](const ClusterUpdate& u) { return !u.exists; });
  ASSERT_GE(i, 0);
  u = updates.at(i);
  EXPECT_TRUE(u.endpoints.empty());
  EXPECT_EQ(u.version, kAbsentVersion);
  EXPECT_FALSE(client.status().at(0).exists);
}

TEST(DiscoveryClient, UnknownClusterResubscribeAndUnsubscribe) {
  Controller ctl;
  ctl.start(kTwo);
  Updates updates;
  DiscoveryClient client(options(ctl.address()), std::ref(updates));
  client.start();
  client.subscribe("nope.test:80");
  client.subscribe("web.test:80");
  int i = updates.waitFor("nope.test:80", 0, [](const ClusterUpdate& u) { return !u.exists; });
  ASSERT_GE(i, 0);
  EXPECT_TRUE(updates.at(i).endpoints.empty());
  i = updates.waitFor("web.test:80", 0, [](const ClusterUpdate& u) { return u.exists; });
  ASSERT_GE(i, 0);

  // A second subscribe of an answered cluster (another worker's first use)
  // re-delivers the applied set; it is not counted as an update.
  auto counted = [] {
    return MetricsRegistry::global().valueOf("weft_discovery_updates_total", labelPair("cluster", "web.test:80"));
  };
  auto countedBefore = counted();
  size_t again = updates.size();
  client.subscribe("web.test:80");
  i = updates.waitFor("web.test:80", again, [](const ClusterUpdate& u) { return u.exists && u.endpoints.size() == 1; });
  ASSERT_GE(i, 0);
  EXPECT_EQ(updates.at(i).version, ctl.versionOf("web.test:80"));
  EXPECT_EQ(counted(), countedBefore);

  // Self-heal: the controller resends the whole set although nothing changed.
  auto resubs = [] {
    return MetricsRegistry::global().valueOf("weft_discovery_resubscribes_total", labelPair("cluster", "web.test:80"));
  };
  auto before = resubs();
  size_t mark = updates.size();
  client.resubscribe("web.test:80");
  i = updates.waitFor("web.test:80", mark, [](const ClusterUpdate& u) { return u.exists && u.endpoints.size() == 1; });
  ASSERT_GE(i, 0);
  EXPECT_EQ(updates.at(i).version, ctl.versionOf("web.test:80"));
  EXPECT_EQ(resubs(), before + 1);

  // unsubscribe: delivered as `unsubscribed`; later edits no longer arrive.
  mark = updates.size();
  client.unsubscribe("web.test:80");
  i = updates.waitFor("web.test:80", mark, [](const ClusterUpdate& u) { return u.unsubscribed; });
  ASSERT_GE(i, 0);
  EXPECT_EQ(client.status().size(), 1u);
  mark = updates.size();
  ctl.write("services: [{name: web.test:80, endpoints: [127.0.0.1:9200]}]\n");
  EXPECT_LT(updates.waitFor("web.test:80", mark, [](const ClusterUpdate&) { return true; }, 600ms), 0);
}

TEST(DiscoveryClient, UnusedClustersAreUnsubscribedAndTouchedOnesKept) {
  Controller ctl;
  ctl.start(kTwo);
  Updates updates;
  auto o = options(ctl.address());
  o.unusedTimeout = 300ms;
  DiscoveryClient client(o, std::ref(updates));
  client.start();
  client.subscribe("api.test:80");
  client.subscribe("web.test:80");
  // Both in use until their first sets arrive (a slow first connect must not expire them).
  ASSERT_TRUE(eventually([&] {
    client.touch("api.test:80");
    client.touch("web.test:80");
    return updates.waitFor("api.test:80", 0, [](const ClusterUpdate& u) { return u.exists; }, 0ms) >= 0 &&
           updates.waitFor("web.test:80", 0, [](const ClusterUpdate& u) { return u.exists; }, 0ms) >= 0;
  }));
  EXPECT_LT(updates.waitFor("web.test:80", 0, [](const ClusterUpdate& u) { return u.unsubscribed; }, 0ms), 0);
  auto start = Clock::now();
  // api is used every 50 ms, web never.
  while (Clock::now() - start < 900ms) {
    client.touch("api.test:80");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(updates.waitFor("web.test:80", 0, [](const ClusterUpdate& u) { return u.unsubscribed; }, 10ms), 0);
  EXPECT_LT(updates.waitFor("api.test:80", 0, [](const ClusterUpdate& u) { return u.unsubscribed; }, 10ms), 0);
  auto st = client.status();
  ASSERT_EQ(st.size(), 1u);
  EXPECT_EQ(st[0].name, "api.test:80");
  // A dropped cluster used again is subscribed again and gets its whole set.
  size_t mark = updates.size();
  client.subscribe("web.test:80");
  EXPECT_GE(updates.waitFor("web.test:80", mark, [](const ClusterUpdate& u) { return u.exists && !u.unsubscribed; }), 0);
}

// A scripted ADS server: sends what the test queues, records what it receives.
class FakeAds final : public discovery_v3::AggregatedDiscoveryService::Service {
 public:
  grpc::Status StreamAggregatedResources(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<discovery_v3::DiscoveryResponse, discovery_v3::DiscoveryRequest>* stream) override {
    std::thread writer([&] {
      std::unique_lock lock(mu_);
      while (!ctx->IsCancelled() && !done_) {
        cv_.wait_for(lock, 20ms);
        while (!toSend_.empty()) {
          auto r = toSend_.front();
          toSend_.pop_front();
          lock.unlock();
          stream->Write(r);
          lock.lock();
        }
      }
    });
    discovery_v3::DiscoveryRequest req;
    while (stream->Read(&req)) {
      std::lock_guard lock(mu_);
      received_.push_back(req);
      cv_.notify_all();
    }
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    writer.join();
    return grpc::Status::OK;
  }
  void send(discovery_v3::DiscoveryResponse r) {
    std::lock_guard lock(mu_);
    toSend_.push_back(std::move(r));
    cv_.notify_all();
  }
  // Waits for a received request matching `pred` at index >= from.
  template <class Pred>
  std::optional<discovery_v3::DiscoveryRequest> waitFor(size_t from, Pred pred) {
    std::unique_lock lock(mu_);
    std::optional<discovery_v3::DiscoveryRequest> out;
    cv_.wait_for(lock, 5s, [&] {
      for (size_t i = from; i < received_.size(); ++i) {
        if (pred(received_[i])) {
          out = received_[i];
          return true;
        }
      }
      return false;
    });
    return out;
  }
  size_t receivedCount() {
    std::lock_guard lock(mu_);
    return received_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<discovery_v3::DiscoveryResponse> toSend_;
  std::vector<discovery_v3::DiscoveryRequest> received_;
  bool done_ = false;
};

discovery_v3::DiscoveryResponse edsResponse(const std::string& version, const std::string& nonce, uint32_t weight) {
  envoy::config::endpoint::v3::ClusterLoadAssignment cla;
  cla.set_cluster_name("api.test:80");
  auto* lb = cla.add_endpoints()->add_lb_endpoints();
  auto* sa = lb->mutable_endpoint()->mutable_address()->mutable_socket_address();
  sa->set_address("127.0.0.1");
  sa->set_port_value(9001);
  lb->mutable_load_balancing_weight()->set_value(weight);
  discovery_v3::DiscoveryResponse r;
  r.set_type_url(std::string(kEndpointTypeUrl));
  r.set_version_info(version);
  r.set_nonce(nonce);
  r.add_resources()->PackFrom(cla);
  return r;
}

TEST(DiscoveryClient, AcksValidAndNacksInvalidResponsesOverTheWire) {
  FakeAds fake;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&fake);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  ASSERT_GT(port, 0);

  Updates updates;
  auto nacks = [] { return MetricsRegistry::global().valueOf("weft_xds_nacks_sent_total", labelPair("type", "eds")); };
  auto nacksBefore = nacks();
  {
    DiscoveryClient client(options("127.0.0.1:" + std::to_string(port)), std::ref(updates));
    client.start();
    client.subscribe("api.test:80");
    auto sub = fake.waitFor(0, [](const auto& r) { return r.type_url() == kEndpointTypeUrl; });
    ASSERT_TRUE(sub);
    ASSERT_EQ(sub->resource_names_size(), 1);
    EXPECT_EQ(sub->resource_names(0), "api.test:80");
    EXPECT_EQ(sub->node().id(), "weft-proxy-test");
    EXPECT_TRUE(sub->response_nonce().empty());

    fake.send(edsResponse("v1", "n1", 5));
    auto ack = fake.waitFor(0, [](const auto& r) { return r.response_nonce() == "n1"; });
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->version_info(), "v1");
    EXPECT_FALSE(ack->has_error_detail());
    int i = updates.waitFor("api.test:80", 0, [](const ClusterUpdate& u) { return u.version == "v1"; });
    ASSERT_GE(i, 0);
    EXPECT_EQ(updates.at(i).endpoints.at(0).weight, 5u);

    size_t mark = updates.size();
    fake.send(edsResponse("v2", "n2", 0));  // weight 0: invalid
    auto nack = fake.waitFor(0, [](const auto& r) { return r.response_nonce() == "n2"; });
    ASSERT_TRUE(nack);
    EXPECT_TRUE(nack->has_error_detail());
    EXPECT_NE(nack->error_detail().message().find("weight"), std::string::npos) << nack->error_detail().message();
    EXPECT_EQ(nack->version_info(), "v1");  // previous version kept
    EXPECT_TRUE(eventually([&] { return nacks() == nacksBefore + 1; }));
    EXPECT_EQ(updates.size(), mark);  // nothing delivered
    EXPECT_EQ(client.status().at(0).version, "v1");
  }
  server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace weft::discovery
