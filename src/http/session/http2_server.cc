#include "http/session/http2_server.h"

#include <algorithm>
#include <charconv>
#include <unordered_map>

#include "core/coarse_clock.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "http/codec/error_response.h"
#include "http/session/http2_transport.h"
#include "http/session/notifier.h"
#include "http/session/stream_table.h"
#include "net/drain.h"

namespace weft::http {

namespace asio = boost::asio;

namespace {

constexpr uint64_t kDrainPing = 0x7765667464726169;  // "weftdrai"
// Without a PING ack the final GOAWAY follows after this (one generous RTT).
constexpr std::chrono::seconds kDrainNoticeGrace{1};

Http2CodecOptions serverCodecOptions(const ServerOptions& o) {
  Http2CodecOptions c;
  c.maxConcurrentStreams = o.maxConcurrentStreams;
  c.initialWindowSize = static_cast<uint32_t>(std::clamp<size_t>(o.bodyBufferBytes, 16 * 1024, (1u << 31) - 1));
  c.maxHeaderListBytes = o.maxHeaderListBytes;
  return c;
}

class Http2ServerConnection final : public Http2Transport {
 public:
  Http2ServerConnection(asio::ip::tcp::socket socket, ExchangeHandler& handler, const ServerOptions& options)
      : Http2Transport(std::move(socket), Http2Mode::kServer, serverCodecOptions(options)),
        handler_(handler),
        options_(options),
        opened_(Clock::now()),
        lastActivity_(opened_) {}

  // Starts serving; the onEnded() callback runs when the connection is done.
  void serve(std::string prefix) {
    begin(std::move(prefix));
    if (!options_.drain) return;
    // Drain reaches the connection through a hook, not through a coroutine
    // and a timer per connection waiting for it. One accepted while the
    // worker drains starts draining at once.
    if (options_.drain->draining()) {
      if (!closed()) beginDrain();
    } else {
      options_.drain->subscribe(drainHook_, [this] {
        if (!closed()) beginDrain();
      });
    }
  }

 private:
  // A stream answers from callbacks, not from a coroutine of its own: the
  // exchange tells it when the response head (or its failure) is there, the
  // response body when a deferred DATA source has bytes again. It lives in
  // streams_ until nghttp2 closes it, and unhooks itself from the exchange
  // (which the forwarder may hold longer) when it goes.
  struct Stream final : ResponseObserver, BodyPipe::ReadableListener {
    Stream(Http2ServerConnection& connection, int32_t streamId)
        : conn(connection), id(streamId), exchange(std::make_shared<Exchange>(connection.executor())) {}
    ~Stream() { detach(); }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    void responseReady() override { conn.respond(*this); }
    void bodyReadable() override { conn.resumeBody(*this); }
    void detach() {
      exchange->setResponseObserver(nullptr);
      exchange->responseBody.listenReadable(nullptr);
      exchange->requestBody.onConsumed = nullptr;
    }

    Http2ServerConnection& conn;
    int32_t id;
    std::shared_ptr<Exchange> exchange;
    Http2HeadersKind kind = Http2HeadersKind::kRequest;
    HeaderList trailers;
    bool closed = false;
    bool responseDone = false;  // our END_STREAM (or RST) is queued
    bool deferred = false;      // the data source said "nothing yet"
    bool synthesized = false;
    std::string synthBody;
    size_t synthOffset = 0;
    HeaderList failTrailers;
    uint64_t credited = 0;  // request bytes whose window was given back
  };

  Stream* find(int32_t id) { return streams_.find(id); }

  // --- codec events ---
  void onHeadersBegin(int32_t id, Http2HeadersKind kind) override {
    if (kind == Http2HeadersKind::kRequest) {
      auto s = std::make_shared<Stream>(*this, id);
      s->exchange->request.version = Version::kHttp2;
      s->exchange->request.scheme.clear();
      // Room for a typical request's fields up front: growing 1, 2, 4, 8
      // was three reallocations per stream (docs/benchmarks.md).
      s->exchange->request.headers.reserve(kExpectedFields);
      streams_.put(id, std::move(s));
      return;
    }
    if (auto* s = find(id)) s->kind = kind;
  }

  void onPseudoHeader(int32_t id, std::string_view name, std::string_view value) override {
    auto* s = find(id);
    if (!s || s->kind != Http2HeadersKind::kRequest) return;
    auto& r = s->exchange->request;
    if (name == ":method") r.method = value;
    else if (name == ":scheme") r.scheme = value;
    else if (name == ":authority") r.authority = value;
    else if (name == ":path") r.path = value;
  }

  void onHeader(int32_t id, std::string_view name, std::string_view value) override {
    auto* s = find(id);
    if (!s) return;
    if (s->kind == Http2HeadersKind::kRequest)
      s->exchange->request.headers.add(name, value);
    else
      s->trailers.add(name, value);
  }

  void onHeadersEnd(int32_t id, bool endStream) override {
    auto* s = find(id);
    if (!s || s->kind != Http2HeadersKind::kRequest) return;
    s->kind = Http2HeadersKind::kTrailers;  // any later block on this stream is trailers
    sawRequest_ = true;
    lastRequestId_ = std::max(lastRequestId_, id);
    auto& r = s->exchange->request;
    if (r.authority.empty()) r.authority = r.headers.get("host");
    if (r.scheme.empty()) r.scheme = "http";
    r.hasBody = !endStream;
    if (auto cl = r.headers.get("content-length"); !cl.empty()) {
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
      if (ec == std::errc() && p == cl.data() + cl.size()) r.contentLength = n;
    }
    // The stream unhooks this when it goes: a raw pointer keeps the
    // std::function in its inline storage (no allocation per stream).
    s->exchange->requestBody.onConsumed = [s](size_t) { s->conn.creditRequest(*s); };
    lastActivity_ = coarseNow();
    auto exchange = s->exchange;
    handler_.start(exchange, executor());
    exchange->setResponseObserver(s);
  }

  void onData(int32_t id, std::string_view data) override {
    auto* s = find(id);
    if (!s) return;
    auto& body = s->exchange->requestBody;
    if (body.ended() || body.abandoned()) {
      // Nobody will read it: give the window back at once.
      codec_.consumeStream(id, data.size());
      kick();
      return;
    }
    body.push(data);
  }

  void onStreamEnd(int32_t id) override {
    if (auto* s = find(id)) s->exchange->requestBody.finish(std::move(s->trailers));
  }

  void onStreamClose(int32_t id, uint32_t errorCode) override {
    auto s = streams_.take(id);
    if (!s) return;
    s->closed = true;
    s->detach();
    auto& ex = *s->exchange;
    if (!s->responseDone || errorCode != h2error::kNoError) {
      ex.cancel(ProxyError::kDownstreamReset);
    } else if (!ex.requestBody.ended()) {
      ex.requestBody.fail(ProxyError::kDownstreamReset);
    }
    if (streams_.empty()) {
      lastActivity_ = coarseNow();
      if (finalGoaway_) closeAfterFlush();
      rearmTimer();
    }
  }

  void onPingAck(uint64_t opaque) override {
    if (opaque == kDrainPing) sendFinalGoaway();
  }

  void onAbuse(Http2Abuse kind, int32_t) override {
    threadCounter("weft_http2_abuse_total", "HTTP/2 peer misbehaviour detected and stopped",
                  labels({labelPair("direction", options_.direction), labelPair("kind", http2AbuseName(kind))}))
        .inc();
  }

  Http2BodyChunk readData(int32_t id, uint8_t* buf, size_t length) override {
    auto* s = find(id);
    if (!s) return {Http2BodyChunk::Kind::kReset};
    Http2BodyChunk chunk;
    if (s->synthesized) {
      size_t n = std::min(length, s->synthBody.size() - s->synthOffset);
      std::copy_n(s->synthBody.data() + s->synthOffset, n, buf);
      s->synthOffset += n;
      chunk.length = n;
      chunk.end = s->synthOffset == s->synthBody.size();
      s->responseDone = chunk.end;
      return chunk;
    }
    auto& body = s->exchange->responseBody;
    size_t n = std::min(length, body.buffered());
    if (n) {
      std::copy_n(body.data().data(), n, buf);
      body.consume(n);
    }
    chunk.length = n;
    if (body.buffered() == 0 && body.ended()) {
      if (!body.failed()) {
        chunk.end = true;
        chunk.trailers = &body.trailers();
      } else if (n == 0) {
        return failBody(*s);
      }
    } else if (n == 0) {
      s->deferred = true;
      body.listenReadable(s);
      return {Http2BodyChunk::Kind::kDeferred};
    }
    s->responseDone = chunk.end;
    return chunk;
  }

  // The response body broke after the head went out.
  Http2BodyChunk failBody(Stream& s) {
    auto error = s.exchange->responseBody.error();
    if (error == ProxyError::kDownstreamReset) return {Http2BodyChunk::Kind::kReset};
    countProxyError(error);
    s.responseDone = true;
    if (s.exchange->request.isGrpc()) {
      // UNAVAILABLE, never INTERNAL: clients retry it (incident 005).
      s.failTrailers = grpcErrorTrailers(error);
      Http2BodyChunk chunk;
      chunk.end = true;
      chunk.trailers = &s.failTrailers;
      return chunk;
    }
    return {Http2BodyChunk::Kind::kReset};
  }

  void countProxyError(ProxyError error) {
    threadCounter("weft_proxy_errors_total", "Errors the proxy answered or relayed itself",
                  labels({labelPair("direction", options_.direction), labelPair("code", proxyErrorCode(error))}))
        .inc();
  }

  void creditRequest(Stream& s) {
    if (s.closed || closed()) return;
    // totalConsumed() goes back on a rewind (retry); only first-time
    // consumption reopens the window, so the client never gets more credit
    // than what actually left the buffer.
    uint64_t consumed = s.exchange->requestBody.totalConsumed();
    if (consumed <= s.credited) return;
    codec_.consumeStream(s.id, consumed - s.credited);
    s.credited = consumed;
    kick();
  }

  // The exchange has its response head, or failed before one (it says so once).
  void respond(Stream& s) {
    if (s.closed || closed()) return;
    auto& ex = *s.exchange;
    if (!ex.hasResponse()) {
      ProxyError error = ex.error() == ProxyError::kNone ? ProxyError::kUpstreamReset : ex.error();
      countProxyError(error);
      auto synth = makeErrorResponse(ex.request, error);
      s.synthesized = true;
      s.synthBody = std::move(synth.body);
      bool withBody = synth.head.hasBody && !s.synthBody.empty();
      if (!withBody) s.responseDone = true;
      codec_.submitResponse(s.id, synth.head, withBody);
      ex.responseBody.abandon();
    } else {
      bool withBody = ex.response.hasBody;
      if (!withBody) {
        s.responseDone = true;
        ex.responseBody.abandon();
      }
      codec_.submitResponse(s.id, ex.response, withBody);
    }
    kick();
  }

  // A deferred response body has bytes again, or ended.
  void resumeBody(Stream& s) {
    if (s.closed || closed() || !s.deferred) return;
    s.deferred = false;
    codec_.resumeData(s.id);
    kick();
  }

  // --- connection lifecycle ---
  void beginDrain() {
    if (draining_) return;
    draining_ = true;
    drainStart_ = Clock::now();
    codec_.submitShutdownNotice();
    codec_.submitPing(kDrainPing);
    kick();
    rearmTimer();
  }

  void sendFinalGoaway() {
    if (finalGoaway_ || closed()) return;
    finalGoaway_ = true;
    codec_.submitGoaway(h2error::kNoError, codec_.lastProcessedStreamId());
    kick();
    if (streams_.empty()) closeAfterFlush();
  }

  // The header timeout, per header block and per connection. A header block
  // (request head or trailers) must end within headerTimeout of its first
  // byte: until it does the peer may send nothing else, so a stalled block
  // holds the whole connection. A connection must bring its first complete
  // request within headerTimeout of being accepted (nginx's
  // client_header_timeout; Envoy's request_headers_timeout). Either way the
  // connection gets GOAWAY(NO_ERROR) naming the cause and is closed: the
  // unfinished stream is above last-stream-id, so a client may retry it.
  void headerTimeout(std::string_view kind) {
    threadCounter("weft_http2_timeouts_total", "HTTP/2 connections closed by a timeout, by kind",
                  labels({labelPair("direction", options_.direction), labelPair("kind", kind)}))
        .inc();
    timedOut_ = true;
    WEFT_LOG_DEBUG("http2: {} timeout after {} ms, closing", kind, options_.headerTimeout.count());
    // nghttp2 counts a stream as processed once its HEADERS began; the
    // stalled one never reached the handler, so it stays above last-stream-id.
    codec_.submitGoaway(h2error::kNoError, lastRequestId_, kind);
    finalGoaway_ = true;
    closeAfterFlush();
  }

  Clock::time_point onTimer(Clock::time_point now) override {
    auto next = Clock::time_point::max();
    if (timedOut_) return next;
    if (headerBlockSince() != Clock::time_point::max()) {
      auto deadline = headerBlockSince() + options_.headerTimeout;
      if (now >= deadline) {
        headerTimeout("header");
        return next;
      }
      next = deadline;
    }
    if (!sawRequest_ && !finalGoaway_) {
      auto deadline = opened_ + options_.headerTimeout;
      if (now >= deadline) {
        headerTimeout("first_request");
        return Clock::time_point::max();
      }
      next = std::min(next, deadline);
    }
    if (draining_) {
      if (!finalGoaway_) {
        if (now >= drainStart_ + kDrainNoticeGrace) sendFinalGoaway();
        else next = std::min(next, drainStart_ + kDrainNoticeGrace);
      }
      auto deadline = drainStart_ + options_.drainTimeout;
      if (now >= deadline) {
        // In-flight streams had their grace period; what is left is cut.
        sendFinalGoaway();
        closeNow();
        return next;
      }
      next = std::min(next, deadline);
    } else if (streams_.empty()) {
      auto idleAt = lastActivity_ + options_.idleTimeout;
      if (now >= idleAt) {
        codec_.submitGoaway(h2error::kNoError, codec_.lastProcessedStreamId());
        finalGoaway_ = true;
        closeAfterFlush();
        return next;
      }
      next = std::min(next, idleAt);
    }
    return next;
  }

  bool hasOpenStreams() const override { return !streams_.empty(); }

  void onClosed() override {
    drainHook_.unlink();
    auto streams = streams_.takeAll();
    for (auto& [id, s] : streams) {
      s->closed = true;
      s->detach();
      s->exchange->cancel(ProxyError::kDownstreamReset);
    }
  }

  ExchangeHandler& handler_;
  const ServerOptions& options_;  // the worker's (header comment: it outlives the connection)
  StreamTable<Stream> streams_;
  Clock::time_point opened_;
  Clock::time_point lastActivity_;
  bool sawRequest_ = false;  // a complete request head arrived on this connection
  bool timedOut_ = false;
  int32_t lastRequestId_ = 0;  // highest stream whose request head was complete
  bool draining_ = false;
  bool finalGoaway_ = false;
  Clock::time_point drainStart_{};
  net::DrainSignal::Hook drainHook_;
};

// An idle connection's own memory is this object in make_shared's block
// (16 bytes of counts before it): at 1,264 bytes with them it sits in
// mimalloc's 1,280-byte class, and anything above goes to the 1,536-byte one,
// 0.25 KiB more per idle connection (docs/benchmarks.md, "Idle HTTP/2
// connections", fourth step). Growing it is a choice to make on purpose.
static_assert(sizeof(Http2ServerConnection) + 16 <= 1280,
              "Http2ServerConnection outgrew mimalloc's 1,280-byte size class");

}  // namespace

void startHttp2(asio::ip::tcp::socket socket, std::string prefix, ExchangeHandler& handler, const ServerOptions& options,
                std::function<void()> ended) {
  auto conn = std::make_shared<Http2ServerConnection>(std::move(socket), handler, options);
  conn->onEnded(std::move(ended));
  conn->serve(std::move(prefix));
}

asio::awaitable<void> serveHttp2(asio::ip::tcp::socket socket, std::string prefix, ExchangeHandler& handler,
                                 const ServerOptions& options) {
  // Shared with the connection's callback: whichever of this frame and the
  // connection the io_context's shutdown destroys first, the other's view
  // stays valid.
  struct Ended {
    explicit Ended(const asio::any_io_executor& ex) : notifier(ex) {}
    Notifier notifier;
    bool done = false;
  };
  auto ended = std::make_shared<Ended>(socket.get_executor());
  startHttp2(std::move(socket), std::move(prefix), handler, options, [ended] {
    ended->done = true;
    ended->notifier.notify();
  });
  while (!ended->done) co_await ended->notifier.wait();
}

}  // namespace weft::http
