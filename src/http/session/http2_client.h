#pragma once
// One upstream HTTP/2 connection (h2c, prior knowledge) multiplexing many
// exchanges; the building block of upstream::Http2Pool.
//
// start() (send() for a coroutine) opens one stream for an exchange: request
// head (lowercased, no connection-specific fields), then requestBody as DATA
// (pulled only as the upstream's window allows; its consumption reopens the
// downstream window), then its trailers. The response head (1xx skipped) fills
// exchange->response and calls responseStarted(); DATA goes into
// responseBody and the upstream's stream window is reopened only as
// responseBody is drained; trailers finish it untouched.
//
// Outcomes (see upstream/endpoint_pool.h):
//   kOk           — the head arrived; a later reset or connection loss ends
//                   responseBody with fail(kUpstreamReset).
//   kNotProcessed — REFUSED_STREAM, a GOAWAY whose last-stream-id is below the
//                   stream, or the request never left this process; the
//                   exchange is untouched and may be retried.
//   kFailed       — reset or connection lost after the request was sent and
//                   before a head (kUpstreamReset, kUpstreamProtocol).
// exchange->onCancel resets just that stream (CANCEL).
//
// Keepalive: a PING goes out when requests wait for their response heads
// and nothing arrived from the upstream for keepaliveInterval (once per
// batch of such requests: after an answered PING, only a new request arms
// the next one), and on open streams when nothing at all arrived for
// max(keepaliveInterval, 5 min). If nothing arrives within keepaliveTimeout
// of the PING, the peer is taken for dead (a blackholed address sends no
// RST): the connection is closed — its streams fail with kUpstreamReset,
// the pool dials a new one — and counted in
// weft_http2_timeouts_total{direction,kind="keepalive"}. Probing only what
// waits (and quiet streams at most every 5 minutes) keeps us within gRPC
// servers' default ping policy (5 min between PINGs without data, GOAWAY
// "too_many_pings" after 2 strikes), so long calls are never cut by it.
//
// Thread: one worker. Lifetime: shared_ptr; start() spawns the connection's
// coroutines, which keep it alive until the socket is closed.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/session/exchange.h"
#include "http/session/http2_transport.h"
#include "http/session/send_result.h"
#include "http/session/stream_table.h"

namespace weft::http {

struct Http2ClientOptions {
  std::string direction = "upstream";  // metric label
  std::chrono::milliseconds idleTimeout{3000};
  uint32_t maxConcurrentStreams = 1000;  // our cap; the upstream's SETTINGS may lower it
  std::optional<uint32_t> maxRequestsPerConnection;
  size_t bodyBufferBytes = 64 * 1024;  // stream window we advertise: response buffering per stream
  uint32_t maxHeaderListBytes = 256 * 1024;
  // Keepalive (see the class comment); an interval of 0 disables it.
  std::chrono::milliseconds keepaliveInterval{10000};
  std::chrono::milliseconds keepaliveTimeout{5000};
};

class Http2ClientConnection final : public Http2Transport {
 public:
  Http2ClientConnection(boost::asio::ip::tcp::socket socket, Http2ClientOptions options);
  // Creates the connection and spawns its coroutines (preface + SETTINGS go
  // out at once).
  static std::shared_ptr<Http2ClientConnection> start(boost::asio::ip::tcp::socket socket,
                                                      Http2ClientOptions options);

  // A new stream can be opened now (not closed, no GOAWAY, under the
  // concurrency limit, stream ids left, under maxRequestsPerConnection).
  bool acceptsStreams() const;
  // No stream will ever be opened here again.
  bool retired() const;
  size_t activeStreams() const { return streams_.size(); }
  // Opens a stream for the exchange now, without waiting: `observer` is kept
  // until it is told, once, how the stream ended (the outcomes above), from a
  // handler posted when it ended. False (nothing kept, nothing told): no
  // stream could be opened, kNotProcessed.
  bool start(std::shared_ptr<Exchange> exchange, std::shared_ptr<SendObserver> observer);
  // start() for a coroutine: suspends until the stream is over.
  boost::asio::awaitable<SendResult> send(std::shared_ptr<Exchange> exchange);
  // No new streams; GOAWAY and close once the open ones are done.
  void shutdown();

  // Runs once, when the socket closes (pool bookkeeping).
  std::function<void()> onClose;

 private:
  struct Stream;
  struct Waiter;
  std::shared_ptr<Http2ClientConnection> self();
  Stream* find(int32_t id);
  void finishStream(const std::shared_ptr<Stream>& s, uint32_t errorCode);
  void cancelStream(Stream& s);  // the exchange was cancelled: RST_STREAM(CANCEL) unless it ended
  void creditResponse(int32_t id);
  void resumeRequestBody(Stream& s);  // a deferred request body has bytes again
  void tellLater(std::shared_ptr<SendObserver> observer, const SendResult& result);
  void retireIfIdle();

  void onHeadersBegin(int32_t id, Http2HeadersKind kind) override;
  void onPseudoHeader(int32_t id, std::string_view name, std::string_view value) override;
  void onHeader(int32_t id, std::string_view name, std::string_view value) override;
  void onHeadersEnd(int32_t id, bool endStream) override;
  void onData(int32_t id, std::string_view data) override;
  void onStreamEnd(int32_t id) override;
  void onStreamClose(int32_t id, uint32_t errorCode) override;
  void onGoaway(int32_t lastStreamId, uint32_t errorCode, std::string_view debug) override;
  void onAbuse(Http2Abuse kind, int32_t id) override;
  void onRequestSent(int32_t id) override;
  void onRequestNotSent(int32_t id) override;
  Http2BodyChunk readData(int32_t id, uint8_t* buf, size_t length) override;
  Clock::time_point onTimer(Clock::time_point now) override;
  bool hasOpenStreams() const override { return !streams_.empty(); }
  Clock::time_point keepalive(Clock::time_point now);
  void onClosed() override;

  Http2ClientOptions options_;
  StreamTable<Stream> streams_;
  // Observers of streams that ended, told by one posted handler (tellLater),
  // and those it is telling.
  std::vector<std::pair<std::shared_ptr<SendObserver>, SendResult>> toTell_, telling_;
  uint64_t requestsStarted_ = 0;
  bool goaway_ = false;
  bool shuttingDown_ = false;
  bool goawaySent_ = false;
  Clock::time_point lastActivity_;
  Clock::time_point pingDeadline_ = Clock::time_point::max();  // a keepalive PING is unanswered until then
  Clock::time_point pingSentAt_{};
  Clock::time_point pingAnsweredAt_{};   // the peer last answered a keepalive PING (any frame counts)
  Clock::time_point lastRequestSentAt_{};  // first request sent since then
};

}  // namespace weft::http
