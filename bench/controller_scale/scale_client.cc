// The controller scale benchmark's client (bench/controller_scale/run.py runs it).
//
// N subscribers — each a real DiscoveryClient (src/discovery, the proxy's xDS
// client, one ADS stream and its own gRPC connection) subscribed to every one
// of the S services — and one writer that changes one endpoint R times a
// second through etcd's v3 JSON gateway (the controller's etcd source).
//
// Two kinds of subscriber (--client):
//  - discovery: the proxy's own DiscoveryClient (CDS + EDS, status upkeep,
//    everything a proxy does per response) — the whole chain;
//  - raw: a bare ADS stream per subscriber (one thread, blocking reads,
//    EDS only, every response ACKed with the whole subscription as a
//    state-of-the-world client must) — the controller and the protocol
//    without the proxy client's own costs.
//
// Every change k writes a unique address 10.a.b.c:port (a.b.c = k) into one
// instance key, stamped with its send time; a subscriber that receives an
// endpoint set containing that address for the first time records
// (now - sent) as the update-to-subscriber latency. Prints one JSON object:
// initial sync time, latency percentiles, changes sent, samples, and how many
// (change, subscriber) pairs were never seen.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <envoy/config/endpoint/v3/endpoint.pb.h>
#include <envoy/service/discovery/v3/ads.grpc.pb.h>
#include <envoy/service/discovery/v3/discovery.pb.h>
#include <grpcpp/grpcpp.h>

#include "controller/etcd_messages.h"
#include "core/logging.h"
#include "discovery/discovery_client.h"

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

int64_t nowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

std::string serviceName(int s) { return fmt::format("svc-{:04d}.bench:80", s); }

// Change k -> 10.a.b.c (k < 2^24).
std::string markerAddress(uint32_t k, int port) {
  return fmt::format("10.{}.{}.{}:{}", (k >> 16) & 255, (k >> 8) & 255, k & 255, port);
}

// The change number in an address written by markerAddress, or -1.
int64_t markerOf(const std::string& addr) {
  if (addr.rfind("10.", 0) != 0) return -1;
  unsigned a = 0, b = 0, c = 0, port = 0;
  if (std::sscanf(addr.c_str(), "10.%u.%u.%u:%u", &a, &b, &c, &port) != 4) return -1;
  return int64_t(a) << 16 | int64_t(b) << 8 | int64_t(c);
}

// A keep-alive HTTP/1.1 client for etcd's gateway (blocking; the writer thread only).
class EtcdWriter {
 public:
  EtcdWriter(std::string host, std::string port) : host_(std::move(host)), port_(std::move(port)) {}
  void put(const std::string& key, const std::string& value) {
    std::string body = fmt::format(R"({{"key":"{}","value":"{}"}})", weft::controller::etcd::base64Encode(key),
                                   weft::controller::etcd::base64Encode(value));
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        if (!socket_.is_open()) {
          asio::ip::tcp::resolver r(ctx_);
          asio::connect(socket_, r.resolve(host_, port_));
          socket_.set_option(asio::ip::tcp::no_delay(true));
        }
        http::request<http::string_body> req{http::verb::post, "/v3/kv/put", 11};
        req.set(http::field::host, host_ + ":" + port_);
        req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        http::write(socket_, req);
        boost::beast::flat_buffer buf;
        http::response<http::string_body> res;
        http::read(socket_, buf, res);
        if (res.result_int() != 200) throw std::runtime_error("etcd put: HTTP " + std::to_string(res.result_int()));
        return;
      } catch (const boost::system::system_error&) {
        boost::system::error_code ignored;
        socket_.close(ignored);
        if (attempt == 1) throw;
      }
    }
  }

 private:
  asio::io_context ctx_;
  asio::ip::tcp::socket socket_{ctx_};
  std::string host_, port_;
};

constexpr char kEdsType[] = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

struct Subscriber {
  std::unique_ptr<weft::discovery::DiscoveryClient> client;
  // raw mode
  std::thread thread;
  std::unique_ptr<grpc::ClientContext> ctx;
  std::vector<uint8_t> seen;      // per change: delivered to this subscriber
  std::vector<int64_t> latencyNs;  // loop thread of this subscriber only, read after stop
  std::atomic<int> synced{0};      // clusters delivered with their initial endpoints
  std::vector<uint8_t> clusterSynced;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"weft controller scale benchmark client"};
  std::string xds, etcdUrl = "127.0.0.1:2379", prefix = "/weft/";
  int subscribers = 100, services = 1000, perService = 10, rate = 100, seconds = 60;
  app.add_option("--xds", xds, "controller xDS address")->required();
  app.add_option("--etcd", etcdUrl, "etcd host:port (v3 JSON gateway)");
  app.add_option("--prefix", prefix);
  app.add_option("--subscribers", subscribers);
  app.add_option("--services", services);
  app.add_option("--endpoints-per-service", perService);
  app.add_option("--rate", rate, "endpoint changes per second");
  app.add_option("--seconds", seconds, "how long to change endpoints");
  std::string clientKind = "raw";
  app.add_option("--client", clientKind, "raw | discovery (see the header comment)");
  CLI11_PARSE(app, argc, argv);
  if (clientKind != "raw" && clientKind != "discovery") {
    std::fprintf(stderr, "--client must be raw or discovery\n");
    return 2;
  }
  weft::initLogging("warn");

  const size_t maxChanges = size_t(rate) * size_t(seconds) + 16;
  std::vector<std::atomic<int64_t>> sentNs(maxChanges);
  std::vector<std::unique_ptr<Subscriber>> subs;
  // What a subscriber does with one endpoint set (its own thread only).
  auto onSet = [&sentNs, maxChanges](Subscriber* raw, const std::string& name, const std::vector<std::string>& addrs) {
    int64_t t = nowNs();
    if (addrs.empty()) return;
    int idx = std::atoi(name.c_str() + 4);  // "svc-NNNN.bench:80"
    if (idx >= 0 && size_t(idx) < raw->clusterSynced.size() && !raw->clusterSynced[size_t(idx)]) {
      raw->clusterSynced[size_t(idx)] = 1;
      raw->synced.fetch_add(1, std::memory_order_relaxed);
    }
    for (const auto& a : addrs) {
      auto k = markerOf(a);
      if (k < 0 || size_t(k) >= maxChanges || raw->seen[size_t(k)]) continue;
      int64_t sent = sentNs[size_t(k)].load(std::memory_order_acquire);
      if (sent == 0) continue;
      raw->seen[size_t(k)] = 1;
      raw->latencyNs.push_back(t - sent);
    }
  };
  std::vector<std::string> names;
  for (int c = 0; c < services; ++c) names.push_back(serviceName(c));
  for (int i = 0; i < subscribers; ++i) {
    auto s = std::make_unique<Subscriber>();
    s->seen.assign(maxChanges, 0);
    s->clusterSynced.assign(size_t(services), 0);
    s->latencyNs.reserve(maxChanges);
    auto* raw = s.get();
    if (clientKind == "discovery") {
      weft::discovery::DiscoveryOptions opts;
      opts.controller = xds;
      opts.nodeId = fmt::format("bench-{}", i);
      opts.unusedTimeout = std::chrono::seconds(3600);
      s->client = std::make_unique<weft::discovery::DiscoveryClient>(
          opts, [raw, &onSet](const weft::discovery::ClusterUpdate& u) {
            std::vector<std::string> addrs;
            for (const auto& e : u.endpoints) addrs.push_back(e.address);
            onSet(raw, u.name, addrs);
          });
      s->client->start();
    } else {
      s->ctx = std::make_unique<grpc::ClientContext>();
      s->thread = std::thread([raw, &onSet, &names, &xds, i] {
        grpc::ChannelArguments args;
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection per subscriber, as separate proxies
        args.SetMaxReceiveMessageSize(64 << 20);
        auto channel = grpc::CreateCustomChannel(xds, grpc::InsecureChannelCredentials(), args);
        auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
        auto stream = stub->StreamAggregatedResources(raw->ctx.get());
        envoy::service::discovery::v3::DiscoveryRequest req;
        req.set_type_url(kEdsType);
        req.mutable_node()->set_id(fmt::format("bench-raw-{}", i));
        for (const auto& n : names) req.add_resource_names(n);
        if (!stream->Write(req)) return;
        envoy::service::discovery::v3::DiscoveryResponse resp;
        envoy::config::endpoint::v3::ClusterLoadAssignment cla;
        envoy::service::discovery::v3::Resource wrapped;
        std::vector<std::string> addrs;
        while (stream->Read(&resp)) {
          for (const auto& any : resp.resources()) {
            // The controller batches clusters, each in a Resource wrapper.
            const google::protobuf::Any* inner = &any;
            if (any.Is<envoy::service::discovery::v3::Resource>()) {
              if (!any.UnpackTo(&wrapped)) continue;
              inner = &wrapped.resource();
            }
            if (!inner->UnpackTo(&cla)) continue;
            addrs.clear();
            for (const auto& loc : cla.endpoints()) {
              for (const auto& lb : loc.lb_endpoints()) {
                const auto& sa = lb.endpoint().address().socket_address();
                addrs.push_back(sa.address() + ":" + std::to_string(sa.port_value()));
              }
            }
            onSet(raw, cla.cluster_name(), addrs);
          }
          req.set_version_info(resp.version_info());  // the ACK: the whole subscription again
          req.set_response_nonce(resp.nonce());
          if (!stream->Write(req)) break;
        }
      });
    }
    subs.push_back(std::move(s));
  }
  auto t0 = Clock::now();
  for (auto& s : subs)
    if (s->client)
      for (int c = 0; c < services; ++c) s->client->subscribe(serviceName(c));

  // Initial sync: every subscriber has every cluster.
  for (;;) {
    size_t done = 0;
    for (auto& s : subs) done += s->synced.load(std::memory_order_relaxed) == services;
    if (done == subs.size()) break;
    if (Clock::now() - t0 > std::chrono::seconds(300)) {
      std::fprintf(stderr, "initial sync incomplete after 300 s (%zu of %zu subscribers)\n", done, subs.size());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double syncSeconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::fprintf(stderr, "initial sync: %d subscribers x %d clusters in %.2f s\n", subscribers, services, syncSeconds);
  std::printf("PHASE changes\n");
  std::fflush(stdout);

  auto colon = etcdUrl.rfind(':');
  EtcdWriter writer(etcdUrl.substr(0, colon), etcdUrl.substr(colon + 1));
  auto period = std::chrono::nanoseconds(1'000'000'000 / rate);
  auto next = Clock::now();
  size_t sent = 0;
  auto end = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < end && sent + 1 < maxChanges) {
    std::this_thread::sleep_until(next);
    next += period;
    uint32_t k = static_cast<uint32_t>(sent + 1);  // 0 is "no change"
    int svc = int(k % uint32_t(services));
    int inst = int((k / uint32_t(services)) % uint32_t(perService));
    sentNs[k].store(nowNs(), std::memory_order_release);
    writer.put(fmt::format("{}services/{}/i{}", prefix, serviceName(svc), inst),
               fmt::format(R"({{"address":"{}"}})", markerAddress(k, 20000 + inst)));
    ++sent;
  }
  std::printf("PHASE drain\n");
  std::fflush(stdout);
  // Let the last changes arrive (a missing one shows up as "missed").
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (auto& s : subs) {  // joins the subscribers' threads: latencyNs is ours from here on
    s->client.reset();
    if (s->ctx) s->ctx->TryCancel();
    if (s->thread.joinable()) s->thread.join();
  }

  std::vector<int64_t> all;
  size_t missed = 0;
  for (auto& s : subs) {
    all.insert(all.end(), s->latencyNs.begin(), s->latencyNs.end());
    for (size_t k = 1; k <= sent; ++k) missed += s->seen[k] ? 0 : 1;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    if (all.empty()) return 0.0;
    size_t i = std::min(all.size() - 1, size_t(p * double(all.size())));
    return double(all[i]) / 1e6;
  };
  std::printf(
      "{\"client\":\"%s\",\"subscribers\":%d,\"services\":%d,\"endpoints\":%d,\"rate\":%d,\"seconds\":%d,\"initial_sync_s\":%.2f,"
      "\"changes\":%zu,\"samples\":%zu,\"missed\":%zu,\"p50_ms\":%.2f,\"p90_ms\":%.2f,\"p99_ms\":%.2f,"
      "\"p999_ms\":%.2f,\"max_ms\":%.2f}\n",
      clientKind.c_str(), subscribers, services, services * perService, rate, seconds, syncSeconds, sent, all.size(), missed, pct(0.5),
      pct(0.9), pct(0.99), pct(0.999), all.empty() ? 0.0 : double(all.back()) / 1e6);
  return 0;
}
