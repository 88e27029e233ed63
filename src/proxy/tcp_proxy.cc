#include "proxy/tcp_proxy.h"

#include <array>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/logging.h"
#include "core/metrics.h"
#include "net/connect.h"
#include "net/read_readiness.h"

namespace weft::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Copies from -> to until EOF or error, then half-closes `to`. Every read
// refreshes `lastActivity` for the idle watchdog.
asio::awaitable<void> pump(tcp::socket& from, tcp::socket& to, std::chrono::steady_clock::time_point& lastActivity,
                           Counter& bytes) {
  std::array<char, 16 * 1024> buf;
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), kTuple);
    if (ec || n == 0) break;
    net::noteShortRead(from, buf.size(), n);
    lastActivity = std::chrono::steady_clock::now();
    bytes.inc(n);
    auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf.data(), n), kTuple);
    if (wec) break;
  }
  boost::system::error_code ignored;
  to.shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> idleWatchdog(std::chrono::steady_clock::time_point& lastActivity,
                                   std::chrono::milliseconds idle) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  for (;;) {
    t.expires_at(lastActivity + idle);
    auto [ec] = co_await t.async_wait(kTuple);
    if (ec) co_return;
    if (std::chrono::steady_clock::now() >= lastActivity + idle) co_return;
  }
}

}  // namespace

asio::awaitable<void> proxyTcp(tcp::socket client, std::string prefix, tcp::endpoint target,
                               TcpProxyOptions options) {
  auto dirLabel = labelPair("direction", options.direction);
  auto conn = co_await net::connectWithDeadline(target, options.connectTimeout);
  if (conn.error) {
    threadCounter("weft_tcp_connect_failures_total", "Opaque TCP connections whose target connect failed", dirLabel)
        .inc();
    WEFT_LOG_DEBUG("tcp {}: connect to {} failed: {}", options.direction, target.address().to_string(),
                   conn.error.message());
    co_return;
  }
  tcp::socket upstream = std::move(conn.socket);
  if (!prefix.empty()) {
    auto [ec, n] = co_await asio::async_write(upstream, asio::buffer(prefix), kTuple);
    if (ec) co_return;
  }
  auto& toUpstream = threadCounter("weft_tcp_bytes_total", "Opaque TCP bytes relayed",
                                   labels({dirLabel, labelPair("way", "to_upstream")}));
  auto& toClient = threadCounter("weft_tcp_bytes_total", "Opaque TCP bytes relayed",
                                 labels({dirLabel, labelPair("way", "to_client")}));
  toUpstream.inc(prefix.size());
  auto lastActivity = std::chrono::steady_clock::now();
  // Both directions run until both have ended (half-close keeps the other
  // one open); the watchdog ends everything after idleTimeout of silence.
  co_await ((pump(client, upstream, lastActivity, toUpstream) && pump(upstream, client, lastActivity, toClient)) ||
            idleWatchdog(lastActivity, options.idleTimeout));
  boost::system::error_code ignored;
  client.close(ignored);
  upstream.close(ignored);
}

}  // namespace weft::proxy
