#pragma once
// One proxied request/response, shared by the server session that received the
// request (downstream) and the code that forwards it (upstream). Lives on one
// worker thread; held by std::shared_ptr because both sides may outlive the
// other (a client reset, an upstream that keeps sending).
//
// Protocol of use:
//   downstream: fills `request`, pushes the request body into `requestBody`,
//               waits waitResponse() (or is told through a ResponseObserver),
//               then sends `response` and drains `responseBody` (its
//               trailers or failure included).
//   upstream:   reads `request` / `requestBody`, and exactly once either
//               fills `response` and calls responseStarted(), or calls
//               failBeforeResponse(error) so downstream synthesizes the error
//               response. After responseStarted() it pushes the body into
//               `responseBody` and ends it with finish() or fail().
//   either:     cancel(error) when its peer is gone or a deadline passed; the
//               other side sees both pipes ended and onCancel runs.
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "core/proxy_error.h"
#include "core/turn_clock.h"
#include "http/codec/message.h"
#include "http/session/body_pipe.h"

namespace weft::http {

// A downstream that is not a coroutine (an HTTP/2 server stream) is told
// here, instead of waiting in waitResponse(), when the exchange stops waiting
// for its response: once, synchronously, from whichever call ended the wait
// (responseStarted(), failBeforeResponse() or cancel()), usually inside the
// upstream connection's own codec callback. A coroutine per stream to wait
// for this cost ~10 % of an h2c request's instructions (docs/benchmarks.md).
class ResponseObserver {
 public:
  virtual void responseReady() = 0;

 protected:
  ~ResponseObserver() = default;
};

class Exchange {
 public:
  explicit Exchange(const boost::asio::any_io_executor& ex);
  explicit Exchange(boost::asio::execution_context& context);

  RequestHead request;
  BodyPipe requestBody;
  ResponseHead response;
  BodyPipe responseBody;

  // --- upstream side ---
  void responseStarted();
  void failBeforeResponse(ProxyError why);

  // --- downstream side ---
  // Until responseStarted() or failBeforeResponse() or cancel().
  boost::asio::awaitable<void> waitResponse();
  // The observer must outlive its registration: reset it (nullptr) before it
  // goes away. Called at once if the wait is already over.
  void setResponseObserver(ResponseObserver* observer);
  bool hasResponse() const { return state_ == State::kResponse; }
  // Error to synthesize when the exchange failed before a response head.
  ProxyError error() const { return error_; }

  // --- both ---
  void cancel(ProxyError why);
  bool cancelled() const { return cancelled_; }
  // Set by the upstream connection to abort its I/O for this exchange.
  std::function<void()> onCancel;

  // --- telemetry, filled as the exchange progresses ---
  // Telemetry times are the turn's (core/turn_clock.h): the read that brought the
  // request head, the read that brought the response head.
  std::chrono::steady_clock::time_point start = TurnClock::now();
  std::chrono::steady_clock::time_point responseHeadAt{};  // set by responseStarted()
  std::string endpoint;   // upstream address chosen
  std::string cluster;    // logical service
  int retries = 0;
  // HTTP/1 Upgrade: after a 101 both pipes carry raw tunnel bytes.
  bool tunnel = false;

  // --- retries (set by the forwarder per attempt) ---
  // While another attempt is possible, a response whose head
  // isRetryableResponse() is not started: the pool discards it (closing the
  // HTTP/1 connection or resetting the HTTP/2 stream) and reports
  // kRetryableResponse, so the client never sees it.
  bool mayRetryResponse = false;
  // 502, 503, 504; or a gRPC trailers-only UNAVAILABLE — and only when the
  // whole request body has arrived and can be replayed.
  bool isRetryableResponse(const ResponseHead& head) const;

 private:
  enum class State { kWaiting, kResponse, kFailed };
  // Wakes waitResponse() and the observer, if any.
  void signalResponse();

  State state_ = State::kWaiting;
  ProxyError error_ = ProxyError::kNone;
  bool cancelled_ = false;
  Notifier responseReady_;
  ResponseObserver* observer_ = nullptr;
};

// Implemented by the proxy (and by fakes in tests): forwards one exchange.
// Must end the exchange as described above on every path.
class ExchangeHandler {
 public:
  virtual ~ExchangeHandler() = default;
  // Forwards the exchange as a coroutine of its own on the exchange's worker.
  virtual boost::asio::awaitable<void> handle(std::shared_ptr<Exchange> exchange) = 0;
  // How a server session hands an exchange over: forwarding begins now,
  // inside the session's own event (a codec callback), and goes on by itself.
  // This default spawns handle() on `ex`. A handler that can forward without
  // suspending (the proxy's, when an upstream connection has room) does that
  // here instead, and no coroutine is made at all. Never throws: a handler
  // that throws, now or later in its coroutine, fails the exchange
  // (kUpstreamReset), so its client is answered.
  virtual void start(std::shared_ptr<Exchange> exchange, const boost::asio::any_io_executor& ex);

 protected:
  // Runs `coroutine` (forwarding `exchange`) on `ex`, as start() does.
  static void spawn(const boost::asio::any_io_executor& ex, boost::asio::awaitable<void> coroutine,
                    std::shared_ptr<Exchange> exchange);
  // The handler broke its contract by throwing `e`: logged, and the exchange
  // ended so the client gets an answer instead of a hung stream.
  static void failThrown(Exchange& exchange, std::exception_ptr e);
};

}  // namespace weft::http
