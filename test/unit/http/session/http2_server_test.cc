// serveHttp2 on loopback, driven by the real HTTP/2 client connection (or a
// raw client codec for misbehaving peers), with an echoing ExchangeHandler.
#include "http/session/http2_server.h"

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "core/metrics.h"
#include "http/session/http2_client.h"
#include "net/drain.h"

namespace weft::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

asio::awaitable<void> sleepFor(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(kTuple);
}

// Echoes the request: status 200, the request headers back (prefixed), the
// body streamed back, the request trailers as response trailers. Paths
// select failure modes.
class EchoHandler : public ExchangeHandler {
 public:
  asio::awaitable<void> handle(std::shared_ptr<Exchange> ex) override {
    ++handled;
    last = ex;
    const auto& path = ex->request.path;
    if (path == "/fail-before") {
      ex->failBeforeResponse(ProxyError::kConnectFailed);
      co_return;
    }
    if (path == "/hang") {
      co_await ex->waitResponse();  // until cancelled
      while (!ex->cancelled()) co_await sleepFor(10ms);
      co_return;
    }
    if (path == "/slow") co_await sleepFor(300ms);
    if (path == "/no-read") {
      // Never drains the request body; responds only when told.
      while (!release && !ex->cancelled()) co_await sleepFor(5ms);
    }
    ex->response.status = 200;
    for (const auto& f : ex->request.headers) ex->response.headers.add("echo-" + f.name, f.value);
    ex->response.headers.add("echo-method", ex->request.method);
    ex->response.headers.add("echo-authority", ex->request.authority);
    ex->responseStarted();
    if (path == "/fail-after") {
      ex->responseBody.push("partial");
      co_await sleepFor(20ms);
      ex->responseBody.fail(ProxyError::kUpstreamReset);
      co_return;
    }
    for (;;) {
      co_await ex->requestBody.waitReadable();
      auto data = ex->requestBody.data();
      if (!data.empty()) {
        ex->responseBody.push(data);
        ex->requestBody.consume(data.size());
        if (!co_await ex->responseBody.waitWritable()) co_return;
        continue;
      }
      if (ex->requestBody.ended()) break;
      if (ex->requestBody.abandoned()) co_return;
    }
    if (ex->requestBody.failed())
      ex->responseBody.fail(ex->requestBody.error());
    else
      ex->responseBody.finish(ex->requestBody.trailers());
  }
  int handled = 0;
  bool release = false;
  std::shared_ptr<Exchange> last;
};

class Http2ServerTest : public ::testing::Test {
 protected:
  Http2ServerTest() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), drain_(io_.get_executor()) {
    options_.direction = "outbound";
    options_.drain = &drain_;
    asio::co_spawn(io_, acceptLoop(), asio::detached);
  }

  asio::awaitable<void> acceptLoop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      ++accepted_;
      asio::co_spawn(io_, serveOne(std::move(sock)), asio::detached);
    }
  }
  asio::awaitable<void> serveOne(tcp::socket sock) {
    // Protocol detection reads the preface first; mimic it.
    std::string prefix(24, '\0');
    auto [ec, n] = co_await asio::async_read(sock, asio::buffer(prefix), kTuple);
    if (ec) co_return;
    ++serving_;
    co_await serveHttp2(std::move(sock), std::move(prefix), handler_, options_);
    --serving_;
  }

  // (No defaulted class-type parameter: GCC 12 destroys those twice in coroutines.)
  asio::awaitable<std::shared_ptr<Http2ClientConnection>> connect() {
    tcp::socket s(io_);
    co_await s.async_connect(acceptor_.local_endpoint(), kTuple);
    co_return Http2ClientConnection::start(std::move(s), clientOptions_);
  }

  std::shared_ptr<Exchange> makeExchange(std::string path, std::string body = {}, bool grpc = false) {
    auto ex = std::make_shared<Exchange>(io_.get_executor());
    ex->request.method = "POST";
    ex->request.authority = "svc.test:80";
    ex->request.path = std::move(path);
    ex->request.version = Version::kHttp2;
    if (grpc) {
      ex->request.headers.add("content-type", "application/grpc");
      ex->request.headers.add("te", "trailers");
    }
    ex->request.hasBody = true;
    ex->requestBody.push(body);
    return ex;
  }

  // Reads the whole response body (draining as it goes).
  static asio::awaitable<std::string> readAll(BodyPipe& body) {
    std::string out;
    for (;;) {
      co_await body.waitReadable();
      auto d = body.data();
      out.append(d);
      body.consume(d.size());
      if (body.drained() || body.abandoned()) co_return out;
    }
  }

  // Runs `test` to completion with a hard time bound.
  template <class F>
  void run(F test) {
    bool done = false;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { co_await test(); done = true; }, asio::detached);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done && std::chrono::steady_clock::now() < deadline) io_.run_for(20ms);
    ASSERT_TRUE(done) << "test timed out";
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  net::DrainSignal drain_;
  ServerOptions options_;
  Http2ClientOptions clientOptions_;
  EchoHandler handler_;
  int accepted_ = 0;
  int serving_ = 0;
};

TEST_F(Http2ServerTest, EchoesHeadersBodyAndTrailersInOrder) {
  run([&]() -> asio::awaitable<void> {
    auto conn = co_await connect();
    auto ex = makeExchange("/echo");
    for (int i = 0; i < 300; ++i) ex->request.headers.add(i % 2 ? "roles" : "actorscopes", std::to_string(i));
    ex->request.headers.add("Host", "ignored-when-authority-set");
    std::string body(1 << 20, 'z');
    for (size_t i = 0; i < body.size(); i += 4096) body[i] = static_cast<char>('a' + (i / 4096) % 26);
    ex->requestBody.push(body);
    HeaderList trailers;
    trailers.add("x-checksum", "abc");
    ex->requestBody.finish(trailers);
    auto* exp = ex.get();
    std::string got;
    auto reader = [&]() -> asio::awaitable<void> {
      co_await exp->waitResponse();
      got = co_await readAll(exp->responseBody);
    };
    asio::co_spawn(io_, reader(), asio::detached);
    auto st = co_await conn->send(ex);
    EXPECT_EQ(st.outcome, Http2SendOutcome::kOk);
    while (!exp->responseBody.drained()) co_await sleepFor(5ms);
    EXPECT_EQ(ex->response.status, 200);
    EXPECT_EQ(ex->response.headers.get("echo-authority"), "svc.test:80");
    std::vector<std::string> seen;
    for (const auto& f : ex->response.headers)
      if (f.name == "echo-actorscopes" || f.name == "echo-roles") seen.push_back(f.value);
    EXPECT_EQ(seen.size(), 300u);
    for (size_t i = 0; i < std::min<size_t>(300, seen.size()); ++i) EXPECT_EQ(seen[i], std::to_string(i));
    EXPECT_EQ(got.size(), body.size());
    EXPECT_TRUE(got == body);
    EXPECT_EQ(ex->responseBody.trailers().get("x-checksum"), "abc");
    EXPECT_EQ(handler_.last->request.version, Version::kHttp2);
    EXPECT_FALSE(handler_.last->request.headers.has("host")) << "host folded into :authority by the client";
  });
}

TEST_F(Http2ServerTest, ErrorBeforeResponseIsSynthesizedAndCounted) {
  run([&]() -> asio::awaitable<void> {
    auto conn = co_await connect();
    auto labels502 = labels({labelPair("direction", "outbound"), labelPair("code", proxyErrorCode(ProxyError::kConnectFailed))});
    auto before = MetricsRegistry::global().valueOf("weft_proxy_errors_total", labels502);
    auto plain = makeExchange("/fail-before");
    plain->requestBody.finish();
    auto st = co_await conn->send(plain);
    EXPECT_EQ(st.outcome, Http2SendOutcome::kOk);
    EXPECT_EQ(plain->response.status, 502);
    EXPECT_EQ(plain->response.headers.get("weft-proxy-error"), proxyErrorCode(ProxyError::kConnectFailed));
    auto body = co_await readAll(plain->responseBody);
    EXPECT_NE(body.find("weft"), std::string::npos);

    auto grpc = makeExchange("/fail-before", {}, true);
    grpc->requestBody.finish();
    st = co_await conn->send(grpc);
    EXPECT_EQ(st.outcome, Http2SendOutcome::kOk);
    EXPECT_EQ(grpc->response.status, 200);
    EXPECT_FALSE(grpc->response.hasBody) << "trailers-only";
    EXPECT_EQ(grpc->response.headers.get("grpc-status"), "14");
    EXPECT_EQ(MetricsRegistry::global().valueOf("weft_proxy_errors_total", labels502), before + 2);
  });
}

TEST_F(Http2ServerTest, BodyFailureAfterHeadIsUnavailableForGrpcAndResetOtherwise) {
  run([&]() -> asio::awaitable<void> {
    auto conn = co_await connect();
    auto grpc = makeExchange("/fail-after", "x", true);
    grpc->requestBody.finish();
    auto st = co_await conn->send(grpc);
    EXPECT_EQ(st.outcome, Http2SendOutcome::kOk);
    auto body = co_await readAll(grpc->responseBody);
    EXPECT_EQ(body, "partial");
    EXPECT_FALSE(grpc->responseBody.failed());
    EXPECT_EQ(grpc->responseBody.trailers().get("grpc-status"), "14") << "UNAVAILABLE, never INTERNAL";
    EXPECT_EQ(grpc->responseBody.trailers().get("weft-proxy-error"), proxyErrorCode(ProxyError::kUpstreamReset));

    auto plain = makeExchange("/fail-after", "x");
    plain->requestBody.finish();
    st = co_await conn->send(plain);
    EXPECT_EQ(st.outcome, Http2SendOutcome::kOk);
    co_await readAll(plain->responseBody);
    EXPECT_TRUE(plain->responseBody.failed()) << "RST_STREAM reached the client";
  });
}

TEST_F(Http2ServerTest, ClientResetCancelsTheExchange) {
  run([&]() -> asio::awaitable<void> {
    auto conn = co_await connect();
    auto ex = makeExchange("/hang");
    auto* exp = ex.get();
    asio::co_spawn(io_, conn->send(ex), asio::detached);
    while (!handler_.last) co_await sleepFor(5ms);
    exp->cancel(ProxyError::kTimeout);  // our client side gives up → RST_STREAM(CANCEL)
    for (int i = 0; i < 200 && !handler_.last->cancelled(); ++i) co_await sleepFor(5ms);
    EXPECT_TRUE(handler_.last->cancelled());
    EXPECT_EQ(handler_.last->requestBody.error(), ProxyError::kDownstreamReset);
  });
}

TEST_F(Http2ServerTest, UnreadRequestBodyIsBoundedByTheStreamWindow) {
  // Above the 65535-byte window a client may use before our SETTINGS arrive.
  options_.bodyBufferBytes = 128 * 1024;
  run([&]() -> asio::awaitable<void> {
    auto conn = co_await connect();
    auto ex = makeExchange("/no-read", std::string(1 << 20, 'b'));
    ex->requestBody.finish();
    asio::co_spawn(io_, conn->send(ex), asio::detached);
    while (!handler_.last) co_await sleepFor(5ms);
    co_await sleepFor(200ms);
    // Only one stream window crossed; the rest waits in the client.
    EXPECT_LE(handler_.last->requestBody.buffered(), 128u * 1024);
    EXPECT_GT(handler_.last->requestBody.buffered(), 0u);
    EXPECT_GE(ex->requestBody.buffered(), (1u << 20) - 128u * 1024);
    handler_.release = true;
    auto body = co_await readAll(ex->responseBody);
    EXPECT_EQ(body.size(), 1u << 20);
  });
}

TEST_F(Http2ServerTest, DrainSendsGoawayFinishesInFlightAndCloses) {
  options_.drainTimeout = 5000ms;
  run([&]() -> asio::awaitable<void> {
    auto conn = co_await connect();
    auto ex = makeExchange("/slow", "payload");
    ex->requestBody.finish();
    std::optional<Http2SendStatus> st;
    auto sender = [&]() -> asio::awaitable<void> { st = co_await conn->send(ex); };
    asio::co_spawn(io_, sender(), asio::detached);
    while (!handler_.last) co_await sleepFor(5ms);
    drain_.start();
    co_await sleepFor(50ms);
    EXPECT_FALSE(conn->acceptsStreams()) << "GOAWAY received";
    auto late = makeExchange("/echo");
    late->requestBody.finish();
    auto lateSt = co_await conn->send(late);
    EXPECT_EQ(lateSt.outcome, Http2SendOutcome::kNotProcessed);
    while (!st) co_await sleepFor(5ms);
    EXPECT_EQ(st->outcome, Http2SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(ex->responseBody), "payload");
    for (int i = 0; i < 200 && serving_ > 0; ++i) co_await sleepFor(10ms);
    EXPECT_EQ(serving_, 0) << "server closed the connection after the drain";
  });
}

TEST_F(Http2ServerTest, IdleConnectionIsClosed) {
  options_.idleTimeout = 100ms;
  run([&]() -> asio::awaitable<void> {
    auto conn = co_await connect();
    while (serving_ == 0) co_await sleepFor(5ms);
    for (int i = 0; i < 100 && serving_ > 0; ++i) co_await sleepFor(10ms);
    EXPECT_EQ(serving_, 0);
    co_await sleepFor(50ms);
    EXPECT_FALSE(conn->acceptsStreams());
  });
}

// A raw client codec on a socket, for floods the real client never sends.
struct RawClient : Http2Events {
  RawClient() : codec(Http2Mode::kClient, *this) { codec.start(); }
  Http2BodyChunk readData(int32_t, uint8_t*, size_t) override { return {Http2BodyChunk::Kind::kDeferred}; }
  void onGoaway(int32_t, uint32_t code, std::string_view) override { goawayCode = code; }
  Http2Codec codec;
  int64_t goawayCode = -1;
};

TEST_F(Http2ServerTest, RapidResetGetsEnhanceYourCalmAndIsCounted) {
  run([&]() -> asio::awaitable<void> {
    auto abuseLabels = labels({labelPair("direction", "outbound"), labelPair("kind", "rapid_reset")});
    auto before = MetricsRegistry::global().valueOf("weft_http2_abuse_total", abuseLabels);
    tcp::socket s(io_);
    co_await s.async_connect(acceptor_.local_endpoint(), kTuple);
    RawClient client;
    std::string out;
    RequestHead req;
    req.method = "POST";
    req.authority = "svc.test";
    req.path = "/hang";
    for (int round = 0; round < 20 && client.goawayCode < 0; ++round) {
      std::vector<int32_t> ids;
      for (int i = 0; i < 100; ++i) ids.push_back(client.codec.submitRequest(req, true));
      out.clear();
      client.codec.drainOutput(out);
      for (auto id : ids) client.codec.resetStream(id, h2error::kCancel);
      client.codec.drainOutput(out);
      auto [ec, n] = co_await asio::async_write(s, asio::buffer(out), kTuple);
      if (ec) break;
      // Read whatever came back without blocking for long.
      char buf[65536];
      for (;;) {
        asio::steady_timer t(io_, 20ms);
        t.async_wait([&s](boost::system::error_code ec) {
          if (ec != asio::error::operation_aborted) s.cancel();
        });
        auto [rec, rn] = co_await s.async_read_some(asio::buffer(buf), kTuple);
        t.cancel();
        if (rec) break;
        client.codec.receive(std::string_view(buf, rn));
      }
    }
    EXPECT_EQ(client.goawayCode, h2error::kEnhanceYourCalm);
    EXPECT_GT(MetricsRegistry::global().valueOf("weft_http2_abuse_total", abuseLabels), before);
  });
}

}  // namespace
}  // namespace weft::http
