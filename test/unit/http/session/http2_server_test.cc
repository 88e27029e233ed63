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
#include <boost/asio/write.hpp>
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
  Http2ServerTest() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
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
    ++served_;
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
  int served_ = 0;  // connections whose serveHttp2() returned
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
    EXPECT_EQ(st.outcome, SendOutcome::kOk);
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
    EXPECT_EQ(st.outcome, SendOutcome::kOk);
    EXPECT_EQ(plain->response.status, 502);
    EXPECT_EQ(plain->response.headers.get("weft-proxy-error"), proxyErrorCode(ProxyError::kConnectFailed));
    auto body = co_await readAll(plain->responseBody);
    EXPECT_NE(body.find("weft"), std::string::npos);

    auto grpc = makeExchange("/fail-before", {}, true);
    grpc->requestBody.finish();
    st = co_await conn->send(grpc);
    EXPECT_EQ(st.outcome, SendOutcome::kOk);
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
    EXPECT_EQ(st.outcome, SendOutcome::kOk);
    auto body = co_await readAll(grpc->responseBody);
    EXPECT_EQ(body, "partial");
    EXPECT_FALSE(grpc->responseBody.failed());
    EXPECT_EQ(grpc->responseBody.trailers().get("grpc-status"), "14") << "UNAVAILABLE, never INTERNAL";
    EXPECT_EQ(grpc->responseBody.trailers().get("weft-proxy-error"), proxyErrorCode(ProxyError::kUpstreamReset));

    auto plain = makeExchange("/fail-after", "x");
    plain->requestBody.finish();
    st = co_await conn->send(plain);
    EXPECT_EQ(st.outcome, SendOutcome::kOk);
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
    std::optional<SendResult> st;
    auto sender = [&]() -> asio::awaitable<void> { st = co_await conn->send(ex); };
    asio::co_spawn(io_, sender(), asio::detached);
    while (!handler_.last) co_await sleepFor(5ms);
    drain_.start();
    co_await sleepFor(50ms);
    EXPECT_FALSE(conn->acceptsStreams()) << "GOAWAY received";
    auto late = makeExchange("/echo");
    late->requestBody.finish();
    auto lateSt = co_await conn->send(late);
    EXPECT_EQ(lateSt.outcome, SendOutcome::kNotProcessed);
    while (!st) co_await sleepFor(5ms);
    EXPECT_EQ(st->outcome, SendOutcome::kOk);
    EXPECT_EQ(co_await readAll(ex->responseBody), "payload");
    for (int i = 0; i < 200 && serving_ > 0; ++i) co_await sleepFor(10ms);
    EXPECT_EQ(serving_, 0) << "server closed the connection after the drain";
  });
}

TEST_F(Http2ServerTest, ConnectionAcceptedWhileDrainingIsSentAwayAndClosed) {
  options_.drainTimeout = 5000ms;
  run([&]() -> asio::awaitable<void> {
    drain_.start();
    auto conn = co_await connect();
    for (int i = 0; i < 100 && serving_ == 0; ++i) co_await sleepFor(10ms);
    for (int i = 0; i < 100 && conn->acceptsStreams(); ++i) co_await sleepFor(10ms);
    EXPECT_FALSE(conn->acceptsStreams()) << "GOAWAY received";
    // No stream open: the final GOAWAY and the close follow the notice's grace.
    for (int i = 0; i < 300 && serving_ > 0; ++i) co_await sleepFor(10ms);
    EXPECT_EQ(serving_, 0) << "server closed the connection";
    EXPECT_EQ(accepted_, 1);
  });
}

TEST_F(Http2ServerTest, DrainAfterAConnectionEndedReachesOnlyTheLiveOnes) {
  // A closed connection's drain hook is gone with it; the live one drains.
  options_.drainTimeout = 5000ms;
  run([&]() -> asio::awaitable<void> {
    auto gone = co_await connect();
    auto live = co_await connect();
    for (int i = 0; i < 100 && serving_ < 2; ++i) co_await sleepFor(10ms);
    EXPECT_EQ(serving_, 2);
    gone->closeNow();
    gone.reset();
    for (int i = 0; i < 100 && serving_ > 1; ++i) co_await sleepFor(10ms);
    EXPECT_EQ(serving_, 1);
    drain_.start();
    for (int i = 0; i < 100 && live->acceptsStreams(); ++i) co_await sleepFor(10ms);
    EXPECT_FALSE(live->acceptsStreams()) << "GOAWAY received";
    for (int i = 0; i < 300 && serving_ > 0; ++i) co_await sleepFor(10ms);
    EXPECT_EQ(serving_, 0);
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

// Hand-built frames for peers that stall where the real client never does.
std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string f;
  uint32_t len = static_cast<uint32_t>(payload.size());
  f += static_cast<char>(len >> 16);
  f += static_cast<char>(len >> 8);
  f += static_cast<char>(len);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>((stream >> shift) & 0xff);
  f += payload;
  return f;
}
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kHeaders = 0x1, kSettings = 0x4, kGoaway = 0x7, kWindowUpdate = 0x8;
constexpr uint8_t kEndStream = 0x1, kEndHeaders = 0x4;
// HPACK static-table entries :method GET, :scheme http, :path /, then
// :authority svc.test (literal, indexed name).
const std::string kGetBlock = std::string("\x82\x86\x84\x41\x08svc.test", 13);

struct GoawaySeen {
  bool closed = false;  // EOF within the wait
  std::optional<uint32_t> code;
  uint32_t lastStreamId = 0;
  std::string debug;
  std::chrono::milliseconds after{0};  // from the start of the wait to EOF
};

// Reads frames until EOF or `limit`; remembers the GOAWAY.
asio::awaitable<GoawaySeen> readUntilClosed(tcp::socket& s, std::chrono::milliseconds limit) {
  GoawaySeen seen;
  auto start = std::chrono::steady_clock::now();
  asio::steady_timer t(s.get_executor(), limit);
  t.async_wait([&s](boost::system::error_code ec) {
    if (!ec) s.cancel();
  });
  std::string in;
  char buf[16384];
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), kTuple);
    if (ec) {
      seen.closed = ec != asio::error::operation_aborted;
      break;
    }
    in.append(buf, n);
    while (in.size() >= 9) {
      size_t len = (uint8_t(in[0]) << 16) | (uint8_t(in[1]) << 8) | uint8_t(in[2]);
      if (in.size() < 9 + len) break;
      if (uint8_t(in[3]) == kGoaway && len >= 8) {
        auto u32 = [&](size_t at) {
          return (uint32_t(uint8_t(in[at])) << 24) | (uint32_t(uint8_t(in[at + 1])) << 16) |
                 (uint32_t(uint8_t(in[at + 2])) << 8) | uint32_t(uint8_t(in[at + 3]));
        };
        seen.lastStreamId = u32(9) & 0x7fffffff;
        seen.code = u32(13);
        seen.debug = in.substr(17, len - 8);
      }
      in.erase(0, 9 + len);
    }
  }
  t.cancel();
  seen.after = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  co_return seen;
}

// The peer's FIN that arrives together with its last bytes raises no later
// readiness edge: the reader must not wait for one after the short read that
// took those bytes, or the connection stays open until a timeout.
TEST_F(Http2ServerTest, APeersFinThatCameWithItsLastBytesClosesTheConnectionAtOnce) {
  options_.idleTimeout = 60s;
  options_.headerTimeout = 60s;
  run([&]() -> asio::awaitable<void> {
    tcp::socket s(io_);
    co_await s.async_connect(acceptor_.local_endpoint(), kTuple);
    std::string hello(kPreface);
    hello += frame(kSettings, 0, 0, {});
    co_await asio::async_write(s, asio::buffer(hello), kTuple);
    // The server reads that and waits for more; then a WINDOW_UPDATE (which
    // the server answers with nothing: a write would raise an edge of its
    // own) and the FIN arrive together, written with no turn of the loop
    // between them.
    co_await sleepFor(100ms);
    EXPECT_EQ(served_, 0);
    asio::write(s, asio::buffer(frame(kWindowUpdate, 0, 0, std::string("\0\0\0\1", 4))));
    s.shutdown(tcp::socket::shutdown_send);
    for (int i = 0; i < 300 && served_ == 0; ++i) co_await sleepFor(10ms);
    EXPECT_EQ(accepted_, 1);
    EXPECT_EQ(served_, 1) << "still serving 3 s after the peer's FIN (idle timeout 60 s)";
  });
}

double timeoutCount(std::string_view kind) {
  return MetricsRegistry::global().valueOf("weft_http2_timeouts_total",
                                           labels({labelPair("direction", "outbound"), labelPair("kind", kind)}));
}

TEST_F(Http2ServerTest, ConnectionWithoutARequestIsClosedAfterTheHeaderTimeout) {
  options_.headerTimeout = 200ms;
  options_.idleTimeout = 60s;
  run([&]() -> asio::awaitable<void> {
    auto before = timeoutCount("first_request");
    tcp::socket s(io_);
    co_await s.async_connect(acceptor_.local_endpoint(), kTuple);
    // The preface and an empty SETTINGS, then nothing (PINGs would not count either).
    std::string out(kPreface);
    out += frame(kSettings, 0, 0, {});
    co_await asio::async_write(s, asio::buffer(out), kTuple);
    auto seen = co_await readUntilClosed(s, 3s);
    EXPECT_TRUE(seen.closed) << "still open 3 s after a 200 ms header timeout";
    EXPECT_TRUE(seen.code.has_value()) << "closed without GOAWAY";
    if (!seen.code) co_return;
    EXPECT_EQ(*seen.code, h2error::kNoError);
    EXPECT_EQ(seen.lastStreamId, 0u);
    EXPECT_EQ(seen.debug, "first_request");
    EXPECT_GE(seen.after.count(), 150);
    EXPECT_EQ(timeoutCount("first_request"), before + 1);
  });
}

TEST_F(Http2ServerTest, StalledHeaderBlockClosesTheConnectionAfterTheHeaderTimeout) {
  options_.headerTimeout = 300ms;
  options_.idleTimeout = 60s;
  run([&]() -> asio::awaitable<void> {
    auto before = timeoutCount("header");
    tcp::socket s(io_);
    co_await s.async_connect(acceptor_.local_endpoint(), kTuple);
    std::string out(kPreface);
    out += frame(kSettings, 0, 0, {});
    // Stream 1: a complete request that stays in flight.
    out += frame(kHeaders, kEndHeaders | kEndStream, 1, std::string("\x82\x86\x04\x05/hang\x41\x08svc.test", 19));
    co_await asio::async_write(s, asio::buffer(out), kTuple);
    co_await sleepFor(400ms);  // longer than the header timeout: a complete request resets nothing, closes nothing
    EXPECT_EQ(serving_, 1) << "a connection with a complete request outlived the header timeout";
    // Stream 3: HEADERS without END_HEADERS, and the CONTINUATION never comes.
    out = frame(kHeaders, 0, 3, kGetBlock.substr(0, 3));
    co_await asio::async_write(s, asio::buffer(out), kTuple);
    auto seen = co_await readUntilClosed(s, 3s);
    EXPECT_TRUE(seen.closed);
    EXPECT_TRUE(seen.code.has_value()) << "closed without GOAWAY";
    if (!seen.code) co_return;
    EXPECT_EQ(*seen.code, h2error::kNoError);
    EXPECT_EQ(seen.lastStreamId, 1u) << "the stalled stream 3 was never processed";
    EXPECT_EQ(seen.debug, "header");
    EXPECT_GE(seen.after.count(), 250);
    EXPECT_LT(seen.after.count(), 2500);
    EXPECT_EQ(timeoutCount("header"), before + 1);
  });
}

TEST_F(Http2ServerTest, HeaderTimeoutSparesConnectionsThatSentARequest) {
  options_.headerTimeout = 100ms;
  options_.idleTimeout = 60s;
  run([&]() -> asio::awaitable<void> {
    auto conn = co_await connect();
    auto ex = makeExchange("/echo", "x");
    ex->requestBody.finish();
    auto st = co_await conn->send(ex);
    EXPECT_EQ(st.outcome, SendOutcome::kOk);
    co_await readAll(ex->responseBody);
    co_await sleepFor(400ms);
    EXPECT_EQ(serving_, 1) << "an idle connection is the idle timeout's, not the header timeout's";
    EXPECT_TRUE(conn->acceptsStreams());
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
