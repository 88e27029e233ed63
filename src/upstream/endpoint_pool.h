#pragma once
// Connections to one upstream endpoint, owned by one worker (DESIGN.md §3).
// Two implementations: Http1Pool (keep-alive pool) and Http2Pool (one
// multiplexed connection, replaced on GOAWAY or stream exhaustion).
//
// send() forwards one exchange and completes when the exchange is over (the
// response body fully relayed, or failed). It never synthesizes a response
// itself; instead its result tells the caller (the proxy's forwarder) what
// happened so that retry and error mapping are decided in one place:
//   kOk            — a response was started (exchange.responseStarted() was
//                    called); the body ended by finish() or fail().
//   kNotProcessed  — the upstream certainly did not process the request
//                    (reused HTTP/1 connection closed before any response byte,
//                    HTTP/2 GOAWAY above last-stream-id, REFUSED_STREAM).
//                    Nothing was sent downstream; safe to retry once on a fresh
//                    connection (fresh=true) after requestBody.rewind().
//   kFailed        — failed before any response head; `error` says why
//                    (connect-failed, connect-timeout, upstream-reset, ...).
//                    Nothing was sent downstream.
//   kRetryableResponse — exchange.mayRetryResponse was set and the upstream
//                    answered with a head exchange.isRetryableResponse()
//                    accepts; the response was discarded, nothing was sent
//                    downstream, and the upstream may have processed the
//                    request (the caller retries only within its budget).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/proxy_error.h"
#include "http/session/exchange.h"
#include "http/session/send_result.h"

namespace weft::upstream {

struct PoolOptions {
  std::string cluster;  // metric label
  std::chrono::milliseconds connectTimeout{1000};
  std::chrono::milliseconds idleTimeout{3000};
  std::optional<uint32_t> maxRequestsPerConnection;
  uint32_t maxConcurrentStreams = 1000;
  size_t bodyBufferBytes = 64 * 1024;
  // HTTP/2 keepalive PINGs (http/session/http2_client.h); interval 0: off.
  std::chrono::milliseconds keepaliveInterval{10000};
  std::chrono::milliseconds keepaliveTimeout{5000};
  // Called on the worker after every connect attempt the pool makes, so the
  // cluster's endpoint state machine sees connect outcomes (errno 0 = ok).
  std::function<void(int connectErrno)> onConnect;
};

using http::SendOutcome;
using http::SendResult;

class EndpointPool {
 public:
  virtual ~EndpointPool() = default;
  // May suspend. `fresh`: do not reuse an existing connection.
  virtual boost::asio::awaitable<SendResult> send(std::shared_ptr<http::Exchange> exchange, bool fresh) = 0;
  // send() without a coroutine, for when it would not suspend before the
  // request is on its way: canStartNow() says whether startNow() can send
  // `exchange` now on an existing connection (the default: never). startNow() then
  // keeps `observer` until it is told, once, the result send() would have
  // returned; false (nothing kept, nothing told) means kNotProcessed.
  virtual bool canStartNow(const http::Exchange& /*exchange*/) const { return false; }
  virtual bool startNow(std::shared_ptr<http::Exchange>, std::shared_ptr<http::SendObserver>) { return false; }
  // Stop accepting sends; close idle connections; in-flight ones finish.
  virtual void drain() = 0;
  virtual size_t openConnections() const = 0;
  virtual const boost::asio::ip::tcp::endpoint& endpoint() const = 0;
};

}  // namespace weft::upstream
