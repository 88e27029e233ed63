#include "upstream/http2_pool.h"

#include "net/errno_name.h"
#include "upstream/connect_report.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/metrics.h"
#include "http/session/http2_client.h"
#include "net/connect.h"

namespace weft::upstream {

namespace asio = boost::asio;

struct Http2Pool::State : std::enable_shared_from_this<State> {
  State(asio::any_io_executor e, asio::ip::tcp::endpoint p, PoolOptions o)
      : ex(std::move(e)),
        ep(std::move(p)),
        options(std::move(o)),
        connectDone(ex, asio::steady_timer::time_point::max()),
        open(threadGauge("weft_open_connections", "Open connections, by direction",
                         labels({labelPair("direction", "upstream"), labelPair("cluster", options.cluster)}))) {}

  asio::any_io_executor ex;
  asio::ip::tcp::endpoint ep;
  PoolOptions options;
  std::vector<std::shared_ptr<http::Http2ClientConnection>> conns;
  bool draining = false;
  bool connecting = false;
  uint64_t connectGeneration = 0;
  SendResult lastConnect;            // outcome of the latest connect attempt
  asio::steady_timer connectDone;    // cancelled when a connect attempt ends: wakes every waiter
  Gauge& open;


  http::Http2ClientOptions clientOptions() const {
    http::Http2ClientOptions c;
    c.idleTimeout = options.idleTimeout;
    c.maxConcurrentStreams = options.maxConcurrentStreams;
    c.maxRequestsPerConnection = options.maxRequestsPerConnection;
    c.bodyBufferBytes = options.bodyBufferBytes;
    c.keepaliveInterval = options.keepaliveInterval;
    c.keepaliveTimeout = options.keepaliveTimeout;
    return c;
  }

  asio::awaitable<std::shared_ptr<http::Http2ClientConnection>> connect(SendResult& failure) {
    auto self = shared_from_this();
    connecting = true;
    auto result = co_await net::connectWithDeadline(ep, options.connectTimeout);
    connecting = false;
    ++connectGeneration;
    reportConnect(options, result.error, "pool");
    std::shared_ptr<http::Http2ClientConnection> conn;
    if (result.error) {
      bool timeout = result.error == asio::error::timed_out;
      lastConnect = {SendOutcome::kFailed, timeout ? ProxyError::kConnectTimeout : ProxyError::kConnectFailed,
                     net::errnoOf(result.error)};
      failure = lastConnect;
    } else {
      lastConnect = {};
      conn = http::Http2ClientConnection::start(std::move(result.socket), clientOptions());
      open.add(1);
      std::weak_ptr<State> weak = self;
      auto* raw = conn.get();
      conn->onClose = [weak, raw] {
        auto state = weak.lock();
        if (!state) return;
        state->open.add(-1);
        std::erase_if(state->conns, [raw](const auto& c) { return c.get() == raw; });
      };
      conns.push_back(conn);
      if (draining) conn->shutdown();
    }
    connectDone.cancel();
    co_return conn;
  }

  // An open connection that takes another stream now, if there is one.
  std::shared_ptr<http::Http2ClientConnection> usable() const {
    for (const auto& c : conns)
      if (c->acceptsStreams()) return c;
    return nullptr;
  }

  asio::awaitable<std::shared_ptr<http::Http2ClientConnection>> acquire(bool fresh, SendResult& failure) {
    auto self = shared_from_this();
    for (;;) {
      if (!fresh) {
        if (auto c = usable()) co_return c;
        if (connecting) {
          // Share the attempt in flight instead of dialing once per request.
          auto generation = connectGeneration;
          co_await connectDone.async_wait(asio::as_tuple(asio::use_awaitable));
          if (connectGeneration != generation && lastConnect.outcome == SendOutcome::kFailed) {
            failure = lastConnect;
            co_return nullptr;
          }
          continue;
        }
      }
      auto conn = co_await connect(failure);
      if (!conn || conn->acceptsStreams()) co_return conn;
      fresh = false;  // a brand-new connection that cannot take a stream: look again
    }
  }
};

Http2Pool::Http2Pool(asio::any_io_executor ex, asio::ip::tcp::endpoint ep, PoolOptions options)
    : state_(std::make_shared<State>(std::move(ex), std::move(ep), std::move(options))) {}

Http2Pool::~Http2Pool() { drain(); }

// Not a coroutine: when a connection has room (nearly always), the caller
// awaits that connection's send() itself, and the pool adds no frame.
asio::awaitable<SendResult> Http2Pool::send(std::shared_ptr<http::Exchange> exchange, bool fresh) {
  if (!fresh && !state_->draining)
    if (auto conn = state_->usable()) return conn->send(std::move(exchange));
  return connectAndSend(state_, std::move(exchange), fresh);
}

bool Http2Pool::canStartNow(const http::Exchange&) const { return !state_->draining && state_->usable(); }

bool Http2Pool::startNow(std::shared_ptr<http::Exchange> exchange, std::shared_ptr<http::SendObserver> observer) {
  auto conn = state_->draining ? nullptr : state_->usable();
  return conn && conn->start(std::move(exchange), std::move(observer));
}

asio::awaitable<SendResult> Http2Pool::connectAndSend(std::shared_ptr<State> state,
                                                      std::shared_ptr<http::Exchange> exchange, bool fresh) {
  if (state->draining) co_return SendResult{SendOutcome::kFailed, ProxyError::kShuttingDown, 0};
  SendResult failure;
  auto conn = co_await state->acquire(fresh, failure);
  if (!conn) co_return failure;
  co_return co_await conn->send(std::move(exchange));
}

void Http2Pool::drain() {
  state_->draining = true;
  auto conns = state_->conns;
  for (auto& c : conns) c->shutdown();
}

size_t Http2Pool::openConnections() const { return state_->conns.size(); }

const asio::ip::tcp::endpoint& Http2Pool::endpoint() const { return state_->ep; }

}  // namespace weft::upstream
