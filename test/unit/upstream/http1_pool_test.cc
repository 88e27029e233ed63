#include "upstream/http1_pool.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <functional>
#include <mutex>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/metrics.h"
#include "http/codec/http1_parser.h"

namespace weft::upstream {
namespace {

using boost::asio::awaitable;
using boost::asio::ip::tcp;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;
using http::Exchange;

struct Reply {
  std::string bytes;       // written as is
  bool closeAfter = false; // close the connection after writing
  std::chrono::milliseconds delayBetweenKb{0};
};

// A scripted HTTP/1 server on its own thread with blocking sockets.
class FakeUpstream {
 public:
  using Script = std::function<Reply(int conn, int req, const http::RequestHead&, const std::string& body,
                                     const http::HeaderList& trailers)>;
  explicit FakeUpstream(Script script)
      : script_(std::move(script)), acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    acceptor_.non_blocking(true);
    endpoint = acceptor_.local_endpoint();
    thread_ = std::thread([this] { acceptLoop(); });
  }
  ~FakeUpstream() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_) t.join();
  }
  int accepted() const { return accepted_; }
  std::vector<std::string> rawRequests() {
    std::lock_guard lk(mu_);
    return raw_;
  }

  tcp::endpoint endpoint;

 private:
  void acceptLoop() {
    while (!stop_) {
      boost::system::error_code ec;
      tcp::socket s(io_);
      acceptor_.accept(s, ec);
      if (ec) {
        std::this_thread::sleep_for(2ms);
        continue;
      }
      int idx = accepted_++;
      conns_.emplace_back([this, idx, sock = std::move(s)]() mutable { serve(idx, std::move(sock)); });
    }
  }

  void serve(int conn, tcp::socket s) {
    s.non_blocking(false);
    timeval tv{0, 50 * 1000};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    http::Http1RequestParser parser;
    std::string in, body, raw;
    int req = 0;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      size_t consumed = 0;
      auto ev = parser.parse(in, consumed);
      raw += in.substr(0, consumed);
      in.erase(0, consumed);
      body += parser.body();
      parser.body().clear();
      if (ev == http::Http1Event::kError) return;
      if (ev == http::Http1Event::kHead && !parser.done()) continue;
      if (ev == http::Http1Event::kHead || ev == http::Http1Event::kDone) {
        {
          std::lock_guard lk(mu_);
          raw_.push_back(raw);
        }
        auto reply = script_(conn, req++, parser.requestHead(), body, parser.trailers());
        raw.clear();
        body.clear();
        parser.reset();
        boost::system::error_code ec;
        if (reply.delayBetweenKb.count() > 0) {
          for (size_t off = 0; off < reply.bytes.size() && !ec; off += 1024) {
            boost::asio::write(s, boost::asio::buffer(reply.bytes.data() + off, std::min<size_t>(1024, reply.bytes.size() - off)), ec);
            std::this_thread::sleep_for(reply.delayBetweenKb);
          }
        } else if (!reply.bytes.empty()) {
          boost::asio::write(s, boost::asio::buffer(reply.bytes), ec);
        }
        if (reply.closeAfter || ec) {
          s.shutdown(tcp::socket::shutdown_both, ec);
          s.close(ec);
          return;
        }
        continue;
      }
      if (ev == http::Http1Event::kBody) continue;
      char tmp[16384];
      boost::system::error_code ec;
      size_t n = s.read_some(boost::asio::buffer(tmp), ec);
      if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) continue;
      if (ec || n == 0) return;
      in.append(tmp, n);
    }
  }

  Script script_;
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::vector<std::thread> conns_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<std::string> raw_;
};

Reply ok(std::string body = "ok", std::string extra = "") {
  return {"HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body};
}

awaitable<void> sleepFor(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

// Reads a response body to its end as a client session would, noting the
// most it ever held buffered (back-pressure checks).
awaitable<void> readBody(http::BodyPipe& pipe, std::string& body, size_t& maxBuffered) {
  for (;;) {
    co_await pipe.waitReadable();
    maxBuffered = std::max(maxBuffered, pipe.buffered());
    auto d = pipe.data();
    body += d;
    pipe.consume(d.size());
    if (d.empty() && pipe.ended()) break;
  }
}

struct Outcome {
  SendResult result;
  int status = 0;
  std::string body;
  http::HeaderList trailers;
  ProxyError bodyError = ProxyError::kNone;
  size_t maxBuffered = 0;
};

http::RequestHead get(std::string path = "/") {
  http::RequestHead h;
  h.method = "GET";
  h.authority = "up.test";
  h.path = std::move(path);
  return h;
}

// Runs `fn` on `io` until it completes (bounded).
void runUntil(boost::asio::io_context& io, bool& done, std::chrono::seconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(20ms);
  }
  ASSERT_TRUE(done) << "timed out";
}

void runFor(boost::asio::io_context& io, std::chrono::milliseconds d) {
  io.restart();
  io.run_for(d);
}

Outcome roundTrip(boost::asio::io_context& io, Http1Pool& pool, http::RequestHead req, std::string body = "",
                  bool fresh = false, std::chrono::milliseconds consumerDelay = 0ms,
                  std::function<void(std::shared_ptr<Exchange>)> during = nullptr) {
  auto ex = std::make_shared<Exchange>(io.get_executor());
  ex->request = std::move(req);
  if (!body.empty()) ex->requestBody.push(body);
  ex->requestBody.finish();
  Outcome o;
  bool done = false;
  auto sender = [&]() -> awaitable<void> {
    o.result = co_await pool.send(ex, fresh);
    if (o.result.outcome != SendOutcome::kOk) ex->failBeforeResponse(ProxyError::kUpstreamReset);
  };
  auto consumer = [&]() -> awaitable<void> {
    co_await ex->waitResponse();
    if (!ex->hasResponse()) co_return;
    o.status = ex->response.status;
    if (consumerDelay.count()) co_await sleepFor(consumerDelay);
    auto& pipe = ex->responseBody;
    o.maxBuffered = pipe.buffered();
    co_await readBody(pipe, o.body, o.maxBuffered);
    o.bodyError = pipe.error();
    o.trailers = pipe.trailers();
  };
  boost::asio::co_spawn(io, [&]() -> awaitable<void> { co_await (sender() && consumer()); },
                        [&](std::exception_ptr) { done = true; });
  if (during) {
    runFor(io, 100ms);
    during(ex);
  }
  runUntil(io, done);
  return o;
}

PoolOptions opts() {
  PoolOptions o;
  o.cluster = "h1-test";
  o.connectTimeout = 1000ms;
  o.idleTimeout = 3000ms;
  return o;
}

TEST(Http1Pool, KeepAliveReusesOneConnection) {
  FakeUpstream up([](int, int req, const http::RequestHead& h, const std::string&, const http::HeaderList&) {
    return ok("r" + std::to_string(req) + h.path);
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto a = roundTrip(io, pool, get("/a"));
  auto b = roundTrip(io, pool, get("/b"));
  EXPECT_EQ(a.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(a.body, "r0/a");
  EXPECT_EQ(b.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(b.body, "r1/b");
  EXPECT_EQ(up.accepted(), 1);
  EXPECT_EQ(pool.openConnections(), 1u);
  EXPECT_EQ(pool.idleConnections(), 1u);
  auto raw = up.rawRequests();
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0], "GET /a HTTP/1.1\r\nHost: up.test\r\n\r\n");
}

TEST(Http1Pool, ServerConnectionCloseIsHonoured) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    auto r = ok("bye", "Connection: close\r\n");
    r.closeAfter = true;
    return r;
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto a = roundTrip(io, pool, get());
  EXPECT_EQ(pool.openConnections(), 0u);
  auto b = roundTrip(io, pool, get());
  EXPECT_EQ(a.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(b.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(b.body, "bye");
  EXPECT_EQ(up.accepted(), 2);
}

TEST(Http1Pool, MaxRequestsPerConnection) {
  FakeUpstream up([](int conn, int req, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    return ok("c" + std::to_string(conn) + "r" + std::to_string(req));
  });
  boost::asio::io_context io;
  auto o = opts();
  o.maxRequestsPerConnection = 2;
  Http1Pool pool(io.get_executor(), up.endpoint, o);
  std::vector<std::string> bodies;
  for (int i = 0; i < 3; ++i) bodies.push_back(roundTrip(io, pool, get()).body);
  EXPECT_EQ(bodies, (std::vector<std::string>{"c0r0", "c0r1", "c1r0"}));
  EXPECT_EQ(up.accepted(), 2);
  auto raw = up.rawRequests();
  ASSERT_EQ(raw.size(), 3u);
  EXPECT_EQ(raw[0].find("Connection: close"), std::string::npos);
  EXPECT_NE(raw[1].find("Connection: close"), std::string::npos);
}

TEST(Http1Pool, ReusedConnectionClosedBeforeResponseIsNotProcessed) {
  FakeUpstream up([](int conn, int req, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    if (conn == 0 && req == 1) return Reply{"", true};  // read the request, then drop the connection
    return ok();
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto first = roundTrip(io, pool, get());
  ASSERT_EQ(first.result.outcome, SendOutcome::kOk);
  http::RequestHead post = get("/p");
  post.method = "POST";
  post.contentLength = 4;
  post.hasBody = true;
  auto second = roundTrip(io, pool, post, "body");
  EXPECT_EQ(second.result.outcome, SendOutcome::kNotProcessed);
  EXPECT_EQ(pool.openConnections(), 0u);
  auto retry = roundTrip(io, pool, get(), "", /*fresh=*/true);
  EXPECT_EQ(retry.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(up.accepted(), 2);
}

TEST(Http1Pool, FreshConnectionClosedBeforeResponseIsAFailure) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    return Reply{"", true};
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto r = roundTrip(io, pool, get());
  EXPECT_EQ(r.result.outcome, SendOutcome::kFailed);
  EXPECT_EQ(r.result.error, ProxyError::kUpstreamReset);
}

TEST(Http1Pool, IdleConnectionClosedByServerIsDroppedQuietly) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    auto r = ok();
    r.closeAfter = true;  // closes without saying Connection: close
    return r;
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  ASSERT_EQ(roundTrip(io, pool, get()).result.outcome, SendOutcome::kOk);
  runFor(io, 200ms);  // the idle watcher sees the FIN
  EXPECT_EQ(pool.openConnections(), 0u);
  auto r = roundTrip(io, pool, get());
  EXPECT_EQ(r.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(up.accepted(), 2);
}

TEST(Http1Pool, IdleTimeoutClosesConnection) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) { return ok(); });
  boost::asio::io_context io;
  auto o = opts();
  o.idleTimeout = 100ms;
  Http1Pool pool(io.get_executor(), up.endpoint, o);
  ASSERT_EQ(roundTrip(io, pool, get()).result.outcome, SendOutcome::kOk);
  EXPECT_EQ(pool.openConnections(), 1u);
  runFor(io, 400ms);
  EXPECT_EQ(pool.openConnections(), 0u);
  EXPECT_EQ(pool.idleConnections(), 0u);
}

TEST(Http1Pool, ConnectRefusedIsCountedWithErrno) {
  uint16_t port;
  {
    boost::asio::io_context tmp;
    tcp::acceptor a(tmp, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: nothing listens there now
  boost::asio::io_context io;
  auto o = opts();
  std::vector<int> observed;  // what the endpoint state machine is told
  o.onConnect = [&](int err) { observed.push_back(err); };
  Http1Pool pool(io.get_executor(), tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port), o);
  auto lbl = labels({labelPair("cluster", "h1-test"), labelPair("result", "error"), labelPair("errno", "ECONNREFUSED"),
                      labelPair("kind", "pool")});
  auto before = MetricsRegistry::global().valueOf("weft_connect_attempts_total", lbl);
  auto r = roundTrip(io, pool, get());
  EXPECT_EQ(r.result.outcome, SendOutcome::kFailed);
  EXPECT_EQ(r.result.error, ProxyError::kConnectFailed);
  EXPECT_EQ(r.result.connectErrno, ECONNREFUSED);
  EXPECT_EQ(MetricsRegistry::global().valueOf("weft_connect_attempts_total", lbl), before + 1);
  EXPECT_EQ(observed, std::vector<int>{ECONNREFUSED});
  EXPECT_EQ(pool.openConnections(), 0u);
}

TEST(Http1Pool, OpenConnectionsGauge) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) { return ok(); });
  boost::asio::io_context io;
  auto lbl = labels({labelPair("direction", "upstream"), labelPair("cluster", "h1-gauge")});
  auto o = opts();
  o.cluster = "h1-gauge";
  auto before = MetricsRegistry::global().valueOf("weft_open_connections", lbl);
  {
    Http1Pool pool(io.get_executor(), up.endpoint, o);
    roundTrip(io, pool, get());
    EXPECT_EQ(MetricsRegistry::global().valueOf("weft_open_connections", lbl), before + 1);
    pool.drain();
    EXPECT_EQ(MetricsRegistry::global().valueOf("weft_open_connections", lbl), before);
  }
}

TEST(Http1Pool, LargeResponseBodyRespectsPipeHighWater) {
  constexpr size_t kSize = 2 * 1024 * 1024;
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    return ok(std::string(kSize, 'z'));
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto r = roundTrip(io, pool, get(), "", false, 200ms);
  EXPECT_EQ(r.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(r.body.size(), kSize);
  EXPECT_GT(r.maxBuffered, 0u);
  EXPECT_LE(r.maxBuffered, 64u * 1024);
}

TEST(Http1Pool, ChunkedRequestBodyWithTrailersAndChunkedResponse) {
  FakeUpstream up([](int, int, const http::RequestHead& h, const std::string& body, const http::HeaderList& trailers) {
    return Reply{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::to_string(body.size()) + "\r\n" + body +
                 "\r\n0\r\nx-got-trailer: " + std::string(trailers.get("x-t")) + "\r\n\r\n"};
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto req = get("/stream");
  req.method = "POST";
  req.hasBody = true;  // no length: chunked upstream
  auto o = roundTrip(io, pool, req, "abcdefghi", false, 0ms);
  EXPECT_EQ(o.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(o.body, "abcdefghi");
  EXPECT_EQ(o.trailers.get("x-got-trailer"), "");
  auto raw = up.rawRequests();
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_NE(raw[0].find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(raw[0].find("9\r\nabcdefghi\r\n0\r\n\r\n"), std::string::npos);
}

TEST(Http1Pool, ConnectionLostMidBodyFailsResponseBody) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten..", true};
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto r = roundTrip(io, pool, get());
  EXPECT_EQ(r.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "only-ten..");
  EXPECT_EQ(r.bodyError, ProxyError::kUpstreamReset);
  EXPECT_EQ(pool.openConnections(), 0u);
}

TEST(Http1Pool, HeadResponseHasNoBody) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    return Reply{"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"};
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto req = get();
  req.method = "HEAD";
  auto r = roundTrip(io, pool, req);
  EXPECT_EQ(r.result.outcome, SendOutcome::kOk);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.bodyError, ProxyError::kNone);
  EXPECT_EQ(pool.idleConnections(), 1u);  // reusable: the empty body was framed correctly
}

TEST(Http1Pool, DownstreamCancelClosesTheConnection) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    Reply r = ok(std::string(64 * 1024, 'q'));
    r.delayBetweenKb = 20ms;  // slow: the cancel lands mid-body
    return r;
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto r = roundTrip(io, pool, get(), "", false, 0ms,
                     [](std::shared_ptr<Exchange> ex) { ex->cancel(ProxyError::kTimeout); });
  EXPECT_EQ(r.result.outcome, SendOutcome::kOk);
  EXPECT_LT(r.body.size(), 64u * 1024);
  EXPECT_EQ(pool.openConnections(), 0u);
  EXPECT_EQ(pool.idleConnections(), 0u);
}

// What startNow() tells: every result, in order.
struct RecordingObserver final : http::SendObserver {
  void sendDone(const SendResult& r) override { results.push_back(r); }
  std::vector<SendResult> results;
};

std::shared_ptr<Exchange> bodylessExchange(boost::asio::io_context& io, http::RequestHead req) {
  auto ex = std::make_shared<Exchange>(io.get_executor());
  ex->request = std::move(req);
  ex->requestBody.finish();
  return ex;
}

// Reads the whole response body of `ex` as a client session would, `delay`
// after the head (so a large body meets a full pipe).
std::string drainBody(boost::asio::io_context& io, const std::shared_ptr<Exchange>& ex,
                      std::chrono::milliseconds delay = 0ms, size_t* maxBuffered = nullptr) {
  std::string body;
  bool done = false;
  boost::asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        co_await ex->waitResponse();
        if (!ex->hasResponse()) co_return;
        if (delay.count()) co_await sleepFor(delay);
        size_t seen = 0;
        co_await readBody(ex->responseBody, body, seen);
        if (maxBuffered) *maxBuffered = seen;
      },
      [&](std::exception_ptr) { done = true; });
  runUntil(io, done);
  return body;
}

TEST(Http1Pool, StartsABodylessRequestOnAnIdleConnectionAndTellsItsObserverOnce) {
  FakeUpstream up([](int, int req, const http::RequestHead& h, const std::string&, const http::HeaderList&) {
    return ok("r" + std::to_string(req) + h.path);
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  auto observer = std::make_shared<RecordingObserver>();
  // No connection yet: starting now would mean waiting for a connect.
  EXPECT_FALSE(pool.canStartNow(*bodylessExchange(io, get("/can"))));
  EXPECT_FALSE(pool.startNow(bodylessExchange(io, get("/early")), observer));
  EXPECT_EQ(observer.use_count(), 1) << "refused: the observer is not kept";
  ASSERT_EQ(roundTrip(io, pool, get("/open")).result.outcome, SendOutcome::kOk);

  EXPECT_TRUE(pool.canStartNow(*bodylessExchange(io, get("/can"))));
  auto ex = bodylessExchange(io, get("/now"));
  ASSERT_TRUE(pool.startNow(ex, observer)) << "an idle connection: started now";
  EXPECT_TRUE(observer->results.empty()) << "told when the response is over, never from startNow()";
  EXPECT_EQ(pool.idleConnections(), 0u) << "the connection carries the request";
  EXPECT_EQ(drainBody(io, ex), "r1/now");
  for (int i = 0; i < 100 && observer->results.empty(); ++i) runFor(io, 10ms);
  ASSERT_EQ(observer->results.size(), 1u);
  EXPECT_EQ(observer->results[0].outcome, SendOutcome::kOk);
  EXPECT_EQ(ex->response.status, 200);
  EXPECT_EQ(up.accepted(), 1) << "sent on the pooled connection";
  EXPECT_EQ(pool.idleConnections(), 1u) << "idle again once the response ended";
  runFor(io, 50ms);
  EXPECT_EQ(observer->results.size(), 1u) << "told once";
  auto raw = up.rawRequests();
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[1], "GET /now HTTP/1.1\r\nHost: up.test\r\n\r\n");
}

TEST(Http1Pool, OnlyBodylessRequestsOnAnIdleConnectionStartNow) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) { return ok(); });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  ASSERT_EQ(roundTrip(io, pool, get()).result.outcome, SendOutcome::kOk);
  ASSERT_EQ(pool.idleConnections(), 1u);
  auto observer = std::make_shared<RecordingObserver>();

  auto post = get("/p");
  post.method = "POST";
  post.contentLength = 4;
  post.hasBody = true;
  EXPECT_FALSE(pool.canStartNow(*bodylessExchange(io, post))) << "a body races the response: the coroutine's";
  EXPECT_FALSE(pool.startNow(bodylessExchange(io, post), observer));
  auto chunked = get("/c");
  chunked.method = "POST";
  chunked.hasBody = true;
  EXPECT_FALSE(pool.canStartNow(*bodylessExchange(io, chunked)));
  auto upgrade = get("/ws");
  upgrade.upgrade = true;
  EXPECT_FALSE(pool.canStartNow(*bodylessExchange(io, upgrade))) << "an upgrade needs a fresh connection";
  auto cancelled = bodylessExchange(io, get("/gone"));
  cancelled->cancel(ProxyError::kDownstreamReset);
  EXPECT_FALSE(pool.canStartNow(*cancelled));
  EXPECT_EQ(pool.idleConnections(), 1u) << "nothing was taken";
  EXPECT_TRUE(pool.canStartNow(*bodylessExchange(io, get("/fine"))));

  pool.drain();
  EXPECT_FALSE(pool.canStartNow(*bodylessExchange(io, get("/drained"))));
  EXPECT_FALSE(pool.startNow(bodylessExchange(io, get("/drained")), observer));
  EXPECT_EQ(observer.use_count(), 1);
}

TEST(Http1Pool, StartedRequestOnAConnectionTheServerClosedIsNotProcessed) {
  FakeUpstream up([](int conn, int req, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    if (conn == 0 && req == 1) return Reply{"", true};  // read the request, then drop the connection
    return ok();
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  ASSERT_EQ(roundTrip(io, pool, get()).result.outcome, SendOutcome::kOk);
  auto observer = std::make_shared<RecordingObserver>();
  auto ex = bodylessExchange(io, get("/second"));
  ASSERT_TRUE(pool.startNow(ex, observer));
  for (int i = 0; i < 300 && observer->results.empty(); ++i) runFor(io, 10ms);
  ASSERT_EQ(observer->results.size(), 1u);
  EXPECT_EQ(observer->results[0].outcome, SendOutcome::kNotProcessed) << "reused, no response byte: safe to retry";
  EXPECT_FALSE(ex->hasResponse());
  EXPECT_EQ(pool.openConnections(), 0u);
}

TEST(Http1Pool, StartedRequestRespectsPipeHighWaterAndFinishesWithoutItsPool) {
  constexpr size_t kSize = 1024 * 1024;
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    return ok(std::string(kSize, 'z'));
  });
  boost::asio::io_context io;
  auto pool = std::make_unique<Http1Pool>(io.get_executor(), up.endpoint, opts());
  ASSERT_EQ(roundTrip(io, *pool, get()).result.outcome, SendOutcome::kOk);
  auto observer = std::make_shared<RecordingObserver>();
  auto ex = bodylessExchange(io, get("/big"));
  ASSERT_TRUE(pool->startNow(ex, observer));
  pool.reset();  // an endpoint removed while its request is out: the connection finishes it
  size_t maxBuffered = 0;
  auto body = drainBody(io, ex, 200ms, &maxBuffered);
  EXPECT_EQ(body.size(), kSize);
  EXPECT_GT(maxBuffered, 0u);
  EXPECT_LE(maxBuffered, 64u * 1024) << "reads wait for room in the pipe";
  for (int i = 0; i < 100 && observer->results.empty(); ++i) runFor(io, 10ms);
  ASSERT_EQ(observer->results.size(), 1u);
  EXPECT_EQ(observer->results[0].outcome, SendOutcome::kOk);
  EXPECT_EQ(ex->responseBody.error(), ProxyError::kNone);
}

TEST(Http1Pool, StartedRequestCancelledWhileThePipeIsFullEnds) {
  FakeUpstream up([](int, int, const http::RequestHead&, const std::string&, const http::HeaderList&) {
    return ok(std::string(1024 * 1024, 'z'));
  });
  boost::asio::io_context io;
  Http1Pool pool(io.get_executor(), up.endpoint, opts());
  ASSERT_EQ(roundTrip(io, pool, get()).result.outcome, SendOutcome::kOk);
  auto observer = std::make_shared<RecordingObserver>();
  auto ex = bodylessExchange(io, get("/big"));
  ASSERT_TRUE(pool.startNow(ex, observer));
  runFor(io, 200ms);  // nobody reads: the pipe fills and the connection waits for room
  EXPECT_GE(ex->responseBody.buffered(), ex->responseBody.highWater());
  EXPECT_TRUE(observer->results.empty());
  ex->cancel(ProxyError::kTimeout);
  for (int i = 0; i < 100 && observer->results.empty(); ++i) runFor(io, 10ms);
  ASSERT_EQ(observer->results.size(), 1u);
  EXPECT_EQ(observer->results[0].outcome, SendOutcome::kOk) << "the response had started";
  EXPECT_EQ(ex->responseBody.error(), ProxyError::kTimeout);
  EXPECT_EQ(pool.openConnections(), 0u) << "mid-body: never reused";
}

}  // namespace
}  // namespace weft::upstream
