// Forwarder::start() (src/proxy/forwarder_start.cc): a request to a cluster
// whose endpoint has an HTTP/2 connection with room goes out without a
// coroutine, and whatever is not a plain answer (a retryable answer, a
// refused stream, a deadline, a cluster removed meanwhile) still ends the way
// the coroutine path ends it. Against a scripted h2 upstream on loopback; one
// io_context on the test thread plays the worker.
//
// start() is called here outside io.run(), where a spawned coroutine only
// begins once the context runs: an endpoint already chosen when start()
// returns is the mark of the path without a coroutine.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "core/metrics.h"
#include "proxy/forwarder.h"
#include "../upstream/scripted_h2_upstream.h"

namespace weft::proxy {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using scripted::ScriptedConn;
namespace h2error = http::h2error;

constexpr std::string_view kCluster = "fast.test:80";

class ForwarderStart : public ::testing::Test {
 protected:
  ProxyConfig config(const std::string& extra = "") {
    return parseProxyConfig("outbound: 127.0.0.1:1\nworkers: 1\nclusters: [{name: fast.test, protocol: http2, "
                            "endpoints: [" + upstream.address() + "]" + extra + "}]\n",
                            "t.yaml");
  }
  void make(const ProxyConfig& c) { fwd = std::make_unique<Forwarder>(io.get_executor(), c, Direction::kOutbound, 0); }

  std::shared_ptr<http::Exchange> start(const std::string& path) {
    auto ex = std::make_shared<http::Exchange>(io.get_executor());
    ex->request.method = "GET";
    ex->request.path = path;
    ex->request.authority = "fast.test";
    ex->request.version = http::Version::kHttp2;
    ex->requestBody.finish();
    fwd->start(ex, io.get_executor());
    exchanges.push_back(ex);
    return ex;
  }
  // Until the exchange's answer (or failure) has fully arrived.
  bool runUntilOver(const std::shared_ptr<http::Exchange>& ex, std::chrono::milliseconds limit = 5s) {
    return runUntil([&] { return ex->responseBody.ended(); }, limit);
  }
  template <class Pred>
  bool runUntil(Pred done, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(5ms);
    }
    return done();
  }
  // The first request opens the connection (the coroutine path: it waits
  // for the connect); the ones after it find room on that connection.
  void openConnection() {
    auto first = start("/open");
    EXPECT_TRUE(first->endpoint.empty()) << "no connection yet: this one waits, in the coroutine";
    ASSERT_TRUE(runUntilOver(first));
    ASSERT_EQ(first->response.status, 200);
    // The coroutine's own end (telemetry) comes after the stream's: until
    // only `first` and `exchanges` hold the exchange.
    ASSERT_TRUE(runUntil([&] { return first.use_count() == 2; }));
  }
  static int64_t responses(std::string_view statusClass) {
    return MetricsRegistry::global().valueOf(
        "weft_responses_total", labels({labelPair("direction", "outbound"), labelPair("cluster", kCluster),
                                        labelPair("status_class", statusClass)}));
  }
  // The upstream connections that carried requests (readiness probes are
  // connections too, without any).
  std::vector<ScriptedConn*> h2Conns() {
    std::vector<ScriptedConn*> out;
    for (auto& c : upstream.conns)
      if (!c->requests.empty()) out.push_back(c.get());
    return out;
  }
  static std::string body(http::Exchange& ex) { return std::string(ex.responseBody.data()); }
  // Sends what the scripted upstream's codec has queued (it only writes by
  // itself after reading something).
  void flush(ScriptedConn& c) {
    asio::co_spawn(io, c.flush(), asio::detached);
  }

  // The forwarder goes only when it is done with every request: a request's
  // coroutine may still run after its answer has arrived (the stream's own
  // end comes later), and must not outlive the forwarder.
  void TearDown() override {
    EXPECT_TRUE(runUntil([&] {
      return std::all_of(exchanges.begin(), exchanges.end(),
                         [](auto& e) { return e->responseBody.ended() && e.use_count() == 1; });
    }));
    fwd.reset();
    runUntil([] { return false; }, 10ms);
  }

  asio::io_context io;
  scripted::ScriptedUpstream upstream{io};
  std::unique_ptr<Forwarder> fwd;
  std::vector<std::shared_ptr<http::Exchange>> exchanges;
};

void answer(ScriptedConn& c, int32_t id, int status) {
  http::ResponseHead head;
  head.status = status;
  c.codec.submitResponse(id, head, false);
}

TEST_F(ForwarderStart, ARequestGoesOutAtOnceWhenAConnectionHasRoomAndIsCountedLikeAnyOther) {
  upstream.onRequest = [](ScriptedConn& c, int32_t id) { c.respond(id, "reply-" + c.paths[id]); };
  make(config());
  auto before = responses("2xx");
  openConnection();
  EXPECT_EQ(responses("2xx"), before + 1);

  auto ex = start("/fast");
  EXPECT_EQ(ex->endpoint, upstream.address()) << "picked and sent before start() returned";
  ASSERT_TRUE(runUntilOver(ex));
  EXPECT_EQ(ex->response.status, 200);
  EXPECT_EQ(body(*ex), "reply-/fast");
  EXPECT_FALSE(ex->responseBody.failed());
  EXPECT_EQ(ex->retries, 0);
  EXPECT_EQ(responses("2xx"), before + 2) << "the answer is counted when the stream ends";
  EXPECT_EQ(h2Conns().size(), 1u);
}

TEST_F(ForwarderStart, ARetryableAnswerToARequestSentAtOnceIsRetried) {
  // 503 to the first /flaky, 200 to the next.
  upstream.onRequest = [](ScriptedConn& c, int32_t id) {
    bool firstFlaky = c.paths[id] == "/flaky" && std::count_if(c.paths.begin(), c.paths.end(), [](auto& p) {
                                                   return p.second == "/flaky";
                                                 }) == 1;
    if (firstFlaky)
      answer(c, id, 503);
    else
      c.respond(id, "reply-" + c.paths[id]);
  };
  make(config(", retry_budget: {ratio: 10}"));  // a retry for every request
  openConnection();
  auto ex = start("/flaky");
  EXPECT_FALSE(ex->endpoint.empty());
  ASSERT_TRUE(runUntilOver(ex));
  EXPECT_EQ(ex->response.status, 200) << "the client never sees the 503";
  EXPECT_EQ(body(*ex), "reply-/flaky");
  EXPECT_EQ(ex->retries, 1);
}

TEST_F(ForwarderStart, ARefusedStreamIsSentAgainOnAFreshConnection) {
  upstream.onRequest = [](ScriptedConn& c, int32_t id) {
    if (c.paths[id] == "/refused" && c.requests.size() == 2)  // on the first connection, after /open
      c.codec.resetStream(id, h2error::kRefusedStream);
    else
      c.respond(id, "reply-" + c.paths[id]);
  };
  make(config());
  openConnection();
  auto ex = start("/refused");
  EXPECT_FALSE(ex->endpoint.empty());
  ASSERT_TRUE(runUntilOver(ex));
  EXPECT_EQ(ex->response.status, 200);
  EXPECT_EQ(body(*ex), "reply-/refused");
  EXPECT_EQ(ex->retries, 1);
  EXPECT_EQ(h2Conns().size(), 2u) << "a not-processed request is retried on a fresh connection";
}

TEST_F(ForwarderStart, ADeadlineCancelsARequestSentAtOnce) {
  upstream.onRequest = [](ScriptedConn& c, int32_t id) {
    if (c.paths[id] != "/hang") c.respond(id, "reply-" + c.paths[id]);
  };
  make(config(", request_timeout: 150ms"));
  openConnection();
  auto t0 = std::chrono::steady_clock::now();
  auto ex = start("/hang");
  EXPECT_FALSE(ex->endpoint.empty());
  ASSERT_TRUE(runUntilOver(ex));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 140ms);
  EXPECT_FALSE(ex->hasResponse());
  EXPECT_EQ(ex->error(), ProxyError::kTimeout);
  auto& conn = *h2Conns().at(0);
  EXPECT_TRUE(runUntil([&] { return conn.resets.count(3) == 1; })) << "the upstream stream is reset";
  EXPECT_EQ(conn.resets[3], h2error::kCancel);
}

TEST_F(ForwarderStart, AClusterRemovedWhileRequestsAreOutLeavesThemToEndAsTheUpstreamEndsThem) {
  upstream.onRequest = [](ScriptedConn& c, int32_t id) {
    if (c.paths[id] == "/open") c.respond(id, "reply-/open");
  };
  make(config());
  openConnection();
  auto answered = start("/answered");
  auto reset = start("/reset");
  EXPECT_FALSE(answered->endpoint.empty());
  EXPECT_FALSE(reset->endpoint.empty());
  auto& conn = *h2Conns().at(0);
  ASSERT_TRUE(runUntil([&] { return conn.requests.size() == 3; }));

  // The cluster leaves the config: its entry, cluster and pool go (the
  // requests out hold them only weakly); the connection drains.
  fwd->applyConfig(parseProxyConfig("outbound: 127.0.0.1:1\nworkers: 1\n", "t.yaml"));
  conn.respond(conn.requests[1], "late reply");
  conn.codec.resetStream(conn.requests[2], h2error::kInternalError);
  flush(conn);

  ASSERT_TRUE(runUntilOver(answered));
  EXPECT_EQ(answered->response.status, 200);
  EXPECT_EQ(body(*answered), "late reply");
  EXPECT_FALSE(answered->responseBody.failed());
  ASSERT_TRUE(runUntilOver(reset));
  EXPECT_FALSE(reset->hasResponse());
  EXPECT_EQ(reset->error(), ProxyError::kUpstreamReset) << "failed, so its client is answered";
}

}  // namespace
}  // namespace weft::proxy
