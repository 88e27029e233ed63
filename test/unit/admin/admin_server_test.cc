#include "admin/admin_server.h"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "core/logging.h"
#include "core/metrics.h"

namespace weft::admin {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

using Response = bhttp::response<bhttp::string_body>;

// A blocking client with a receive timeout, so a server that never answers
// fails the test instead of hanging it.
class Client {
 public:
  explicit Client(const tcp::endpoint& ep) : socket_(io_) {
    socket_.connect(ep);
    timeval tv{5, 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }

  Response request(std::string method, std::string target, std::string body = {}, unsigned version = 11,
                   bool keepAlive = true) {
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, version};
    req.set(bhttp::field::host, "127.0.0.1");
    req.keep_alive(keepAlive);
    req.body() = std::move(body);
    req.prepare_payload();
    bhttp::write(socket_, req);
    return read();
  }

  Response read() {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(16 << 20);
    bhttp::read(socket_, buffer_, parser);
    return parser.release();
  }

  void writeRaw(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes.data(), bytes.size())); }

  // True when the server closed the connection (EOF) before the receive timeout.
  bool closedByPeer() {
    char c;
    boost::system::error_code ec;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

int64_t requestCount(std::string_view path, unsigned code) {
  return MetricsRegistry::global().valueOf(
      "weft_admin_requests_total", labels({labelPair("path", path), labelPair("code", std::to_string(code))}));
}

class AdminServerTest : public ::testing::Test {
 protected:
  void startServer(AdminHooks hooks = {}, AdminOptions options = {},
                   std::function<void(AdminServer&)> configure = nullptr) {
    server_ = std::make_unique<AdminServer>(ctx_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0),
                                            std::move(hooks), std::move(options));
    if (configure) configure(*server_);
    server_->start();
    thread_ = std::thread([this] { ctx_.run(); });
  }

  tcp::endpoint endpoint() const { return server_->localEndpoint(); }

  // Stops the server on its own thread; every coroutine must then finish, or
  // run() would never return.
  bool stopAndJoin(std::chrono::milliseconds bound = 5s) {
    if (!thread_.joinable()) return true;
    asio::post(ctx_, [this] { server_->stop(); });
    auto done = std::async(std::launch::async, [this] { thread_.join(); });
    if (done.wait_for(bound) != std::future_status::ready) {
      ctx_.stop();
      done.wait();
      return false;
    }
    return true;
  }

  void TearDown() override {
    EXPECT_TRUE(stopAndJoin()) << "admin coroutines still running after stop()";
    setLogLevel("info");
  }

  asio::io_context ctx_;
  std::unique_ptr<AdminServer> server_;
  std::thread thread_;
};

TEST_F(AdminServerTest, LiveAnswers200) {
  startServer();
  Client c(endpoint());
  auto res = c.request("GET", "/live");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "live");
}

TEST_F(AdminServerTest, ReadyFollowsTheHook) {
  std::atomic<bool> ready{false};
  AdminHooks hooks;
  hooks.ready = [&] { return ready.load(); };
  startServer(hooks);
  Client c(endpoint());
  auto res = c.request("GET", "/ready");
  EXPECT_EQ(res.result_int(), 503);
  EXPECT_EQ(res.body(), "not ready");
  ready = true;
  res = c.request("GET", "/ready");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "ready");
}

TEST_F(AdminServerTest, MetricsRendersTheGlobalRegistry) {
  auto& counter = MetricsRegistry::global().counter("weft_admin_test_marker_total", "test marker");
  counter.inc(7);
  startServer();
  Client c(endpoint());
  auto res = c.request("GET", "/metrics");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[bhttp::field::content_type], "text/plain; version=0.0.4");
  auto expected = "weft_admin_test_marker_total " +
                  std::to_string(MetricsRegistry::global().valueOf("weft_admin_test_marker_total")) + "\n";
  EXPECT_GE(MetricsRegistry::global().valueOf("weft_admin_test_marker_total"), 7);
  EXPECT_NE(res.body().find(expected), std::string::npos) << res.body();
}

TEST_F(AdminServerTest, RequestsAreCountedWithLowCardinalityPaths) {
  startServer();
  auto live0 = requestCount("/live", 200);
  auto other0 = requestCount("other", 404);
  auto method0 = requestCount("/live", 405);
  Client c(endpoint());
  c.request("GET", "/live");
  c.request("GET", "/live");
  c.request("GET", "/no-such-path-1");
  c.request("GET", "/no-such-path-2?x=1");
  c.request("DELETE", "/live");
  EXPECT_EQ(requestCount("/live", 200) - live0, 2);
  EXPECT_EQ(requestCount("other", 404) - other0, 2);
  EXPECT_EQ(requestCount("/live", 405) - method0, 1);
  EXPECT_EQ(requestCount("/no-such-path-1", 404), 0);
}

TEST_F(AdminServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  AdminHooks hooks;
  hooks.shutdown = [] {};
  startServer(hooks);
  Client c(endpoint());
  EXPECT_EQ(c.request("GET", "/nope").result_int(), 404);
  auto res = c.request("POST", "/live");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[bhttp::field::allow], "GET");
  res = c.request("DELETE", "/proxy-log-level");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[bhttp::field::allow], "GET, PUT");
  res = c.request("GET", "/shutdown");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[bhttp::field::allow], "POST");
}

TEST_F(AdminServerTest, LogLevelCanBeReadAndSet) {
  setLogLevel("info");
  startServer();
  Client c(endpoint());
  auto res = c.request("GET", "/proxy-log-level");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "info");

  res = c.request("PUT", "/proxy-log-level", "debug\n");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "debug");
  EXPECT_EQ(logLevel(), "debug");
  EXPECT_EQ(c.request("GET", "/proxy-log-level").body(), "debug");

  res = c.request("PUT", "/proxy-log-level", "verbose");
  EXPECT_EQ(res.result_int(), 400);
  EXPECT_EQ(logLevel(), "debug");
}

TEST_F(AdminServerTest, StateChangesAreForbiddenToUnprivilegedPeers) {
  setLogLevel("info");
  std::atomic<int> shutdowns{0};
  AdminHooks hooks;
  hooks.shutdown = [&] { ++shutdowns; };
  AdminOptions options;
  options.privilegedPeer = [](const asio::ip::address&) { return false; };
  startServer(hooks, options);
  Client c(endpoint());
  EXPECT_EQ(c.request("PUT", "/proxy-log-level", "trace").result_int(), 403);
  EXPECT_EQ(logLevel(), "info");
  EXPECT_EQ(c.request("POST", "/shutdown").result_int(), 403);
  // Reads stay open to everyone.
  EXPECT_EQ(c.request("GET", "/proxy-log-level").result_int(), 200);
  EXPECT_TRUE(stopAndJoin());
  EXPECT_EQ(shutdowns.load(), 0);
}

TEST_F(AdminServerTest, ShutdownAnswers202ThenCallsTheHook) {
  std::promise<void> called;
  AdminHooks hooks;
  hooks.shutdown = [&] { called.set_value(); };
  startServer(hooks);
  Client c(endpoint());
  auto res = c.request("POST", "/shutdown");
  EXPECT_EQ(res.result_int(), 202);
  EXPECT_EQ(called.get_future().wait_for(5s), std::future_status::ready);
}

TEST_F(AdminServerTest, ShutdownWithoutHookIsNotARoute) {
  startServer();
  Client c(endpoint());
  EXPECT_EQ(c.request("POST", "/shutdown").result_int(), 404);
}

TEST_F(AdminServerTest, DebugEndpointsPassesTheDecodedCluster) {
  std::vector<std::string> seen;  // only touched on the admin thread, read after join
  AdminHooks hooks;
  hooks.endpointsJson = [&](std::string_view cluster) -> std::string {
    seen.emplace_back(cluster);
    if (cluster == "missing:80") return {};
    return R"({"clusters":[]})";
  };
  startServer(hooks);
  Client c(endpoint());
  auto res = c.request("GET", "/debug/endpoints");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(res.body(), R"({"clusters":[]})");
  EXPECT_EQ(c.request("GET", "/debug/endpoints?cluster=api.test%3A80").result_int(), 200);
  EXPECT_EQ(c.request("GET", "/debug/endpoints?x=1&cluster=missing:80").result_int(), 404);
  EXPECT_EQ(c.request("GET", "/debug/endpoints?cluster=bad%zz").result_int(), 400);
  ASSERT_TRUE(stopAndJoin());
  EXPECT_EQ(seen, (std::vector<std::string>{"", "api.test:80", "missing:80"}));
}

TEST_F(AdminServerTest, DebugEndpointsWithoutHookIs404) {
  startServer();
  Client c(endpoint());
  EXPECT_EQ(c.request("GET", "/debug/endpoints").result_int(), 404);
}

TEST_F(AdminServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  startServer();
  Client c(endpoint());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(c.request("GET", "/live").result_int(), 200) << i;
}

TEST_F(AdminServerTest, ConnectionCloseIsHonoured) {
  startServer();
  Client c(endpoint());
  auto res = c.request("GET", "/live", {}, 10, false);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.closedByPeer());
}

TEST_F(AdminServerTest, OversizedBodyIs413AndClosed) {
  AdminOptions options;
  options.maxBodyBytes = 1024;
  startServer({}, options);
  Client c(endpoint());
  auto res = c.request("PUT", "/proxy-log-level", std::string(4096, 'x'));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_TRUE(c.closedByPeer());
}

TEST_F(AdminServerTest, OversizedHeaderIs431) {
  AdminOptions options;
  options.maxHeaderBytes = 1024;
  startServer({}, options);
  Client c(endpoint());
  c.writeRaw("GET /live HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
  EXPECT_EQ(c.read().result_int(), 431);
}

TEST_F(AdminServerTest, GarbageIs400) {
  startServer();
  Client c(endpoint());
  c.writeRaw("NOT AN HTTP REQUEST\r\n\r\n");
  EXPECT_EQ(c.read().result_int(), 400);
  EXPECT_TRUE(c.closedByPeer());
}

TEST_F(AdminServerTest, IdleConnectionIsClosedAfterTheReadTimeout) {
  AdminOptions options;
  options.readTimeout = 200ms;
  startServer({}, options);
  Client c(endpoint());
  auto t0 = std::chrono::steady_clock::now();
  c.writeRaw("GET /live HTTP/1.1\r\n");  // never finished
  EXPECT_TRUE(c.closedByPeer());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(AdminServerTest, StopClosesOpenConnectionsAndTheListener) {
  startServer();
  auto ep = endpoint();
  Client idle(ep);
  EXPECT_EQ(idle.request("GET", "/live").result_int(), 200);
  ASSERT_TRUE(stopAndJoin());
  EXPECT_TRUE(idle.closedByPeer());
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(ep, ec);
  EXPECT_EQ(ec, asio::error::connection_refused);
}

TEST_F(AdminServerTest, ConnectionsBeyondTheLimitAreClosed) {
  AdminOptions options;
  options.maxConnections = 1;
  startServer({}, options);
  Client first(endpoint());
  ASSERT_EQ(first.request("GET", "/live").result_int(), 200);  // registered by now
  Client second(endpoint());
  EXPECT_TRUE(second.closedByPeer());
  EXPECT_EQ(first.request("GET", "/live").result_int(), 200);
}

TEST_F(AdminServerTest, BindingABusyPortThrows) {
  startServer();
  asio::io_context other;
  EXPECT_THROW(AdminServer(other, endpoint(), {}), boost::system::system_error);
}

TEST_F(AdminServerTest, RegisteredRoutesAndThrowingHandlers) {
  startServer({}, {}, [](AdminServer& s) {
    s.registerRoute("GET", "/custom", [](const AdminRequest& r) {
      AdminResponse res;
      res.body = std::string(r.query);
      res.headers.emplace_back("X-Test", "1");
      return res;
    });
    s.registerRoute("GET", "/boom", [](const AdminRequest&) -> AdminResponse { throw std::runtime_error("boom"); });
  });
  Client c(endpoint());
  auto res = c.request("GET", "/custom?a=b");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "a=b");
  EXPECT_EQ(res["X-Test"], "1");
  EXPECT_EQ(c.request("GET", "/boom").result_int(), 500);
  EXPECT_EQ(c.request("GET", "/live").result_int(), 200);  // the connection survives
}

TEST_F(AdminServerTest, StreamRouteSendsChunkedBody) {
  startServer({}, {}, [](AdminServer& s) {
    s.registerStreamRoute("GET", "/tap", [](const AdminRequest&, AdminStream& out) -> asio::awaitable<void> {
      if (!co_await out.begin(200, "application/x-ndjson")) co_return;
      for (int i = 0; i < 3; ++i)
        if (!co_await out.write("{\"n\":" + std::to_string(i) + "}\n")) co_return;
      co_await out.finish();
    });
  });
  Client c(endpoint());
  auto res = c.request("GET", "/tap");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_TRUE(res.chunked());
  EXPECT_EQ(res[bhttp::field::content_type], "application/x-ndjson");
  EXPECT_EQ(res.body(), "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
}

TEST_F(AdminServerTest, StopEndsAnEndlessStream) {
  std::atomic<int> writes{0};
  startServer({}, {}, [&](AdminServer& s) {
    s.registerStreamRoute("GET", "/tap", [&](const AdminRequest&, AdminStream& out) -> asio::awaitable<void> {
      if (!co_await out.begin(200, "application/x-ndjson")) co_return;
      asio::steady_timer t(co_await asio::this_coro::executor);
      while (out.open()) {
        if (!co_await out.write("{}\n")) break;
        ++writes;
        t.expires_after(5ms);
        co_await t.async_wait(asio::use_awaitable);
      }
    });
  });
  Client c(endpoint());
  c.writeRaw("GET /tap HTTP/1.1\r\nHost: x\r\n\r\n");
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (writes < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_GE(writes.load(), 3);
  EXPECT_TRUE(stopAndJoin());
}

TEST_F(AdminServerTest, StreamHandlerThatSendsNothingGets500) {
  startServer({}, {}, [](AdminServer& s) {
    s.registerStreamRoute("GET", "/tap", [](const AdminRequest&, AdminStream&) -> asio::awaitable<void> { co_return; });
  });
  Client c(endpoint());
  EXPECT_EQ(c.request("GET", "/tap").result_int(), 500);
}

TEST(AdminHelpers, IsLoopback) {
  using asio::ip::make_address;
  EXPECT_TRUE(isLoopback(make_address("127.0.0.1")));
  EXPECT_TRUE(isLoopback(make_address("127.3.2.1")));
  EXPECT_TRUE(isLoopback(make_address("::1")));
  EXPECT_TRUE(isLoopback(make_address("::ffff:127.0.0.1")));
  EXPECT_FALSE(isLoopback(make_address("10.0.0.1")));
  EXPECT_FALSE(isLoopback(make_address("::ffff:10.0.0.1")));
  EXPECT_FALSE(isLoopback(make_address("2001:db8::1")));
  EXPECT_FALSE(isLoopback(make_address("0.0.0.0")));
}

TEST(AdminHelpers, QueryParam) {
  EXPECT_EQ(queryParam("cluster=a.b%3A80", "cluster"), "a.b:80");
  EXPECT_EQ(queryParam("x=1&cluster=a+b&y", "cluster"), "a b");
  EXPECT_EQ(queryParam("cluster", "cluster"), "");
  EXPECT_EQ(queryParam("clusterx=1", "cluster"), std::nullopt);
  EXPECT_EQ(queryParam("", "cluster"), std::nullopt);
  EXPECT_EQ(queryParam("cluster=%4", "cluster"), std::nullopt);
  EXPECT_EQ(queryParam("cluster=%g0", "cluster"), std::nullopt);
  EXPECT_EQ(queryParam("a=1&cluster=%41", "cluster"), "A");
}

}  // namespace
}  // namespace weft::admin
