// Http2Pool against a scripted upstream built from the real server-side
// codec on a loopback socket (each test decides how the upstream behaves),
// and against nghttpd as an independent peer.
#include "upstream/http2_pool.h"

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "core/metrics.h"
#include "http/codec/http2_codec.h"
#include "scripted_h2_upstream.h"

namespace weft::upstream {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using scripted::kTuple;
using scripted::ScriptedConn;
using scripted::sleepFor;
namespace h2error = http::h2error;

class Http2PoolTest : public ::testing::Test {
 protected:
  Http2PoolTest() {
    options_.cluster = "h2pool.test:80";
    options_.connectTimeout = 1000ms;
  }

  std::shared_ptr<http::Exchange> makeExchange(std::string path, std::string body = {}) {
    auto ex = std::make_shared<http::Exchange>(io_.get_executor());
    ex->request.method = "POST";
    ex->request.authority = "h2pool.test:80";
    ex->request.path = std::move(path);
    ex->request.hasBody = true;
    ex->requestBody.push(body);
    ex->requestBody.finish();
    return ex;
  }

  template <class F>
  void run(F test) {
    bool done = false;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { co_await test(); done = true; }, asio::detached);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done && std::chrono::steady_clock::now() < deadline) io_.run_for(20ms);
    ASSERT_TRUE(done) << "test timed out";
  }

  static asio::awaitable<std::string> readAll(http::BodyPipe& body) {
    std::string out;
    for (;;) {
      co_await body.waitReadable();
      auto d = body.data();
      out.append(d);
      body.consume(d.size());
      if (body.drained() || body.abandoned()) co_return out;
    }
  }

  asio::io_context io_;
  scripted::ScriptedUpstream upstream_{io_};
  PoolOptions options_;
};

TEST_F(Http2PoolTest, ForwardsAndReusesOneConnection) {
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) {
    http::HeaderList t;
    t.add("grpc-status", "0");
    c.respond(id, "reply-" + c.paths[id], true, t);
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    std::vector<std::shared_ptr<http::Exchange>> exs;
    int finished = 0;
    for (int i = 0; i < 5; ++i) {
      exs.push_back(makeExchange("/r" + std::to_string(i), "body"));
      asio::co_spawn(
          io_,
          [&, ex = exs.back()]() -> asio::awaitable<void> {
            auto r = co_await pool.send(ex, false);
            EXPECT_EQ(r.outcome, SendOutcome::kOk);
            ++finished;
          },
          asio::detached);
    }
    for (auto& ex : exs) {
      co_await ex->waitResponse();
      auto body = co_await readAll(ex->responseBody);
      EXPECT_EQ(body, "reply-" + ex->request.path);
      EXPECT_EQ(ex->response.headers.get("x-upstream"), "scripted");
      EXPECT_EQ(ex->responseBody.trailers().get("grpc-status"), "0");
    }
    while (finished < 5) co_await sleepFor(5ms);
    EXPECT_EQ(upstream_.conns.size(), 1u) << "concurrent sends share one connection";
    EXPECT_EQ(pool.openConnections(), 1u);
    EXPECT_EQ(upstream_.conns[0]->bodies[1], "body");
  });
}

// What startNow() tells: every result, in order.
struct RecordingObserver final : http::SendObserver {
  void sendDone(const SendResult& r) override { results.push_back(r); }
  std::vector<SendResult> results;
};

TEST_F(Http2PoolTest, StartNowNeedsAConnectionWithRoomAndTellsItsObserverOnce) {
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) { c.respond(id, "reply-" + c.paths[id]); };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto observer = std::make_shared<RecordingObserver>();
    // No connection yet: starting now would mean waiting for a connect.
    EXPECT_FALSE(pool.canStartNow(*makeExchange("/can")));
    EXPECT_FALSE(pool.startNow(makeExchange("/early"), observer));
    EXPECT_EQ(observer.use_count(), 1) << "refused: the observer is not kept";
    auto first = co_await pool.send(makeExchange("/open"), false);
    EXPECT_EQ(first.outcome, SendOutcome::kOk);

    EXPECT_TRUE(pool.canStartNow(*makeExchange("/can")));
    auto ex = makeExchange("/now", "payload");
    if (!pool.startNow(ex, observer)) {
      ADD_FAILURE() << "an open connection with room: started now";
      co_return;
    }
    EXPECT_TRUE(observer->results.empty()) << "told when the stream is over, never from startNow()";
    for (int i = 0; i < 200 && observer->results.empty(); ++i) co_await sleepFor(5ms);
    EXPECT_EQ(observer->results.size(), 1u);
    if (observer->results.empty()) co_return;
    EXPECT_EQ(observer->results[0].outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(ex->responseBody), "reply-/now");
    EXPECT_EQ(upstream_.conns.size(), 1u) << "started on the open connection";
    EXPECT_EQ(upstream_.conns[0]->bodies[3], "payload");
    co_await sleepFor(20ms);
    EXPECT_EQ(observer->results.size(), 1u) << "told once";
    EXPECT_EQ(observer.use_count(), 1) << "let go once told";

    pool.drain();
    EXPECT_FALSE(pool.canStartNow(*makeExchange("/can")));
    EXPECT_FALSE(pool.startNow(makeExchange("/drained"), observer));
  });
}

TEST_F(Http2PoolTest, AnObserverMayStartTheNextRequestOnTheSameConnection) {
  // Told outside the connection's codec callbacks: sending again from
  // sendDone() is allowed (the forwarder's retries do just that).
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) { c.respond(id, "reply-" + c.paths[id]); };
  struct Chain final : http::SendObserver {
    Http2Pool* pool = nullptr;
    std::function<std::shared_ptr<http::Exchange>()> next;
    std::vector<SendResult> results;
    std::vector<std::shared_ptr<http::Exchange>> sent;
    std::weak_ptr<Chain> self;
    void sendDone(const SendResult& r) override {
      results.push_back(r);
      if (results.size() < 3) {
        sent.push_back(next());
        EXPECT_TRUE(pool->startNow(sent.back(), self.lock()));
      }
    }
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    EXPECT_EQ((co_await pool.send(makeExchange("/open"), false)).outcome, SendOutcome::kOk);
    auto chain = std::make_shared<Chain>();
    chain->pool = &pool;
    chain->self = chain;
    int n = 0;
    chain->next = [&] { return makeExchange("/chain" + std::to_string(++n)); };
    chain->sent.push_back(chain->next());
    if (!pool.startNow(chain->sent.back(), chain)) {
      ADD_FAILURE() << "an open connection with room: started now";
      co_return;
    }
    for (int i = 0; i < 400 && chain->results.size() < 3; ++i) co_await sleepFor(5ms);
    EXPECT_EQ(chain->results.size(), 3u);
    for (auto& r : chain->results) EXPECT_EQ(r.outcome, SendOutcome::kOk);
    for (auto& ex : chain->sent) EXPECT_EQ(co_await readAll(ex->responseBody), "reply-" + ex->request.path);
    EXPECT_EQ(upstream_.conns.size(), 1u);
  });
}

TEST_F(Http2PoolTest, AStartedRequestWaitsForItsBodyAndSendsItWhenItComes) {
  // The upstream answers at once; the stream stays open until our half ends.
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) { c.respond(id, "early answer"); };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    EXPECT_EQ((co_await pool.send(makeExchange("/open"), false)).outcome, SendOutcome::kOk);
    auto ex = std::make_shared<http::Exchange>(io_.get_executor());
    ex->request.method = "POST";
    ex->request.authority = "h2pool.test:80";
    ex->request.path = "/late-body";
    ex->request.hasBody = true;  // and none of it here yet
    auto observer = std::make_shared<RecordingObserver>();
    if (!pool.startNow(ex, observer)) {
      ADD_FAILURE() << "an open connection with room: started now";
      co_return;
    }
    co_await ex->waitResponse();
    EXPECT_EQ(co_await readAll(ex->responseBody), "early answer");
    co_await sleepFor(30ms);
    auto& upstream = *upstream_.conns[0];
    EXPECT_TRUE(observer->results.empty()) << "the request is not over while its body is owed";
    EXPECT_EQ(upstream.ended.count(3), 0u);
    ex->requestBody.push("late ");
    co_await sleepFor(10ms);
    ex->requestBody.push("body");
    ex->requestBody.finish();
    for (int i = 0; i < 200 && observer->results.empty(); ++i) co_await sleepFor(5ms);
    EXPECT_EQ(observer->results.size(), 1u);
    if (observer->results.empty()) co_return;
    EXPECT_EQ(observer->results[0].outcome, SendOutcome::kOk);
    EXPECT_EQ(upstream.bodies[3], "late body");
    EXPECT_EQ(upstream.ended.count(3), 1u) << "END_STREAM after the last byte";
  });
}

TEST_F(Http2PoolTest, GoawayAboveLastStreamIdIsNotProcessedAndNextSendUsesANewConnection) {
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) {
    if (c.requests.size() == 2) {
      // The second stream crossed our GOAWAY: it was never processed.
      c.codec.submitGoaway(h2error::kNoError, c.requests[0]);
      c.respond(c.requests[0], "first");
    }
    if (c.requests.size() == 1 && c.paths[id] == "/after") c.respond(id, "fresh");
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto a = makeExchange("/a");
    std::optional<SendResult> ra;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { ra = co_await pool.send(a, false); }, asio::detached);
    while (upstream_.conns.empty() || upstream_.conns[0]->requests.empty()) co_await sleepFor(5ms);
    auto b = makeExchange("/b");
    auto rb = co_await pool.send(b, false);
    EXPECT_EQ(rb.outcome, SendOutcome::kNotProcessed);
    EXPECT_FALSE(b->hasResponse());
    while (!ra) co_await sleepFor(5ms);
    EXPECT_EQ(ra->outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(a->responseBody), "first");
    // The retry (or any later send) goes to a new connection.
    auto c = makeExchange("/after");
    auto rc = co_await pool.send(c, true);
    EXPECT_EQ(rc.outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(c->responseBody), "fresh");
    EXPECT_EQ(upstream_.conns.size(), 2u);
  });
}

TEST_F(Http2PoolTest, RefusedStreamIsNotProcessedOtherResetsFail) {
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) {
    c.codec.resetStream(id, c.paths[id] == "/refuse" ? h2error::kRefusedStream : h2error::kInternalError);
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto r1 = co_await pool.send(makeExchange("/refuse"), false);
    EXPECT_EQ(r1.outcome, SendOutcome::kNotProcessed);
    auto r2 = co_await pool.send(makeExchange("/internal"), false);
    EXPECT_EQ(r2.outcome, SendOutcome::kFailed);
    EXPECT_EQ(r2.error, ProxyError::kUpstreamReset);
  });
}

TEST_F(Http2PoolTest, ConnectionLostMidStreamFailsTheBodyWithUpstreamReset) {
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) {
    c.respond(id, "part", /*end=*/false);
    c.closeNow = true;  // after this flush: no trailers, no RST (grpc-js / Netty style)
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto ex = makeExchange("/stream");
    auto r = co_await pool.send(ex, false);
    EXPECT_EQ(r.outcome, SendOutcome::kOk);
    auto body = co_await readAll(ex->responseBody);
    EXPECT_EQ(body, "part");
    EXPECT_TRUE(ex->responseBody.failed());
    EXPECT_EQ(ex->responseBody.error(), ProxyError::kUpstreamReset);
    for (int i = 0; i < 100 && pool.openConnections() > 0; ++i) co_await sleepFor(5ms);
    EXPECT_EQ(pool.openConnections(), 0u);
  });
}

TEST_F(Http2PoolTest, ConnectionLostBeforeHeadFails) {
  upstream_.onRequest = [](ScriptedConn& c, int32_t) { c.closeNow = true; };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto ex = makeExchange("/x");
    auto r = co_await pool.send(ex, false);
    EXPECT_EQ(r.outcome, SendOutcome::kFailed);
    EXPECT_EQ(r.error, ProxyError::kUpstreamReset);
  });
}

TEST_F(Http2PoolTest, SlowReaderIsBoundedByTheStreamWindow) {
  constexpr size_t kBody = 4 << 20;
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) { c.respond(id, std::string(kBody, 'w')); };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto ex = makeExchange("/big");
    std::optional<SendResult> r;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { r = co_await pool.send(ex, false); }, asio::detached);
    co_await ex->waitResponse();
    co_await sleepFor(200ms);
    // Nobody reads: the proxy holds at most one stream window.
    EXPECT_LE(ex->responseBody.buffered(), options_.bodyBufferBytes);
    EXPECT_GT(ex->responseBody.buffered(), 0u);
    EXPECT_LT(upstream_.conns[0]->bytesSent, 2 * options_.bodyBufferBytes);
    auto body = co_await readAll(ex->responseBody);
    EXPECT_EQ(body.size(), kBody);
    while (!r) co_await sleepFor(5ms);
    EXPECT_EQ(r->outcome, SendOutcome::kOk);
  });
}

TEST_F(Http2PoolTest, CancelResetsOnlyThatStream) {
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) {
    if (c.paths[id] == "/keep") c.respond(id, "kept");
    // "/cancel" gets no answer.
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto doomed = makeExchange("/cancel");
    std::optional<SendResult> rd;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { rd = co_await pool.send(doomed, false); }, asio::detached);
    while (upstream_.conns.empty() || upstream_.conns[0]->requests.empty()) co_await sleepFor(5ms);
    doomed->cancel(ProxyError::kTimeout);
    while (!rd) co_await sleepFor(5ms);
    for (int i = 0; i < 100 && upstream_.conns[0]->resets.empty(); ++i) co_await sleepFor(5ms);
    EXPECT_EQ(upstream_.conns[0]->resets.size(), 1u);
    if (!upstream_.conns[0]->resets.empty()) {
      EXPECT_EQ(upstream_.conns[0]->resets.begin()->second, h2error::kCancel);
    }
    auto keep = makeExchange("/keep");
    auto r = co_await pool.send(keep, false);
    EXPECT_EQ(r.outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(keep->responseBody), "kept");
    EXPECT_EQ(upstream_.conns.size(), 1u);
  });
}

double keepaliveClosures() {
  return MetricsRegistry::global().valueOf("weft_http2_timeouts_total",
                                           labels({labelPair("direction", "upstream"), labelPair("kind", "keepalive")}));
}

TEST_F(Http2PoolTest, UnansweredKeepalivePingClosesAndReplacesTheConnection) {
  options_.keepaliveInterval = 200ms;
  options_.keepaliveTimeout = 200ms;
  // The first connection's peer goes dark once it has the request (incident
  // 003's blackhole: no RST, no FIN); later connections answer.
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) {
    if (c.paths[id] == "/dark") c.silent = true;
    else c.respond(id, "alive");
  };
  run([&]() -> asio::awaitable<void> {
    auto before = keepaliveClosures();
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto start = std::chrono::steady_clock::now();
    auto r = co_await pool.send(makeExchange("/dark"), false);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(r.outcome, SendOutcome::kFailed);
    EXPECT_EQ(r.error, ProxyError::kUpstreamReset);
    EXPECT_GE(took, 350ms) << "closed before interval + timeout";
    EXPECT_LT(took, 3s);
    EXPECT_EQ(keepaliveClosures(), before + 1);
    for (int i = 0; i < 100 && pool.openConnections() > 0; ++i) co_await sleepFor(5ms);
    EXPECT_EQ(pool.openConnections(), 0u) << "the dead connection left the pool";
    auto ex = makeExchange("/next");
    r = co_await pool.send(ex, false);
    EXPECT_EQ(r.outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(ex->responseBody), "alive");
    EXPECT_EQ(upstream_.conns.size(), 2u) << "replaced by a new connection";
  });
}

TEST_F(Http2PoolTest, SlowPeerThatAnswersPingsKeepsItsConnection) {
  options_.keepaliveInterval = 100ms;
  options_.keepaliveTimeout = 300ms;  // generous: the machine is loaded, the peer shares our thread
  upstream_.onRequest = [this](ScriptedConn& c, int32_t id) {
    // Answers after several keepalive rounds; PINGs are acknowledged meanwhile.
    asio::co_spawn(
        io_,
        [&c, id]() -> asio::awaitable<void> {
          co_await sleepFor(1200ms);
          c.respond(id, "late");
          co_await c.flush();
        },
        asio::detached);
  };
  run([&]() -> asio::awaitable<void> {
    auto before = keepaliveClosures();
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto ex = makeExchange("/slow");
    auto r = co_await pool.send(ex, false);
    EXPECT_EQ(r.outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(ex->responseBody), "late");
    EXPECT_EQ(keepaliveClosures(), before);
    EXPECT_EQ(upstream_.conns.size(), 1u);
  });
}

TEST_F(Http2PoolTest, QuietStreamWithNothingToAnswerIsNotPinged) {
  options_.keepaliveInterval = 100ms;
  options_.keepaliveTimeout = 100ms;
  // A head and some body, then silence — a watch stream with no news. We
  // owe nothing and wait for nothing, so no PING: had one gone out, the
  // silent peer would not answer it and the stream would be cut.
  upstream_.onRequest = [](ScriptedConn& c, int32_t id) {
    c.respond(id, "part", /*end=*/false);
    c.silent = true;
  };
  run([&]() -> asio::awaitable<void> {
    auto before = keepaliveClosures();
    Http2Pool pool(io_.get_executor(), upstream_.endpoint(), options_);
    auto ex = makeExchange("/watch");
    std::optional<SendResult> r;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { r = co_await pool.send(ex, false); }, asio::detached);
    co_await ex->waitResponse();
    co_await sleepFor(800ms);
    EXPECT_FALSE(r.has_value()) << "the quiet stream was cut";
    EXPECT_EQ(pool.openConnections(), 1u);
    EXPECT_EQ(keepaliveClosures(), before);
    ex->cancel(ProxyError::kTimeout);
    while (!r) co_await sleepFor(5ms);
  });
}

TEST_F(Http2PoolTest, ConnectRefusedIsCountedByErrno) {
  run([&]() -> asio::awaitable<void> {
    // A port that was just free: nothing listens there.
    tcp::endpoint dead;
    {
      tcp::acceptor a(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      dead = a.local_endpoint();
    }
    auto lbl = labels({labelPair("cluster", options_.cluster), labelPair("result", "error"), labelPair("errno", "ECONNREFUSED"),
                      labelPair("kind", "pool")});
    auto before = MetricsRegistry::global().valueOf("weft_connect_attempts_total", lbl);
    Http2Pool pool(io_.get_executor(), dead, options_);
    auto r = co_await pool.send(makeExchange("/x"), false);
    EXPECT_EQ(r.outcome, SendOutcome::kFailed);
    EXPECT_EQ(r.error, ProxyError::kConnectFailed);
    EXPECT_EQ(r.connectErrno, ECONNREFUSED);
    EXPECT_EQ(MetricsRegistry::global().valueOf("weft_connect_attempts_total", lbl), before + 1);
  });
}

// nghttpd is an independent HTTP/2 implementation: the pool must interoperate.
TEST_F(Http2PoolTest, InteroperatesWithNghttpd) {
  std::string dir = ::testing::TempDir() + "/h2pool_nghttpd";
  std::system(("mkdir -p " + dir + " && printf 'hello from nghttpd' > " + dir + "/index.txt").c_str());
  uint16_t port;
  {
    tcp::acceptor a(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  std::string cmd = "timeout 20 nghttpd --no-tls -a 127.0.0.1 -d " + dir + " " + std::to_string(port) +
                    " >/dev/null 2>&1 & echo $! > " + dir + "/pid";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), options_);
    SendResult r;
    std::shared_ptr<http::Exchange> ex;
    for (int i = 0; i < 100; ++i) {  // until nghttpd listens
      ex = makeExchange("/index.txt");
      ex->request.method = "GET";
      ex->request.hasBody = false;
      r = co_await pool.send(ex, false);
      if (r.outcome == SendOutcome::kOk) break;
      co_await sleepFor(20ms);
    }
    EXPECT_EQ(r.outcome, SendOutcome::kOk);
    EXPECT_EQ(ex->response.status, 200);
    EXPECT_EQ(co_await readAll(ex->responseBody), "hello from nghttpd");
  });
  std::system(("kill $(cat " + dir + "/pid) 2>/dev/null").c_str());
}

}  // namespace
}  // namespace weft::upstream
