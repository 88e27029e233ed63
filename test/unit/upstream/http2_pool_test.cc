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

namespace weft::upstream {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using http::Http2BodyChunk;
using http::Http2Codec;
using http::Http2HeadersKind;
using http::Http2Mode;
namespace h2error = http::h2error;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> sleepFor(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(kTuple);
}

// One upstream connection speaking through the server-side codec.
struct ScriptedConn : http::Http2Events {
  explicit ScriptedConn(tcp::socket s) : sock(std::move(s)), codec(Http2Mode::kServer, *this) { codec.start(); }

  void onHeadersBegin(int32_t id, Http2HeadersKind kind) override { kinds[id] = kind; }
  void onPseudoHeader(int32_t id, std::string_view n, std::string_view v) override {
    if (n == ":path") paths[id] = v;
  }
  void onHeader(int32_t id, std::string_view n, std::string_view v) override {
    if (kinds[id] == Http2HeadersKind::kTrailers) trailers[id].add(n, v);
  }
  void onHeadersEnd(int32_t id, bool) override {
    if (kinds[id] != Http2HeadersKind::kRequest) return;
    requests.push_back(id);
    if (onRequest) onRequest(*this, id);
  }
  void onData(int32_t id, std::string_view d) override {
    bodies[id].append(d);
    codec.consumeStream(id, d.size());
  }
  void onStreamEnd(int32_t id) override { ended.insert(id); }
  void onRstStream(int32_t id, uint32_t code) override { resets[id] = code; }
  Http2BodyChunk readData(int32_t id, uint8_t* buf, size_t len) override {
    auto& o = out[id];
    size_t n = std::min(len, o.size() - sent[id]);
    if (n == 0 && !outEnd[id]) return {Http2BodyChunk::Kind::kDeferred};
    std::copy_n(o.data() + sent[id], n, buf);
    sent[id] += n;
    Http2BodyChunk c;
    c.length = n;
    c.end = outEnd[id] && sent[id] == o.size();
    c.trailers = &outTrailers[id];
    return c;
  }

  void respond(int32_t id, std::string body, bool end = true, http::HeaderList trailers = {}) {
    out[id] = std::move(body);
    outEnd[id] = end;
    outTrailers[id] = std::move(trailers);
    http::ResponseHead head;
    head.status = 200;
    head.headers.add("x-upstream", "scripted");
    codec.submitResponse(id, head, true);
  }

  asio::awaitable<void> run() {
    std::vector<char> buf(65536);
    co_await flush();
    for (;;) {
      auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), kTuple);
      if (ec) break;
      if (silent) continue;  // blackholed: reads vanish, nothing comes back (no RST, no PING ack)
      codec.receive(std::string_view(buf.data(), n));
      co_await flush();
      if (closeNow) {
        sock.close();
        break;
      }
    }
  }
  asio::awaitable<void> flush() {
    std::string o;
    codec.drainOutput(o);
    if (!o.empty()) {
      bytesSent += o.size();
      co_await asio::async_write(sock, asio::buffer(o), kTuple);
    }
  }

  tcp::socket sock;
  Http2Codec codec;
  std::function<void(ScriptedConn&, int32_t)> onRequest;
  std::map<int32_t, Http2HeadersKind> kinds;
  std::map<int32_t, std::string> paths, bodies, out;
  std::map<int32_t, size_t> sent;
  std::map<int32_t, bool> outEnd;
  std::map<int32_t, http::HeaderList> outTrailers, trailers;
  std::map<int32_t, uint32_t> resets;
  std::set<int32_t> ended;
  std::vector<int32_t> requests;
  bool closeNow = false;
  bool silent = false;
  size_t bytesSent = 0;
};

class Http2PoolTest : public ::testing::Test {
 protected:
  Http2PoolTest() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    options_.cluster = "h2pool.test:80";
    options_.connectTimeout = 1000ms;
    asio::co_spawn(io_, acceptLoop(), asio::detached);
  }

  asio::awaitable<void> acceptLoop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      auto conn = std::make_shared<ScriptedConn>(std::move(sock));
      conn->onRequest = onRequest_;
      conns_.push_back(conn);
      asio::co_spawn(io_, [conn]() -> asio::awaitable<void> { co_await conn->run(); }, asio::detached);
    }
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
  tcp::acceptor acceptor_;
  PoolOptions options_;
  std::function<void(ScriptedConn&, int32_t)> onRequest_;
  std::vector<std::shared_ptr<ScriptedConn>> conns_;
};

TEST_F(Http2PoolTest, ForwardsAndReusesOneConnection) {
  onRequest_ = [](ScriptedConn& c, int32_t id) {
    http::HeaderList t;
    t.add("grpc-status", "0");
    c.respond(id, "reply-" + c.paths[id], true, t);
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
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
    EXPECT_EQ(conns_.size(), 1u) << "concurrent sends share one connection";
    EXPECT_EQ(pool.openConnections(), 1u);
    EXPECT_EQ(conns_[0]->bodies[1], "body");
  });
}

TEST_F(Http2PoolTest, GoawayAboveLastStreamIdIsNotProcessedAndNextSendUsesANewConnection) {
  onRequest_ = [](ScriptedConn& c, int32_t id) {
    if (c.requests.size() == 2) {
      // The second stream crossed our GOAWAY: it was never processed.
      c.codec.submitGoaway(h2error::kNoError, c.requests[0]);
      c.respond(c.requests[0], "first");
    }
    if (c.requests.size() == 1 && c.paths[id] == "/after") c.respond(id, "fresh");
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
    auto a = makeExchange("/a");
    std::optional<SendResult> ra;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { ra = co_await pool.send(a, false); }, asio::detached);
    while (conns_.empty() || conns_[0]->requests.empty()) co_await sleepFor(5ms);
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
    EXPECT_EQ(conns_.size(), 2u);
  });
}

TEST_F(Http2PoolTest, RefusedStreamIsNotProcessedOtherResetsFail) {
  onRequest_ = [](ScriptedConn& c, int32_t id) {
    c.codec.resetStream(id, c.paths[id] == "/refuse" ? h2error::kRefusedStream : h2error::kInternalError);
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
    auto r1 = co_await pool.send(makeExchange("/refuse"), false);
    EXPECT_EQ(r1.outcome, SendOutcome::kNotProcessed);
    auto r2 = co_await pool.send(makeExchange("/internal"), false);
    EXPECT_EQ(r2.outcome, SendOutcome::kFailed);
    EXPECT_EQ(r2.error, ProxyError::kUpstreamReset);
  });
}

TEST_F(Http2PoolTest, ConnectionLostMidStreamFailsTheBodyWithUpstreamReset) {
  onRequest_ = [](ScriptedConn& c, int32_t id) {
    c.respond(id, "part", /*end=*/false);
    c.closeNow = true;  // after this flush: no trailers, no RST (grpc-js / Netty style)
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
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
  onRequest_ = [](ScriptedConn& c, int32_t) { c.closeNow = true; };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
    auto ex = makeExchange("/x");
    auto r = co_await pool.send(ex, false);
    EXPECT_EQ(r.outcome, SendOutcome::kFailed);
    EXPECT_EQ(r.error, ProxyError::kUpstreamReset);
  });
}

TEST_F(Http2PoolTest, SlowReaderIsBoundedByTheStreamWindow) {
  constexpr size_t kBody = 4 << 20;
  onRequest_ = [](ScriptedConn& c, int32_t id) { c.respond(id, std::string(kBody, 'w')); };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
    auto ex = makeExchange("/big");
    std::optional<SendResult> r;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { r = co_await pool.send(ex, false); }, asio::detached);
    co_await ex->waitResponse();
    co_await sleepFor(200ms);
    // Nobody reads: the proxy holds at most one stream window.
    EXPECT_LE(ex->responseBody.buffered(), options_.bodyBufferBytes);
    EXPECT_GT(ex->responseBody.buffered(), 0u);
    EXPECT_LT(conns_[0]->bytesSent, 2 * options_.bodyBufferBytes);
    auto body = co_await readAll(ex->responseBody);
    EXPECT_EQ(body.size(), kBody);
    while (!r) co_await sleepFor(5ms);
    EXPECT_EQ(r->outcome, SendOutcome::kOk);
  });
}

TEST_F(Http2PoolTest, CancelResetsOnlyThatStream) {
  onRequest_ = [](ScriptedConn& c, int32_t id) {
    if (c.paths[id] == "/keep") c.respond(id, "kept");
    // "/cancel" gets no answer.
  };
  run([&]() -> asio::awaitable<void> {
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
    auto doomed = makeExchange("/cancel");
    std::optional<SendResult> rd;
    asio::co_spawn(io_, [&]() -> asio::awaitable<void> { rd = co_await pool.send(doomed, false); }, asio::detached);
    while (conns_.empty() || conns_[0]->requests.empty()) co_await sleepFor(5ms);
    doomed->cancel(ProxyError::kTimeout);
    while (!rd) co_await sleepFor(5ms);
    for (int i = 0; i < 100 && conns_[0]->resets.empty(); ++i) co_await sleepFor(5ms);
    EXPECT_EQ(conns_[0]->resets.size(), 1u);
    if (!conns_[0]->resets.empty()) {
      EXPECT_EQ(conns_[0]->resets.begin()->second, h2error::kCancel);
    }
    auto keep = makeExchange("/keep");
    auto r = co_await pool.send(keep, false);
    EXPECT_EQ(r.outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(keep->responseBody), "kept");
    EXPECT_EQ(conns_.size(), 1u);
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
  onRequest_ = [](ScriptedConn& c, int32_t id) {
    if (c.paths[id] == "/dark") c.silent = true;
    else c.respond(id, "alive");
  };
  run([&]() -> asio::awaitable<void> {
    auto before = keepaliveClosures();
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
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
    EXPECT_EQ(conns_.size(), 2u) << "replaced by a new connection";
  });
}

TEST_F(Http2PoolTest, SlowPeerThatAnswersPingsKeepsItsConnection) {
  options_.keepaliveInterval = 100ms;
  options_.keepaliveTimeout = 300ms;  // generous: the machine is loaded, the peer shares our thread
  onRequest_ = [this](ScriptedConn& c, int32_t id) {
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
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
    auto ex = makeExchange("/slow");
    auto r = co_await pool.send(ex, false);
    EXPECT_EQ(r.outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(ex->responseBody), "late");
    EXPECT_EQ(keepaliveClosures(), before);
    EXPECT_EQ(conns_.size(), 1u);
  });
}

TEST_F(Http2PoolTest, QuietStreamWithNothingToAnswerIsNotPinged) {
  options_.keepaliveInterval = 100ms;
  options_.keepaliveTimeout = 100ms;
  // A head and some body, then silence — a watch stream with no news. We
  // owe nothing and wait for nothing, so no PING: had one gone out, the
  // silent peer would not answer it and the stream would be cut.
  onRequest_ = [](ScriptedConn& c, int32_t id) {
    c.respond(id, "part", /*end=*/false);
    c.silent = true;
  };
  run([&]() -> asio::awaitable<void> {
    auto before = keepaliveClosures();
    Http2Pool pool(io_.get_executor(), acceptor_.local_endpoint(), options_);
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
