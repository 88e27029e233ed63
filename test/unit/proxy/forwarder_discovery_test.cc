// The Forwarder's discovery half (src/proxy/forwarder_discovery.cc) against a
// recording DiscoveryLink: first use subscribes and waits (bounded), answers
// settle waiting requests, snapshots replace (never merge), static clusters
// win, use is reported once a tick, self-heal asks again, unused clusters are
// forgotten. One io_context on the test thread plays the worker.
#include <algorithm>
#include <map>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "net/address.h"
#include "proxy/forwarder.h"

namespace weft::proxy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct Recorder {
  std::vector<std::string> subscribed, touched, resubscribed, unsubscribed;
  DiscoveryLink link;
  Recorder() {
    link.subscribe = [this](const std::string& c) { subscribed.push_back(c); };
    link.touch = [this](const std::string& c) { touched.push_back(c); };
    link.resubscribe = [this](const std::string& c) { resubscribed.push_back(c); };
    link.unsubscribe = [this](const std::string& c) { unsubscribed.push_back(c); };
    link.tick = 50ms;
  }
  static size_t count(const std::vector<std::string>& v, const std::string& name) {
    return static_cast<size_t>(std::count(v.begin(), v.end(), name));
  }
};

// A loopback port nothing listens on: probes fail at once (connection refused).
std::string closedAddress() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  return "127.0.0.1:" + std::to_string(port);
}

std::shared_ptr<const model::EndpointSnapshot> snapshot(const std::string& name, const std::string& version,
                                                        std::vector<std::string> addresses, bool exists = true) {
  auto s = std::make_shared<model::EndpointSnapshot>();
  s->name = name;
  s->version = version;
  for (auto& a : addresses) s->endpoints.push_back({a, 1});
  s->exists = exists;
  s->receivedAt = std::chrono::steady_clock::now();
  return s;
}

class ForwarderDiscovery : public ::testing::Test {
 protected:
  ProxyConfig config(const std::string& yamlClusters = "") {
    return parseProxyConfig("outbound: 127.0.0.1:1\ncontroller: 127.0.0.1:2\nworkers: 1\n" + yamlClusters, "t.yaml");
  }
  void make(const ProxyConfig& c) { fwd = std::make_unique<Forwarder>(io.get_executor(), c, Direction::kOutbound, 0, &rec.link); }

  struct Call {
    std::shared_ptr<http::Exchange> exchange;
    std::shared_ptr<bool> done = std::make_shared<bool>(false);
  };
  Call request(const std::string& authority) {
    Call c{std::make_shared<http::Exchange>(io.get_executor())};
    c.exchange->request.method = "GET";
    c.exchange->request.path = "/";
    c.exchange->request.authority = authority;
    asio::co_spawn(io, fwd->handle(c.exchange), [done = c.done](std::exception_ptr) { *done = true; });
    calls.push_back(c);
    return c;
  }
  // Every request ends (failfast is short in these tests) before the
  // forwarder and the io_context go.
  void TearDown() override {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    auto allDone = [&] { return std::all_of(calls.begin(), calls.end(), [](auto& c) { return *c.done; }); };
    while (!allDone() && std::chrono::steady_clock::now() < deadline) run(20ms);
    EXPECT_TRUE(allDone());
    fwd.reset();
    run(10ms);
  }
  void run(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
  // The worker's /debug/endpoints entries, by cluster name.
  std::map<std::string, boost::json::object> debug() {
    std::vector<std::string> out;
    fwd->debugJson("", out);
    std::map<std::string, boost::json::object> m;
    for (auto& s : out) {
      auto o = boost::json::parse(s).as_object();
      m[std::string(o["name"].as_string())] = o;
    }
    return m;
  }
  static std::set<std::string> addresses(boost::json::object& o) {
    std::set<std::string> s;
    for (auto& e : o["endpoints"].as_array()) s.insert(std::string(e.as_object().at("address").as_string()));
    return s;
  }

  asio::io_context io;
  Recorder rec;
  std::unique_ptr<Forwarder> fwd;
  std::vector<Call> calls;
};

TEST_F(ForwarderDiscovery, FirstUseSubscribesWaitsAndAnUnknownServiceFailsFast) {
  make(config());
  auto first = request("New.Test");
  run(30ms);
  ASSERT_EQ(rec.subscribed, std::vector<std::string>{"new.test:80"});  // normalised, asked once
  EXPECT_FALSE(*first.done);                                          // waiting for the answer
  EXPECT_EQ(std::string(debug()["new.test:80"]["discovery_state"].as_string()), "awaiting");
  auto second = request("new.test:80");
  run(30ms);
  EXPECT_FALSE(*second.done);
  EXPECT_EQ(rec.subscribed.size(), 1u);  // the second request waits on the same subscription

  fwd->applyDiscovered(snapshot("new.test:80", "absent", {}, false));
  run(30ms);
  ASSERT_TRUE(*first.done && *second.done);
  EXPECT_EQ(first.exchange->error(), ProxyError::kUnknownService);
  EXPECT_EQ(second.exchange->error(), ProxyError::kUnknownService);
  auto third = request("new.test:80");
  run(10ms);
  ASSERT_TRUE(*third.done);  // at once, no wait
  EXPECT_EQ(third.exchange->error(), ProxyError::kUnknownService);
  EXPECT_EQ(std::string(debug()["new.test:80"]["discovery_state"].as_string()), "unknown-service");
  EXPECT_EQ(std::string(debug()["new.test:80"]["version"].as_string()), "absent");

  // Garbage authorities never become subscriptions.
  auto junk = request("");
  auto junk2 = request("a b:80");
  run(10ms);
  EXPECT_TRUE(*junk.done && *junk2.done);
  EXPECT_EQ(junk2.exchange->error(), ProxyError::kUnknownService);
  EXPECT_EQ(rec.subscribed.size(), 1u);
}

TEST_F(ForwarderDiscovery, NoAnswerWithinFailfastIsADiscoveryTimeoutThenFailsFastUntilAnAnswer) {
  make(config("clusters: [{name: slow.test, failfast_timeout: 200ms}]\n"));
  auto t0 = std::chrono::steady_clock::now();
  auto first = request("slow.test");
  run(120ms);
  EXPECT_FALSE(*first.done);
  run(300ms);
  ASSERT_TRUE(*first.done);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 200ms);
  EXPECT_EQ(first.exchange->error(), ProxyError::kDiscoveryTimeout);
  auto second = request("slow.test");
  run(10ms);
  ASSERT_TRUE(*second.done);  // fail-fast: no second wait behind a silent controller
  EXPECT_EQ(second.exchange->error(), ProxyError::kDiscoveryTimeout);

  // An answer with an empty set: requests wait for endpoints (bounded), and a
  // set arriving during the wait lets them go on to the balancer.
  fwd->applyDiscovered(snapshot("slow.test:80", "v1", {}));
  auto third = request("slow.test");
  run(50ms);
  EXPECT_FALSE(*third.done);
  fwd->applyDiscovered(snapshot("slow.test:80", "v2", {closedAddress()}));
  run(500ms);
  ASSERT_TRUE(*third.done);
  // It reached the balancer: the only endpoint refuses connections.
  EXPECT_NE(third.exchange->error(), ProxyError::kDiscoveryTimeout);
  EXPECT_NE(third.exchange->error(), ProxyError::kUnknownService);
}

TEST_F(ForwarderDiscovery, SnapshotsReplaceNeverMergeAndKeepTheControllersVersion) {
  make(config("clusters: [{name: api.test, protocol: http1, failfast_timeout: 200ms}]\n"));
  std::string a = closedAddress(), b = "127.0.0.1:9", c = "127.0.0.1:7";
  auto s1 = snapshot("api.test:80", "3f0c-1", {a, b});
  auto s2 = snapshot("web.test:80", "77", {a});
  auto mut = std::const_pointer_cast<model::EndpointSnapshot>(s2);
  mut->protocol = "http2";
  fwd->applyDiscovered(s1);
  fwd->applyDiscovered(s2);
  run(10ms);
  auto d = debug();
  EXPECT_EQ(addresses(d["api.test:80"]), (std::set<std::string>{a, b}));
  EXPECT_EQ(std::string(d["api.test:80"]["version"].as_string()), "3f0c-1");
  EXPECT_EQ(std::string(d["api.test:80"]["source"].as_string()), "discovery");
  EXPECT_LT(d["api.test:80"]["age_seconds"].to_number<double>(), 5.0);
  // The config says http1 for api; web takes the controller's http2.
  EXPECT_EQ(std::string(d["api.test:80"]["protocol"].as_string()), "http1");
  EXPECT_EQ(std::string(d["web.test:80"]["protocol"].as_string()), "http2");

  fwd->applyDiscovered(snapshot("api.test:80", "3f0c-2", {b, c}));
  run(10ms);
  d = debug();
  EXPECT_EQ(addresses(d["api.test:80"]), (std::set<std::string>{b, c}));  // a is gone: replaced, not merged
  EXPECT_EQ(std::string(d["api.test:80"]["version"].as_string()), "3f0c-2");
  auto counted = d["api.test:80"]["pending"].to_number<int64_t>() + d["api.test:80"]["ready"].to_number<int64_t>() +
                 d["api.test:80"]["failed"].to_number<int64_t>();
  EXPECT_EQ(counted, 2);  // the state invariant

  // The controller deletes it: unknown from now on, no endpoints left.
  fwd->applyDiscovered(snapshot("api.test:80", "absent", {}, false));
  run(10ms);
  d = debug();
  EXPECT_TRUE(d["api.test:80"]["endpoints"].as_array().empty());
  EXPECT_EQ(std::string(d["api.test:80"]["discovery_state"].as_string()), "unknown-service");
}

TEST_F(ForwarderDiscovery, AStaticClusterWinsOverDiscoveryAndAReloadCanTurnOneIntoTheOther) {
  auto a = closedAddress();
  make(config("clusters: [{name: s.test, failfast_timeout: 200ms, endpoints: [" + a + "]}]\n"));
  fwd->applyDiscovered(snapshot("s.test:80", "v9", {"127.0.0.1:9"}));
  run(10ms);
  auto d = debug();
  EXPECT_EQ(addresses(d["s.test:80"]), std::set<std::string>{a});
  EXPECT_EQ(std::string(d["s.test:80"]["source"].as_string()), "static");
  auto r = request("s.test");
  run(10ms);
  EXPECT_TRUE(rec.subscribed.empty());  // a static cluster is never subscribed

  // Reload: s.test becomes settings only -> discovered on its next use.
  fwd->applyConfig(config("clusters: [{name: s.test, failfast_timeout: 200ms}]\n"));
  EXPECT_EQ(debug().count("s.test:80"), 0u);
  auto r2 = request("s.test");
  run(10ms);
  EXPECT_EQ(rec.subscribed, std::vector<std::string>{"s.test:80"});
  fwd->applyDiscovered(snapshot("s.test:80", "v10", {"127.0.0.1:9"}));
  run(10ms);
  EXPECT_EQ(std::string(debug()["s.test:80"]["source"].as_string()), "discovery");
  // And back to static: the subscription is dropped, the config's set applies.
  fwd->applyConfig(config("clusters: [{name: s.test, failfast_timeout: 200ms, endpoints: [" + a + "]}]\n"));
  d = debug();
  EXPECT_EQ(std::string(d["s.test:80"]["source"].as_string()), "static");
  EXPECT_EQ(addresses(d["s.test:80"]), std::set<std::string>{a});
  EXPECT_EQ(rec.unsubscribed, std::vector<std::string>{"s.test:80"});
}

TEST_F(ForwarderDiscovery, UseIsReportedOncePerTickAndAllFailedClustersResubscribe) {
  make(config("clusters: [{name: dead.test, failfast_timeout: 200ms}]\n"));
  fwd->applyDiscovered(snapshot("dead.test:80", "v1", {closedAddress()}));
  fwd->applyDiscovered(snapshot("idle.test:80", "v1", {closedAddress()}));
  for (int i = 0; i < 20; ++i) request("dead.test");
  run(1500ms);
  // 20 requests in one tick: one touch. The idle cluster is never touched.
  EXPECT_EQ(Recorder::count(rec.touched, "dead.test:80"), 1u);
  EXPECT_EQ(Recorder::count(rec.touched, "idle.test:80"), 0u);
  // No endpoint ready for longer than failfast: asked again, spaced by at least failfast.
  auto n = Recorder::count(rec.resubscribed, "dead.test:80");
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, 7u);
  // The idle cluster has the default failfast (3 s): not yet.
  EXPECT_EQ(Recorder::count(rec.resubscribed, "idle.test:80"), 0u);
}

TEST_F(ForwarderDiscovery, UnusedClustersAreForgottenUnlessARequestRacedTheUnsubscribe) {
  rec.link.tick = 10s;  // no tick clears `used` during the test
  make(config("clusters: [{name: gone.test, failfast_timeout: 200ms}, {name: busy.test, failfast_timeout: 200ms}]\n"));
  fwd->applyDiscovered(snapshot("gone.test:80", "v1", {closedAddress()}));
  fwd->applyDiscovered(snapshot("busy.test:80", "v1", {closedAddress()}));
  run(10ms);
  fwd->forgetDiscovered("gone.test:80");
  EXPECT_EQ(debug().count("gone.test:80"), 0u);
  EXPECT_TRUE(rec.subscribed.empty());
  // Used since the last tick: kept (its set serves) and subscribed again.
  auto r = request("busy.test");
  run(5ms);
  fwd->forgetDiscovered("busy.test:80");
  EXPECT_EQ(debug().count("busy.test:80"), 1u);
  EXPECT_EQ(rec.subscribed, std::vector<std::string>{"busy.test:80"});
  // A forgotten cluster used again is subscribed again.
  auto r2 = request("gone.test");
  run(10ms);
  EXPECT_EQ(Recorder::count(rec.subscribed, "gone.test:80"), 1u);
}

TEST_F(ForwarderDiscovery, AForgottenClusterIsNotRoutedToAgain) {
  // Its route was the forwarder's last one: forgetting the cluster must drop
  // that too, or the next request would reuse the removed entry unsubscribed.
  make(config("clusters: [{name: once.test, failfast_timeout: 200ms}]\n"));
  fwd->applyDiscovered(snapshot("once.test:80", "v1", {closedAddress()}));
  auto r = request("once.test");
  run(300ms);  // the request ends and ticks pass: the cluster is unused again
  ASSERT_TRUE(*r.done);
  fwd->forgetDiscovered("once.test:80");
  ASSERT_EQ(debug().count("once.test:80"), 0u);
  EXPECT_TRUE(rec.subscribed.empty());
  auto again = request("once.test");
  run(10ms);
  EXPECT_EQ(rec.subscribed, std::vector<std::string>{"once.test:80"});
  fwd->applyDiscovered(snapshot("once.test:80", "absent", {}, false));
  run(10ms);
}

TEST_F(ForwarderDiscovery, TheClusterLimitBoundsNewAuthorities) {
  rec.link.maxClusters = 2;
  make(config());
  auto a = request("a.test"), b = request("b.test"), c = request("c.test");
  run(10ms);
  EXPECT_EQ(rec.subscribed, (std::vector<std::string>{"a.test:80", "b.test:80"}));
  ASSERT_TRUE(*c.done);
  EXPECT_EQ(c.exchange->error(), ProxyError::kUnknownService);
  fwd->applyDiscovered(snapshot("a.test:80", "absent", {}, false));
  fwd->applyDiscovered(snapshot("b.test:80", "absent", {}, false));
  run(10ms);
}

}  // namespace
}  // namespace weft::proxy
