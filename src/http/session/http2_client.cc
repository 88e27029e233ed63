#include "http/session/http2_client.h"

#include <algorithm>
#include <charconv>

#include <boost/asio/post.hpp>

#include "core/coarse_clock.h"
#include "core/logging.h"
#include "core/metrics.h"
#include "core/turn_clock.h"

namespace weft::http {

namespace asio = boost::asio;

namespace {
// Stop opening streams well before the 31-bit id space ends; the pool then
// opens a fresh connection.
constexpr uint32_t kLastUsableStreamId = (1u << 31) - 1 - 2 * 1024;
// gRPC servers (C core, Go) accept a PING without data no more often than
// this by default; a quiet stream is checked at this pace at most.
constexpr std::chrono::minutes kQuietKeepaliveInterval{5};
constexpr uint64_t kKeepalivePing = 0x7765667470696e67;  // "weftping"

Http2CodecOptions clientCodecOptions(const Http2ClientOptions& o) {
  Http2CodecOptions c;
  c.maxConcurrentStreams = o.maxConcurrentStreams;
  c.initialWindowSize = static_cast<uint32_t>(std::clamp<size_t>(o.bodyBufferBytes, 16 * 1024, (1u << 31) - 1));
  c.maxHeaderListBytes = o.maxHeaderListBytes;
  return c;
}

std::optional<uint64_t> parseLength(std::string_view v) {
  if (v.empty()) return std::nullopt;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
  return n;
}
}  // namespace

struct Http2ClientConnection::Stream final : BodyPipe::ReadableListener {
  Stream(Http2ClientConnection& connection, std::shared_ptr<Exchange> ex, std::shared_ptr<SendObserver> obs)
      : conn(connection), exchange(std::move(ex)), observer(std::move(obs)) {}
  // A finished stream let go of the exchange's hooks already, which may by
  // now be a retry's on another connection.
  ~Stream() {
    if (!done) detach();
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The request body source has bytes (or ended) again.
  void bodyReadable() override { conn.resumeRequestBody(*this); }
  // The exchange's hooks name this stream by raw pointer (inline in the
  // std::function, no allocation); they go when the stream is over, or with
  // it if the connection goes first.
  void detach() {
    exchange->onCancel = nullptr;
    exchange->responseBody.onConsumed = nullptr;
    exchange->requestBody.listenReadable(nullptr);
  }

  Http2ClientConnection& conn;  // owns the stream (streams_)
  int32_t id = 0;
  std::shared_ptr<Exchange> exchange;
  std::shared_ptr<SendObserver> observer;  // told once, when the stream is over
  bool sent = false;             // our HEADERS left for the socket
  bool responseStarted = false;  // a final head arrived
  bool retryable = false;        // the head was discarded for a retry (Exchange::mayRetryResponse)
  bool inTrailers = false;
  bool done = false;
  bool deferred = false;  // the request body source said "nothing yet"
  int status = 0;
  ResponseHead head;
  HeaderList trailers;
  ProxyError streamError = ProxyError::kNone;
  uint64_t credited = 0;
};

// send()'s observer: a coroutine waits for it.
struct Http2ClientConnection::Waiter final : SendObserver {
  explicit Waiter(asio::execution_context& context) : wake(context) {}
  void sendDone(const SendResult& r) override {
    result = r;
    wake.notify();
  }
  std::optional<SendResult> result;
  Notifier wake;
};

Http2ClientConnection::Http2ClientConnection(asio::ip::tcp::socket socket, Http2ClientOptions options)
    : Http2Transport(std::move(socket), Http2Mode::kClient, clientCodecOptions(options)),
      options_(std::move(options)),
      lastActivity_(Clock::now()) {}

std::shared_ptr<Http2ClientConnection> Http2ClientConnection::start(asio::ip::tcp::socket socket,
                                                                    Http2ClientOptions options) {
  auto conn = std::make_shared<Http2ClientConnection>(std::move(socket), std::move(options));
  conn->begin({});
  return conn;
}

std::shared_ptr<Http2ClientConnection> Http2ClientConnection::self() {
  return std::static_pointer_cast<Http2ClientConnection>(shared_from_this());
}

Http2ClientConnection::Stream* Http2ClientConnection::find(int32_t id) { return streams_.find(id); }

bool Http2ClientConnection::retired() const {
  return closed() || goaway_ || shuttingDown_ || codec_.failed() || codec_.nextStreamId() > kLastUsableStreamId ||
         (options_.maxRequestsPerConnection && requestsStarted_ >= *options_.maxRequestsPerConnection);
}

bool Http2ClientConnection::acceptsStreams() const {
  if (retired()) return false;
  uint32_t limit = std::min(options_.maxConcurrentStreams, codec_.peerMaxConcurrentStreams());
  return streams_.size() < limit;
}

bool Http2ClientConnection::start(std::shared_ptr<Exchange> exchange, std::shared_ptr<SendObserver> observer) {
  if (!acceptsStreams()) return false;
  auto& ex = *exchange;
  auto& body = ex.requestBody;
  bool withBody = ex.request.hasBody || body.buffered() > 0 || !body.trailers().empty();
  int32_t id = codec_.submitRequest(ex.request, withBody);
  if (id < 0) return false;
  auto s = std::make_shared<Stream>(*this, std::move(exchange), std::move(observer));
  s->id = id;
  Stream* raw = s.get();
  streams_.put(id, std::move(s));
  ++requestsStarted_;
  ex.onCancel = [raw] { raw->conn.cancelStream(*raw); };
  ex.responseBody.onConsumed = [raw](size_t) { raw->conn.creditResponse(raw->id); };
  kick();
  return true;
}

asio::awaitable<SendResult> Http2ClientConnection::send(std::shared_ptr<Exchange> exchange) {
  auto conn = self();  // the stream's connection outlives the wait
  auto waiter = std::make_shared<Waiter>(asio::query(executor(), asio::execution::context));
  if (!start(std::move(exchange), waiter)) co_return SendResult{SendOutcome::kNotProcessed, ProxyError::kNone};
  while (!waiter->result) co_await waiter->wake.wait();
  co_return *waiter->result;
}

void Http2ClientConnection::resumeRequestBody(Stream& s) {
  if (s.done || !s.deferred) return;
  s.deferred = false;
  codec_.resumeData(s.id);
  kick();
}

void Http2ClientConnection::shutdown() {
  shuttingDown_ = true;
  retireIfIdle();
}

void Http2ClientConnection::retireIfIdle() {
  if (!streams_.empty() || closed()) return;
  if (!goawaySent_ && !codec_.failed()) {
    goawaySent_ = true;
    codec_.submitGoaway(h2error::kNoError, 0);
  }
  closeAfterFlush();
}

void Http2ClientConnection::finishStream(const std::shared_ptr<Stream>& s, uint32_t errorCode) {
  if (s->done) return;
  s->done = true;
  streams_.take(s->id);
  s->detach();
  auto& ex = *s->exchange;
  SendResult result;
  if (!s->responseStarted) {
    if (s->retryable)
      result = {SendOutcome::kRetryableResponse, ProxyError::kNone};
    else if (!s->sent || errorCode == h2error::kRefusedStream)
      result = {SendOutcome::kNotProcessed, ProxyError::kNone};
    else
      result = {SendOutcome::kFailed, s->streamError != ProxyError::kNone ? s->streamError : ProxyError::kUpstreamReset};
  } else {
    if (!ex.responseBody.ended()) ex.responseBody.fail(ProxyError::kUpstreamReset);
    // The upstream will read no more of the request.
    if (!ex.requestBody.ended()) ex.requestBody.abandon();
  }
  lastActivity_ = coarseNow();
  if (streams_.empty()) {
    if (goaway_ || shuttingDown_ || retired()) retireIfIdle();
    rearmTimer();
  }
  if (auto observer = std::move(s->observer)) tellLater(std::move(observer), result);
}

void Http2ClientConnection::tellLater(std::shared_ptr<SendObserver> observer, const SendResult& result) {
  // One handler for the streams that ended in the same event, run after the
  // handlers that event queued (the writes of the answers relayed meanwhile
  // come first), and never inside this connection's codec callbacks: an
  // observer may send again at once (docs/benchmarks.md, "Fewer
  // instructions, smaller batches", for how the choice was measured).
  bool first = toTell_.empty();
  toTell_.push_back({std::move(observer), result});
  if (!first) return;
  asio::post(executor(), [self = self()] {
    // Streams that end while these are told (a retry's) queue for the next
    // handler; the two lists trade places and keep their room.
    std::swap(self->toTell_, self->telling_);
    TurnClock::Scope turn;  // one clock read for the batch's telemetry (core/turn_clock.h)
    for (auto& [observer, r] : self->telling_) observer->sendDone(r);
    self->telling_.clear();
  });
}

void Http2ClientConnection::cancelStream(Stream& s) {
  if (closed() || s.done) return;
  codec_.resetStream(s.id, h2error::kCancel);
  kick();
}

void Http2ClientConnection::creditResponse(int32_t id) {
  auto* s = find(id);
  if (!s || closed()) return;
  uint64_t consumed = s->exchange->responseBody.totalConsumed();
  if (consumed <= s->credited) return;
  codec_.consumeStream(id, consumed - s->credited);
  s->credited = consumed;
  kick();
}

void Http2ClientConnection::onHeadersBegin(int32_t id, Http2HeadersKind kind) {
  auto* s = find(id);
  if (!s) return;
  if (kind == Http2HeadersKind::kResponse) {
    s->inTrailers = false;
    s->status = 0;
    s->head = ResponseHead{};
    s->head.headers.reserve(kExpectedFields);  // as the server side does for requests
  } else {
    s->inTrailers = true;
    s->trailers.clear();
  }
}

void Http2ClientConnection::onPseudoHeader(int32_t id, std::string_view name, std::string_view value) {
  auto* s = find(id);
  if (!s || s->inTrailers || name != ":status") return;
  std::from_chars(value.data(), value.data() + value.size(), s->status);
}

void Http2ClientConnection::onHeader(int32_t id, std::string_view name, std::string_view value) {
  auto* s = find(id);
  if (!s) return;
  (s->inTrailers ? s->trailers : s->head.headers).add(name, value);
}

void Http2ClientConnection::onHeadersEnd(int32_t id, bool endStream) {
  auto* s = find(id);
  if (!s || s->inTrailers || s->responseStarted) return;
  if (s->status >= 100 && s->status < 200) return;  // interim: the final head follows
  auto& ex = *s->exchange;
  s->head.status = s->status;
  s->head.version = Version::kHttp2;
  s->head.hasBody = !endStream;
  s->head.contentLength = parseLength(s->head.headers.get("content-length"));
  if (ex.mayRetryResponse && ex.isRetryableResponse(s->head)) {
    s->retryable = true;
    codec_.resetStream(id, h2error::kCancel);  // the stream closes; finishStream reports it
    kick();
    return;
  }
  ex.response = std::move(s->head);
  s->responseStarted = true;
  ex.responseStarted();
}

void Http2ClientConnection::onData(int32_t id, std::string_view data) {
  auto* s = find(id);
  if (!s) return;
  auto& body = s->exchange->responseBody;
  if (!s->responseStarted || body.ended() || body.abandoned()) {
    codec_.consumeStream(id, data.size());
    kick();
    return;
  }
  body.push(data);
}

void Http2ClientConnection::onStreamEnd(int32_t id) {
  auto* s = find(id);
  if (!s || !s->responseStarted) return;
  s->exchange->responseBody.finish(s->inTrailers ? std::move(s->trailers) : HeaderList{});
}

void Http2ClientConnection::onStreamClose(int32_t id, uint32_t errorCode) {
  auto s = streams_.shared(id);
  if (!s) return;
  finishStream(s, errorCode);
}

void Http2ClientConnection::onGoaway(int32_t, uint32_t, std::string_view) {
  // Streams above last-stream-id are closed by nghttp2 with REFUSED_STREAM
  // (→ kNotProcessed); the others continue. Nothing new opens here.
  goaway_ = true;
  rearmTimer();
}

void Http2ClientConnection::onAbuse(Http2Abuse kind, int32_t id) {
  threadCounter("weft_http2_abuse_total", "HTTP/2 peer misbehaviour detected and stopped",
                labels({labelPair("direction", options_.direction), labelPair("kind", http2AbuseName(kind))}))
      .inc();
  if (auto* s = id ? find(id) : nullptr) s->streamError = ProxyError::kUpstreamProtocol;
}

void Http2ClientConnection::onRequestSent(int32_t id) {
  auto* s = find(id);
  if (!s) return;
  s->sent = true;
  if (options_.keepaliveInterval.count() > 0 && lastRequestSentAt_ <= pingAnsweredAt_) {
    lastRequestSentAt_ = Clock::now();
    rearmTimer();  // a keepalive deadline may now come sooner
  }
}

void Http2ClientConnection::onRequestNotSent(int32_t id) {
  auto s = streams_.shared(id);
  if (!s) return;
  s->sent = false;
  finishStream(s, h2error::kRefusedStream);
}

Http2BodyChunk Http2ClientConnection::readData(int32_t id, uint8_t* buf, size_t length) {
  auto* s = find(id);
  if (!s) return {Http2BodyChunk::Kind::kReset};
  auto& body = s->exchange->requestBody;
  if (body.abandoned()) return {Http2BodyChunk::Kind::kReset};
  size_t n = std::min(length, body.buffered());
  if (n) {
    std::copy_n(body.data().data(), n, buf);
    body.consume(n);
  }
  Http2BodyChunk chunk;
  chunk.length = n;
  if (body.buffered() == 0 && body.ended()) {
    if (body.failed()) {
      if (n == 0) return {Http2BodyChunk::Kind::kReset};
    } else {
      chunk.end = true;
      chunk.trailers = &body.trailers();  // not taken: a retry sends them again
    }
  } else if (n == 0) {
    s->deferred = true;
    body.listenReadable(s);  // not readable now: it tells us later
    return {Http2BodyChunk::Kind::kDeferred};
  }
  return chunk;
}

Http2Transport::Clock::time_point Http2ClientConnection::keepalive(Clock::time_point now) {
  if (options_.keepaliveInterval.count() <= 0 || codec_.failed()) return Clock::time_point::max();
  if (pingDeadline_ != Clock::time_point::max()) {
    if (lastReceived() >= pingSentAt_) {
      pingDeadline_ = Clock::time_point::max();  // the peer spoke: alive
      pingAnsweredAt_ = lastReceived();
    } else if (now >= pingDeadline_) {
      threadCounter("weft_http2_timeouts_total", "HTTP/2 connections closed by a timeout, by kind",
                    labels({labelPair("direction", options_.direction), labelPair("kind", "keepalive")}))
          .inc();
      WEFT_LOG_WARN("http2 upstream: no answer to a keepalive PING within {} ms, closing the connection",
                    options_.keepaliveTimeout.count());
      closeNow();
      return Clock::time_point::max();
    } else {
      return pingDeadline_;
    }
  }
  if (streams_.empty()) return Clock::time_point::max();
  auto due = lastReceived() + std::max<Clock::duration>(options_.keepaliveInterval, kQuietKeepaliveInterval);
  // One probe per batch of requests still waiting for their heads.
  bool awaitingHead = pingAnsweredAt_ < lastRequestSentAt_ &&
                      std::any_of(streams_.all().begin(), streams_.all().end(),
                                  [](const auto& e) { return e.second->sent && !e.second->responseStarted; });
  if (awaitingHead) due = std::min(due, std::max(lastReceived(), lastRequestSentAt_) + options_.keepaliveInterval);
  if (now < due) return due;
  codec_.submitPing(kKeepalivePing);
  kick();
  pingSentAt_ = now;
  pingDeadline_ = now + options_.keepaliveTimeout;
  return pingDeadline_;
}

Http2Transport::Clock::time_point Http2ClientConnection::onTimer(Clock::time_point now) {
  auto ping = keepalive(now);
  if (closed()) return Clock::time_point::max();
  if (!streams_.empty()) return ping;
  if (goaway_ || shuttingDown_) {
    retireIfIdle();
    return Clock::time_point::max();
  }
  auto idleAt = lastActivity_ + options_.idleTimeout;
  if (now >= idleAt) {
    shuttingDown_ = true;
    retireIfIdle();
    return Clock::time_point::max();
  }
  return std::min(idleAt, ping);
}

void Http2ClientConnection::onClosed() {
  // Whatever is still open was cut by the connection loss.
  auto streams = streams_.all();  // a copy: finishStream() removes each from the table
  for (auto& [id, s] : streams) finishStream(s, h2error::kInternalError);
  if (onClose) {
    auto hook = std::move(onClose);
    onClose = nullptr;
    hook();
  }
}

}  // namespace weft::http
