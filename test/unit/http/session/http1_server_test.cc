#include "http/session/http1_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/metrics.h"
#include "http/codec/http1_parser.h"
#include "net/drain.h"

namespace weft::http {
namespace {

using boost::asio::awaitable;
using boost::asio::ip::tcp;
using namespace std::chrono_literals;

class FnHandler : public ExchangeHandler {
 public:
  std::function<awaitable<void>(std::shared_ptr<Exchange>)> fn;
  // Set: start() runs this inside the session's event instead of spawning
  // fn, as the proxy's forwarder does when it needs no coroutine.
  std::function<void(std::shared_ptr<Exchange>)> startFn;
  awaitable<void> handle(std::shared_ptr<Exchange> ex) override { co_await fn(std::move(ex)); }
  void start(std::shared_ptr<Exchange> ex, const boost::asio::any_io_executor& executor) override {
    if (startFn) return startFn(std::move(ex));
    ExchangeHandler::start(std::move(ex), executor);
  }
};

awaitable<std::string> readWholeBody(BodyPipe& pipe) {
  std::string body;
  for (;;) {
    co_await pipe.waitReadable();
    auto d = pipe.data();
    body += d;
    pipe.consume(d.size());
    if (d.empty() && pipe.ended()) break;
  }
  co_return body;
}

awaitable<void> sleepFor(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::use_awaitable);
}

// Echo: answers after reading the whole request body, with the body echoed.
awaitable<void> echo(std::shared_ptr<Exchange> ex) {
  auto body = co_await readWholeBody(ex->requestBody);
  ex->response.status = 200;
  ex->response.headers.add("X-Method", ex->request.method);
  ex->response.headers.add("X-Path", ex->request.path);
  ex->response.headers.add("X-Authority", ex->request.authority);
  ex->response.contentLength = body.size();
  ex->responseStarted();
  ex->responseBody.push(body);
  ex->responseBody.finish();
}

class Server {
 public:
  explicit Server(std::function<awaitable<void>(std::shared_ptr<Exchange>)> fn)
      : work_(io_.get_executor()), acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    handler_.fn = std::move(fn);
    options.idleTimeout = 5s;
    options.headerTimeout = 5s;
    options.drain = &drain_;
    port = acceptor_.local_endpoint().port();
  }
  // Answers inside ExchangeHandler::start() (no coroutine) instead of fn.
  void answerInsideStart(std::function<void(std::shared_ptr<Exchange>)> f) { handler_.startFn = std::move(f); }
  void start() {
    boost::asio::co_spawn(io_, acceptLoop(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void post(std::function<void()> f) { boost::asio::post(io_, std::move(f)); }
  void startDrain() {
    std::promise<void> p;
    post([&] {
      drain_.start();
      p.set_value();
    });
    p.get_future().wait();
  }

  ServerOptions options;
  uint16_t port = 0;

 private:
  awaitable<void> acceptLoop() {
    for (;;) {
      auto [ec, s] = co_await acceptor_.async_accept(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (ec) co_return;
      boost::asio::co_spawn(io_, serveHttp1(std::move(s), "", handler_, options), boost::asio::detached);
    }
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  net::DrainSignal drain_;
  FnHandler handler_;
  std::thread thread_;
};

struct Response {
  ResponseHead head;
  std::string body;
  HeaderList trailers;
  bool complete = false;
  std::string raw;
};

// Blocking client with a receive timeout so no test can hang.
class Client {
 public:
  explicit Client(uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    timeval tv{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(std::string_view data) { boost::asio::write(socket_, boost::asio::buffer(data.data(), data.size())); }
  // False on EOF/timeout.
  bool readMore() {
    char tmp[16384];
    boost::system::error_code ec;
    size_t n = socket_.read_some(boost::asio::buffer(tmp), ec);
    if (ec || n == 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, n);
    return true;
  }
  std::string readExactly(size_t n) {
    while (buf_.size() < n && readMore()) {
    }
    auto s = buf_.substr(0, std::min(n, buf_.size()));
    buf_.erase(0, s.size());
    return s;
  }
  Response readResponse(bool headRequest = false) {
    Response r;
    Http1ResponseParser p;
    p.reset(headRequest);
    for (int guard = 0; guard < 100000; ++guard) {
      size_t consumed = 0;
      auto ev = p.parse(buf_, consumed);
      r.raw += buf_.substr(0, consumed);
      buf_.erase(0, consumed);
      r.body += p.body();
      p.body().clear();
      if (ev == Http1Event::kError) return r;
      if (ev == Http1Event::kHead) {
        r.head = p.responseHead();
        if (p.done()) ev = Http1Event::kDone;
        else continue;
      }
      if (ev == Http1Event::kDone) {
        r.trailers = p.trailers();
        r.complete = true;
        return r;
      }
      if (ev == Http1Event::kBody) continue;
      if (!readMore()) {
        if (p.headDone() && p.untilEof() && p.finishOnEof() == Http1Event::kDone) {
          r.body += p.body();
          r.complete = true;
        }
        return r;
      }
    }
    return r;
  }
  // True when the server closed the connection (EOF) within the timeout.
  bool closedByPeer() {
    while (readMore()) {
    }
    char tmp[1];
    boost::system::error_code ec;
    socket_.read_some(boost::asio::buffer(tmp), ec);
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }
  void shutdownSend() { socket_.shutdown(tcp::socket::shutdown_send); }
  void close() { socket_.close(); }
  std::string& buffered() { return buf_; }

 private:
  boost::asio::io_context io_;
  tcp::socket socket_;
  std::string buf_;
  bool eof_ = false;
};

TEST(Http1Server, KeepAliveAndPipelinedRequestsInOrder) {
  Server server(echo);
  server.start();
  Client c(server.port);
  c.send(
      "GET /one HTTP/1.1\r\nHost: a.test\r\n\r\n"
      "POST /two HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"
      "POST /three HTTP/1.1\r\nHost: b.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  auto r1 = c.readResponse();
  auto r2 = c.readResponse();
  auto r3 = c.readResponse();
  ASSERT_TRUE(r1.complete && r2.complete && r3.complete);
  EXPECT_EQ(r1.head.headers.get("x-path"), "/one");
  EXPECT_EQ(r1.body, "");
  EXPECT_EQ(r2.head.headers.get("x-path"), "/two");
  EXPECT_EQ(r2.body, "hello");
  EXPECT_EQ(r3.head.headers.get("x-path"), "/three");
  EXPECT_EQ(r3.head.headers.get("x-authority"), "b.test");
  EXPECT_EQ(r3.body, "abc");
  EXPECT_TRUE(r3.head.keepAlive);
  // Same connection still usable.
  c.send("GET /four HTTP/1.1\r\nHost: a.test\r\n\r\n");
  auto r4 = c.readResponse();
  ASSERT_TRUE(r4.complete);
  EXPECT_EQ(r4.head.headers.get("x-path"), "/four");
}

// Requests that arrive while a bodyless request's response is pending are
// picked up by the read kept outstanding during the response (the next
// readHead() takes it over): nothing is lost or reordered, whether they
// arrive whole, split, or with a body.
TEST(Http1Server, RequestsArrivingDuringAPendingResponseAreServedInOrder) {
  Server server([](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    if (ex->request.path.starts_with("/slow")) co_await sleepFor(40ms);
    co_await echo(std::move(ex));
  });
  server.start();
  Client c(server.port);
  for (int round = 0; round < 3; ++round) {
    c.send("GET /slow1 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    std::this_thread::sleep_for(10ms);  // arrives while /slow1 is pending
    c.send("GET /two HTTP/1.1\r\nHo");
    std::this_thread::sleep_for(5ms);
    c.send("st: a.test\r\n\r\nPOST /three HTTP/1.1\r\nHost: a.test\r\nContent-Length: 6\r\n\r\nabc");
    std::this_thread::sleep_for(5ms);
    c.send("def");
    auto r1 = c.readResponse();
    auto r2 = c.readResponse();
    auto r3 = c.readResponse();
    ASSERT_TRUE(r1.complete && r2.complete && r3.complete) << "round " << round;
    EXPECT_EQ(r1.head.headers.get("x-path"), "/slow1");
    EXPECT_EQ(r2.head.headers.get("x-path"), "/two");
    EXPECT_EQ(r3.head.headers.get("x-path"), "/three");
    EXPECT_EQ(r3.body, "abcdef");
  }
}

TEST(Http1Server, ClientConnectionCloseEndsConnection) {
  Server server(echo);
  server.start();
  Client c(server.port);
  c.send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  auto r = c.readResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_FALSE(r.head.keepAlive);
  EXPECT_NE(r.raw.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(c.closedByPeer());
}

TEST(Http1Server, Http10KeepAliveRules) {
  Server server(echo);
  server.start();
  {
    Client c(server.port);
    c.send("GET / HTTP/1.0\r\n\r\n");
    auto r = c.readResponse();
    ASSERT_TRUE(r.complete);
    EXPECT_TRUE(c.closedByPeer());
  }
  {
    Client c(server.port);
    c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.readResponse();
    ASSERT_TRUE(r.complete);
    EXPECT_NE(r.raw.find("Connection: keep-alive"), std::string::npos);
    c.send("GET /b HTTP/1.0\r\n\r\n");
    auto r2 = c.readResponse();
    ASSERT_TRUE(r2.complete);
    EXPECT_EQ(r2.head.headers.get("x-path"), "/b");
    EXPECT_TRUE(c.closedByPeer());
  }
}

TEST(Http1Server, MalformedRequestGets400AndIsCounted) {
  Server server(echo);
  server.start();
  std::string lbl = labels({labelPair("direction", "outbound"), labelPair("reason", "content-length-with-transfer-encoding")});
  auto before = MetricsRegistry::global().valueOf("weft_http_rejected_requests_total", lbl);
  auto errLbl = labels({labelPair("direction", "outbound"), labelPair("code", "malformed-request")});
  auto errBefore = MetricsRegistry::global().valueOf("weft_proxy_errors_total", errLbl);
  Client c(server.port);
  c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  auto r = c.readResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.head.status, 400);
  EXPECT_EQ(r.head.headers.get("weft-proxy-error"), "malformed-request");
  EXPECT_FALSE(r.head.keepAlive);
  EXPECT_TRUE(c.closedByPeer());
  EXPECT_EQ(MetricsRegistry::global().valueOf("weft_http_rejected_requests_total", lbl), before + 1);
  EXPECT_EQ(MetricsRegistry::global().valueOf("weft_proxy_errors_total", errLbl), errBefore + 1);
}

TEST(Http1Server, ErrorBeforeResponseIsSynthesizedAndCounted) {
  Server server([](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    ex->failBeforeResponse(ProxyError::kNoEndpoints);
    co_return;
  });
  server.start();
  auto errLbl = labels({labelPair("direction", "outbound"), labelPair("code", proxyErrorCode(ProxyError::kNoEndpoints))});
  auto before = MetricsRegistry::global().valueOf("weft_proxy_errors_total", errLbl);
  Client c(server.port);
  c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  auto r = c.readResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.head.status, 503);
  EXPECT_EQ(r.head.headers.get("weft-proxy-error"), proxyErrorCode(ProxyError::kNoEndpoints));
  EXPECT_TRUE(r.head.keepAlive);
  EXPECT_EQ(MetricsRegistry::global().valueOf("weft_proxy_errors_total", errLbl), before + 1);
}

// The forwarder may answer inside start(), before the session has even
// begun to wait for the response (a routing error, or an upstream that is
// quicker than the session): the writer finds the response there. Pipelined
// requests answered that way are written in order, each framing intact.
TEST(Http1Server, ResponsesGivenInsideStartAreWrittenInOrder) {
  Server server(echo);
  server.answerInsideStart([](std::shared_ptr<Exchange> ex) {
    if (ex->request.path == "/error") {
      ex->failBeforeResponse(ProxyError::kUnknownService);
      return;
    }
    ex->response.status = 200;
    ex->response.headers.add("X-Path", ex->request.path);
    if (ex->request.path == "/length") ex->response.contentLength = 6;
    ex->responseStarted();
    ex->responseBody.push("body:");
    ex->responseBody.push(ex->request.path.substr(1, 1));
    HeaderList trailers;
    trailers.add("x-t", "done");
    ex->responseBody.finish(std::move(trailers));
  });
  server.start();
  Client c(server.port);
  c.send(
      "GET /length HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /error HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /chunked HTTP/1.1\r\nHost: h\r\nTE: trailers\r\n\r\n");
  auto r1 = c.readResponse();
  auto r2 = c.readResponse();
  auto r3 = c.readResponse();
  ASSERT_TRUE(r1.complete && r2.complete && r3.complete);
  EXPECT_EQ(r1.head.headers.get("x-path"), "/length");
  EXPECT_EQ(r1.head.contentLength, 6u);
  EXPECT_EQ(r1.body, "body:l");
  EXPECT_EQ(r2.head.status, proxyErrorHttpStatus(ProxyError::kUnknownService));
  EXPECT_EQ(r2.head.headers.get("weft-proxy-error"), proxyErrorCode(ProxyError::kUnknownService));
  EXPECT_TRUE(r2.head.keepAlive);
  EXPECT_EQ(r3.head.headers.get("x-path"), "/chunked");
  EXPECT_EQ(r3.body, "body:c");
  EXPECT_EQ(r3.trailers.get("x-t"), "done");
  EXPECT_TRUE(r3.head.keepAlive);
}

// A body larger than the pipe reaches a client that starts reading late:
// the writer waits for the client, the producer for the pipe, and every
// byte arrives in order.
TEST(Http1Server, LargeResponseReachesALateReaderWhole) {
  constexpr size_t kPieces = 64;
  constexpr size_t kPiece = 16 * 1024;
  Server server([](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    ex->response.status = 200;
    ex->response.contentLength = kPieces * kPiece;
    ex->responseStarted();
    for (size_t i = 0; i < kPieces; ++i) {
      if (!co_await ex->responseBody.waitWritable()) co_return;
      ex->responseBody.push(std::string(kPiece, static_cast<char>('a' + i % 26)));
    }
    ex->responseBody.finish();
  });
  server.start();
  Client c(server.port);
  c.send("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
  std::this_thread::sleep_for(200ms);  // the socket buffers fill; the writer waits
  auto r = c.readResponse();
  ASSERT_TRUE(r.complete);
  ASSERT_EQ(r.body.size(), kPieces * kPiece);
  for (size_t i = 0; i < kPieces; ++i)
    ASSERT_EQ(r.body[i * kPiece], static_cast<char>('a' + i % 26)) << "piece " << i;
  c.send("GET /again HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(c.readResponse().complete) << "kept alive";
}

TEST(Http1Server, ExpectContinueSentWhenBodyFirstNeeded) {
  std::atomic<bool> readingStarted{false};
  Server server([&](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    co_await sleepFor(100ms);  // "routing" before the body is needed
    readingStarted = true;
    co_await echo(ex);
  });
  server.start();
  Client c(server.port);
  c.send("PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  auto interim = c.readExactly(25);
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_TRUE(readingStarted.load());
  c.send("data");
  auto r = c.readResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "data");
}

TEST(Http1Server, ChunkedResponseWithTrailersWhenClientAcceptsThem) {
  Server server([](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    ex->response.status = 200;
    ex->response.headers.add("content-type", "application/grpc");
    ex->responseStarted();
    ex->responseBody.push("part1");
    co_await sleepFor(10ms);
    ex->responseBody.push("part2");
    HeaderList t;
    t.add("grpc-status", "0");
    ex->responseBody.finish(std::move(t));
  });
  server.start();
  Client c(server.port);
  c.send("POST / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n");
  auto r = c.readResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.body, "part1part2");
  EXPECT_EQ(r.trailers.get("grpc-status"), "0");
  c.send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  r = c.readResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_TRUE(r.trailers.empty());
}

TEST(Http1Server, ResponseBodyFailureAbortsConnection) {
  Server server([](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    ex->response.status = 200;
    ex->responseStarted();
    ex->responseBody.push("partial");
    co_await sleepFor(20ms);
    ex->responseBody.fail(ProxyError::kUpstreamReset);
  });
  server.start();
  Client c(server.port);
  c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  auto r = c.readResponse();
  EXPECT_EQ(r.head.status, 200);
  EXPECT_FALSE(r.complete);  // no terminal chunk
  EXPECT_EQ(r.body, "partial");
}

TEST(Http1Server, ClientDisconnectCancelsExchange) {
  std::promise<ProxyError> seen;
  Server server([&](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    // Never answers; waits for the cancel.
    while (!ex->cancelled()) co_await sleepFor(5ms);
    seen.set_value(ex->error());
  });
  server.start();
  {
    Client c(server.port);
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    std::this_thread::sleep_for(50ms);
    c.close();
  }
  auto f = seen.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), ProxyError::kDownstreamReset);
}

TEST(Http1Server, LargeRequestBodyIsStreamedWithBackPressure) {
  constexpr size_t kTotal = 4 * 1024 * 1024;
  std::atomic<size_t> maxBuffered{0};
  std::atomic<size_t> highWater{0};
  Server server([&](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    auto& pipe = ex->requestBody;
    highWater = pipe.highWater();
    co_await sleepFor(200ms);  // a slow consumer: the session must stop reading
    size_t total = 0;
    for (;;) {
      maxBuffered = std::max(maxBuffered.load(), pipe.buffered());
      co_await pipe.waitReadable();
      maxBuffered = std::max(maxBuffered.load(), pipe.buffered());
      auto d = pipe.data();
      total += d.size();
      pipe.consume(d.size());
      if (d.empty() && pipe.ended()) break;
      co_await sleepFor(1ms);
    }
    ex->response.status = 200;
    ex->response.headers.add("x-total", std::to_string(total));
    ex->response.contentLength = 0;
    ex->responseStarted();
    ex->responseBody.finish();
  });
  server.start();
  Client c(server.port);
  std::thread sender([&] {
    c.send("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(kTotal) + "\r\n\r\n");
    std::string block(64 * 1024, 'x');
    for (size_t sent = 0; sent < kTotal; sent += block.size()) c.send(block);
  });
  sender.join();
  auto r = c.readResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.head.headers.get("x-total"), std::to_string(kTotal));
  EXPECT_GT(maxBuffered.load(), 0u);
  EXPECT_LE(maxBuffered.load(), highWater.load());
}

TEST(Http1Server, IdleConnectionClosedAfterIdleTimeout) {
  Server server(echo);
  server.options.idleTimeout = 200ms;
  server.start();
  Client c(server.port);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closedByPeer());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST(Http1Server, DrainClosesIdleAndMarksInFlightResponse) {
  std::promise<void> entered;
  std::promise<void> release;
  auto releaseF = release.get_future().share();
  Server server([&](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    entered.set_value();
    while (releaseF.wait_for(0s) != std::future_status::ready) co_await sleepFor(5ms);
    co_await echo(ex);
  });
  server.start();
  Client idle(server.port);
  Client busy(server.port);
  busy.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  entered.get_future().wait();
  server.startDrain();
  release.set_value();
  auto r = busy.readResponse();
  ASSERT_TRUE(r.complete);
  EXPECT_FALSE(r.head.keepAlive);
  EXPECT_TRUE(busy.closedByPeer());
  EXPECT_TRUE(idle.closedByPeer());
}

TEST(Http1Server, UpgradeTunnelsRawBytes) {
  Server server([](std::shared_ptr<Exchange> ex) -> awaitable<void> {
    if (!ex->request.upgrade) co_return ex->failBeforeResponse(ProxyError::kUpstreamProtocol);
    ex->response.status = 101;
    ex->tunnel = true;
    ex->responseStarted();
    // Echo tunnel bytes, uppercased, until the client half-closes.
    for (;;) {
      co_await ex->requestBody.waitReadable();
      std::string d(ex->requestBody.data());
      ex->requestBody.consume(d.size());
      for (auto& ch : d) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      ex->responseBody.push(d);
      if (d.empty() && ex->requestBody.ended()) break;
    }
    ex->responseBody.finish();
  });
  server.start();
  Client c(server.port);
  c.send("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly");
  std::string head;
  while (head.find("\r\n\r\n") == std::string::npos) {
    ASSERT_TRUE(c.readMore());
    head = c.buffered();
  }
  auto end = head.find("\r\n\r\n") + 4;
  EXPECT_EQ(head.substr(0, 34), "HTTP/1.1 101 Switching Protocols\r\n");
  EXPECT_NE(head.find("Upgrade: websocket"), std::string::npos);
  c.buffered().erase(0, end);
  EXPECT_EQ(c.readExactly(5), "EARLY");
  c.send("ping");
  EXPECT_EQ(c.readExactly(4), "PING");
  c.shutdownSend();
  EXPECT_TRUE(c.closedByPeer());
}

}  // namespace
}  // namespace weft::http
