#include "http/session/http1_server.h"

#include <algorithm>
#include <array>
#include <memory>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "core/logging.h"
#include "core/metrics.h"
#include "http/codec/error_response.h"
#include "http/codec/http1_parser.h"
#include "http/codec/http1_serializer.h"
#include "http/session/http1_io.h"
#include "net/deadline.h"
#include "net/drain.h"
#include "net/read_readiness.h"

namespace weft::http {

namespace {

using namespace boost::asio::experimental::awaitable_operators;
using boost::asio::awaitable;
using h1io::IoStatus;
using Clock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 16 * 1024;
// What a connection waiting for its next request reads into: most request
// heads fit, and an idle connection holds no more than this (a larger buffer
// left by a body is given back first).
constexpr size_t kIdleRead = 2 * 1024;
// Bytes of pipelined requests we read ahead while a response is pending.
constexpr size_t kPipelineReadAhead = 64 * 1024;
constexpr std::string_view k100Continue = "HTTP/1.1 100 Continue\r\n\r\n";

bool acceptsTrailers(const RequestHead& req) {
  for (const auto& f : req.headers) {
    if (!iequals(f.name, "te")) continue;
    std::string_view v = f.value;
    while (!v.empty()) {
      auto comma = v.find(',');
      auto tok = v.substr(0, comma);
      while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t' )) tok.remove_suffix(1);
      if (iequals(tok.substr(0, tok.find(';')), "trailers")) return true;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

// The session runs one coroutine for the connection (run()), and it stays
// parked while requests without a body are served: their heads are read,
// their exchanges started and their responses written by completion
// handlers, no coroutine frame, spawn or resume per request
// (docs/benchmarks.md). What has to wait on two things at once (a request
// body racing its response, an upgrade's tunnel, a malformed request's
// lingering close) is handed to run(), which serves it as a coroutine. The
// response writer is callback-driven for both; the coroutine awaits its end.
class Http1ServerSession final : private ResponseObserver, private BodyPipe::ReadableListener {
 public:
  Http1ServerSession(boost::asio::ip::tcp::socket socket, std::string prefix, ExchangeHandler& handler,
                     const ServerOptions& options)
      : socket_(std::move(socket)),
        executor_(socket_.get_executor()),
        context_(boost::asio::query(executor_, boost::asio::execution::context)),
        in_(std::move(prefix)),
        handler_(handler),
        options_(options),
        parser_(options.maxHeaderListBytes),
        readTimer_(executor_),
        writeTimer_(executor_),
        readDeadline_(executor_, [this] { socket_.cancel(); }),
        writeDeadline_(executor_, [this] { socket_.cancel(); }),
        wakeRun_(context_),
        readDone_(context_),
        writerDone_(context_),
        alive_(std::make_shared<char>(0)) {
    if (options_.drain) {
      // Drain ends a connection that waits for its next request; one that is
      // serving finishes with Connection: close.
      options_.drain->subscribe(drainHook_, [this] {
        if (idleWaiting_) socket_.cancel();
      });
    }
  }
  ~Http1ServerSession() { stopWriter(); }

  awaitable<void> run() {
    readNextHead();
    for (;;) {
      while (next_ == Next::kNone) co_await wakeRun_.wait();
      auto next = std::exchange(next_, Next::kNone);
      if (next == Next::kMalformed) {
        co_await rejectMalformed(parser_.error());
        break;
      }
      if (next != Next::kServe) break;
      if (!co_await serveOne()) break;
      parser_.reset();
      readNextHead();
    }
    abort();
  }

  void abort() {
    stopWriter();
    if (current_) current_->cancel(ProxyError::kDownstreamReset);
    detachCurrent();
    h1io::closeSocket(socket_);
  }

 private:
  // What run() is woken for: a request to serve as a coroutine, or the end.
  enum class Next { kNone, kServe, kMalformed, kEnd };
  enum class ReaderEnd { kPeerGone, kMalformed, kTimeout };
  struct WriteEnd {
    bool ok = true;
    bool keepAlive = false;
    bool tunnel = false;
  };

  bool draining() const { return options_.drain && options_.drain->draining(); }

  void handOver(Next next) {
    next_ = next;
    wakeRun_.notify();
  }

  // --- request heads, read by completion handlers ---

  // Reads until a request head is parsed. Before the first byte of a request
  // the idle timeout (and drain) applies; after it, the header timeout. Both
  // are one lazily re-armed deadline (no timer work per request), and drain
  // reaches an idle wait through drainHook_ (no race per request).
  void readNextHead() {
    readDeadline_.setAfterCoarse(options_.idleTimeout);
    headTimed_ = false;
    continueHead();
  }

  void continueHead() {
    size_t consumed = 0;
    auto ev = parser_.parse(in_.view(), consumed);
    in_.consume(consumed);
    if (ev == Http1Event::kHead) {
      readDeadline_.clear();
      // A request without a body is served here; anything else by run().
      if (parser_.done() && !parser_.requestHead().upgrade) return serveBodyless();
      return handOver(Next::kServe);
    }
    if (ev == Http1Event::kError) return handOver(Next::kMalformed);
    if (!headTimed_ && parser_.started()) {
      headTimed_ = true;
      readDeadline_.setAfterCoarse(options_.headerTimeout);
    }
    if (!headTimed_ && draining()) return handOver(Next::kEnd);
    if (in_.empty() && in_.capacity() > kIdleRead && !readOutstanding_) in_.release();
    idleWaiting_ = !headTimed_;
    awaitingHead_ = true;  // onRead() goes on here
    if (!readOutstanding_) startRead(in_.empty() ? kIdleRead : kReadChunk);
  }

  void headBytesArrived() {
    awaitingHead_ = false;
    idleWaiting_ = false;
    if (readDeadline_.expired() || readStatus_ != IoStatus::kOk) return handOver(Next::kEnd);
    continueHead();
  }

  std::shared_ptr<Exchange> beginExchange() {
    auto ex = std::make_shared<Exchange>(context_);
    current_ = ex;
    ex->request = std::move(parser_.requestHead());
    requestDone_ = parser_.done();
    responseStarted_ = false;
    continueWanted_ = false;
    if (requestDone_ && !ex->request.upgrade) ex->requestBody.finish();
    if (ex->request.expectContinue && !requestDone_) {
      ex->requestBody.onFirstRead = [this] {
        continueWanted_ = true;
        postWriterStep();
      };
    }
    handler_.start(ex, executor_);
    return ex;
  }

  // The common case, a request without a body: no request pump to race
  // against the writer. A callback read-ahead notices a client that leaves
  // (and buffers its pipelined requests) while we answer.
  void serveBodyless() {
    auto ex = beginExchange();
    readAhead_ = true;
    if (!readOutstanding_) startRead(kIdleRead);
    startWriter(std::move(ex), true);
  }

  void bodylessServed(WriteEnd w) {
    readAhead_ = false;  // a read still outstanding is the next head's
    if (!w.ok || peerGone_) return handOver(Next::kEnd);  // run() cancels current_
    detachCurrent();
    if (!w.keepAlive) return handOver(Next::kEnd);
    parser_.reset();
    readNextHead();
  }

  // A request with a body, or an upgrade. Returns whether the connection
  // may serve another request.
  awaitable<bool> serveOne() {
    auto ex = beginExchange();
    startWriter(ex, false);
    auto r = co_await (pumpRequest(ex) || awaitWriter());
    // pumpRequest may have left a read outstanding: the next head (or the
    // tunnel, after stopReading()) takes it over.
    if (r.index() == 0) {
      stopWriter();
      auto end = std::get<0>(r);
      if (end == ReaderEnd::kMalformed) {
        countRejected(parser_.error());
        ex->cancel(ProxyError::kMalformedRequest);
        detachCurrent();
        // A named head: GCC 12 double-destroys temporaries in co_await expressions.
        RequestHead unknown;
        if (!responseStarted_) {
          co_await awaitWriterIdle();  // a 100 Continue may be on its way
          co_await writeError(ProxyError::kMalformedRequest, unknown, true);
        }
      } else {
        ex->cancel(end == ReaderEnd::kTimeout ? ProxyError::kTimeout : ProxyError::kDownstreamReset);
      }
      co_return false;
    }
    auto w = std::get<1>(r);
    if (!w.ok) co_return false;  // run() cancels current_
    if (w.tunnel) {
      co_await tunnel(ex);
      co_return false;
    }
    if (!requestDone_) {
      // Answered before the whole body arrived: the rest of the body is
      // unread, so this connection cannot carry another request.
      co_return false;
    }
    detachCurrent();
    co_return w.keepAlive;
  }

  // Every read from the client goes through one callback-driven read into
  // in_ (at most one outstanding), so that a read started for one purpose
  // can be taken over by the next instead of being cancelled: a cancelled
  // read costs a fresh speculative recv (EAGAIN) for the next one, and a read
  // that completed just before its cancellation would lose its bytes.
  //
  // While readAhead_ (a bodyless request is being answered) a completed read
  // starts the next (up to kPipelineReadAhead buffered, for pipelined
  // requests), and EOF or an error cancels the exchange: the client left.
  void startRead(size_t n) {
    readOutstanding_ = true;
    char* into = in_.prepare(n);
    socket_.async_read_some(boost::asio::buffer(into, n), [this, alive = std::weak_ptr<char>(alive_), n](
                                                              boost::system::error_code ec, size_t got) {
      if (alive.expired()) return;  // the session is gone
      net::noteShortRead(socket_, n, got);
      onRead(ec, got);
    });
  }

  void onRead(boost::system::error_code ec, size_t n) {
    readOutstanding_ = false;
    bool stopped = stopRead_;
    stopRead_ = false;
    in_.commit(n);
    if (ec == boost::asio::error::operation_aborted && stopped) {
      readStatus_ = IoStatus::kOk;
    } else if (ec) {
      readStatus_ = ec == boost::asio::error::eof ? IoStatus::kEof : IoStatus::kError;
      if (readAhead_) {
        peerGone_ = true;
        if (current_) current_->cancel(ProxyError::kDownstreamReset);
      }
    } else {
      readStatus_ = IoStatus::kOk;
      if (readAhead_ && in_.size() < kPipelineReadAhead) startRead(kIdleRead);
    }
    readDone_.notify();
    if (awaitingHead_) headBytesArrived();
  }

  // At least one read into in_ (taking over an outstanding one).
  awaitable<IoStatus> readMore(size_t n) {
    if (!readOutstanding_) startRead(n);
    while (readOutstanding_) co_await readDone_.wait();
    co_return readStatus_;
  }

  // Ends an outstanding read (its bytes, if any arrived, are kept in in_),
  // for code that reads the socket itself.
  awaitable<void> stopReading() {
    if (!readOutstanding_) co_return;
    stopRead_ = true;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    while (readOutstanding_) co_await readDone_.wait();
  }

  // Reads for the request pump: inactivity bounded by the idle timeout.
  awaitable<IoStatus> readBody(size_t want) {
    readDeadline_.setAfterCoarse(options_.idleTimeout);
    auto st = co_await readMore(want);
    readDeadline_.clear();
    if (readDeadline_.expired()) co_return IoStatus::kTimeout;
    co_return st;
  }

  // Writes to the client from a coroutine (error responses outside the
  // writer); a peer that stops reading for the idle timeout ends it.
  awaitable<IoStatus> write(std::string_view data) {
    writeDeadline_.setAfterCoarse(options_.idleTimeout);
    auto [ec, n] = co_await boost::asio::async_write(socket_, boost::asio::buffer(data.data(), data.size()),
                                                     boost::asio::as_tuple(boost::asio::use_awaitable));
    writeDeadline_.clear();
    if (writeDeadline_.expired()) co_return IoStatus::kTimeout;
    co_return ec ? IoStatus::kError : IoStatus::kOk;
  }

  void detachCurrent() {
    if (current_) current_->requestBody.onFirstRead = nullptr;
    current_.reset();
  }

  // Streams the request body into the pipe, then keeps reading ahead
  // (pipelined requests) so a client that disconnects is noticed. Returns
  // only on a problem; the writer ending first ends it otherwise.
  awaitable<ReaderEnd> pumpRequest(std::shared_ptr<Exchange> ex) {
    auto& pipe = ex->requestBody;
    while (!requestDone_) {
      size_t consumed = 0;
      auto ev = parser_.parse(in_.view(), consumed);
      in_.consume(consumed);
      if (!parser_.body().empty()) {
        pipe.push(parser_.body());
        parser_.body().clear();
      }
      if (ev == Http1Event::kError) co_return ReaderEnd::kMalformed;
      if (ev == Http1Event::kDone) {
        requestDone_ = true;
        pipe.finish(std::move(parser_.trailers()));
        break;
      }
      if (ev == Http1Event::kBody) continue;
      // Back-pressure: read no more than the pipe can take below its high water.
      co_await pipe.waitWritable();
      size_t room = pipe.buffered() < pipe.highWater() ? pipe.highWater() - pipe.buffered() : 0;
      size_t want = std::min(std::max<size_t>(room, 1), kReadChunk);
      auto st = co_await readBody(want);
      if (st == IoStatus::kTimeout) co_return ReaderEnd::kTimeout;
      if (st != IoStatus::kOk) co_return ReaderEnd::kPeerGone;
    }
    while (in_.size() < kPipelineReadAhead) {
      auto st = co_await readMore(kReadChunk);
      if (st != IoStatus::kOk) co_return ReaderEnd::kPeerGone;
    }
    co_await h1io::sleepForever();
    co_return ReaderEnd::kPeerGone;
  }

  // --- the response writer, driven by completion handlers ---
  //
  // It waits for the response head (as the exchange's ResponseObserver),
  // answering 100-continue when the handler first asks for the body, then
  // writes the head and relays the body (as the body pipe's listener).
  // Every wake-up is posted, so the writer runs after the upstream side's
  // handler has pushed what it read: head, body and, when the body has
  // already ended, the last chunk go out in one gathered write.

  enum class Phase : uint8_t { kIdle, kAwaitHead, kBody };
  enum class AfterWrite : uint8_t { kStep, kBodyWritten, kEnd };

  void startWriter(std::shared_ptr<Exchange> ex, bool bodyless) {
    w_ = {};
    w_.ex = std::move(ex);
    w_.phase = Phase::kAwaitHead;
    w_.bodyless = bodyless;
    stepWriter();
  }

  // Ends the writer without telling anyone; a write in flight completes
  // into nothing (awaitWriterIdle()).
  void stopWriter() {
    if (w_.phase == Phase::kIdle) return;
    disarmWriter();
    w_.phase = Phase::kIdle;
    w_.ex.reset();
  }

  void disarmWriter() {
    if (w_.observing) w_.ex->setResponseObserver(nullptr);
    w_.observing = false;
    w_.ex->responseBody.listenReadable(nullptr);
  }

  awaitable<WriteEnd> awaitWriter() {
    while (w_.phase != Phase::kIdle) co_await writerDone_.wait();
    co_return w_.end;
  }

  awaitable<void> awaitWriterIdle() {
    while (w_.writing) co_await writerDone_.wait();
  }

  void responseReady() override { postWriterStep(); }
  void bodyReadable() override { postWriterStep(); }

  void postWriterStep() {
    if (w_.stepPosted || w_.phase == Phase::kIdle) return;
    w_.stepPosted = true;
    boost::asio::post(executor_, [this, alive = std::weak_ptr<char>(alive_)] {
      if (alive.expired()) return;
      w_.stepPosted = false;
      stepWriter();
    });
  }

  void stepWriter() {
    if (w_.phase == Phase::kIdle || w_.writing) return;
    Exchange& ex = *w_.ex;
    if (w_.phase == Phase::kBody) return stepBody(ex);
    if (!ex.hasResponse() && ex.error() == ProxyError::kNone && !ex.cancelled()) {
      if (continueWanted_) {
        continueWanted_ = false;
        if (!requestDone_ && ex.requestBody.totalPushed() == 0) return writeThen(k100Continue, AfterWrite::kStep, {});
      }
      if (!w_.observing) {
        w_.observing = true;
        ex.setResponseObserver(this);
      }
      return;
    }
    startResponse(ex);
  }

  // The response head is here (or the exchange failed before one).
  void startResponse(Exchange& ex) {
    const RequestHead& req = ex.request;
    if (!ex.hasResponse()) {
      ProxyError err = ex.error() == ProxyError::kNone ? ProxyError::kUpstreamReset : ex.error();
      if (err == ProxyError::kDownstreamReset) return writerDone({false});
      bool close = !req.keepAlive || draining() || !requestDone_;
      buildError(err, req, close);
      return writeThen(out_, AfterWrite::kEnd, {true, !close});
    }
    const ResponseHead& resp = ex.response;
    bool tunnel = req.upgrade && resp.status == 101;
    if (resp.status == 101 && !req.upgrade) {
      // A switch nobody asked for cannot be relayed.
      ex.responseBody.abandon();
      buildError(ProxyError::kUpstreamProtocol, req, true);
      return writeThen(out_, AfterWrite::kEnd, {true, false});
    }
    BodyFraming framing = tunnel ? BodyFraming::kNone : responseFraming(resp, req.method, req.version);
    // The upstream's Connection header is hop-by-hop: it closes the upstream
    // connection (the pool's business), never the client's.
    bool keepAlive = !tunnel && req.keepAlive && !draining() && requestDone_ &&
                     framing != BodyFraming::kUntilClose;
    ResponseHeadOptions ho;
    ho.close = !keepAlive && !tunnel;
    ho.http10KeepAlive = keepAlive && req.version == Version::kHttp10;
    ho.headRequest = iequals(req.method, "HEAD");
    if (tunnel) ho.upgradeProtocol = req.upgradeProtocol;
    out_.clear();
    appendResponseHead(out_, resp, framing, ho);
    responseStarted_ = true;
    if (tunnel) return writeThen(out_, AfterWrite::kEnd, {true, false, true});
    if (framing == BodyFraming::kNone) {
      // HEAD / 204 / 304: nothing to relay; do not let the producer block.
      if (!ex.responseBody.ended()) ex.responseBody.abandon();
      return writeThen(out_, AfterWrite::kEnd, {true, keepAlive});
    }
    w_.phase = Phase::kBody;
    w_.framing = framing;
    w_.keepAlive = keepAlive;
    w_.trailers = framing == BodyFraming::kChunked && acceptsTrailers(req);
    w_.headPending = true;  // joined with the first body bytes
    stepBody(ex);
  }

  void stepBody(Exchange& ex) {
    auto& body = ex.responseBody;
    const ResponseHead& resp = ex.response;
    if (w_.headPending && body.buffered() == 0 && !body.ended()) {
      // Nothing to join it with yet: the client gets the head now.
      w_.headPending = false;
      return writeThen(out_, AfterWrite::kStep, {});
    }
    if (body.buffered() == 0 && !body.ended()) {
      if (body.abandoned()) return writerDone({false});
      return body.listenReadable(this);
    }
    std::string_view data = body.data();
    std::string_view head = w_.headPending ? std::string_view(out_) : std::string_view();
    if (!data.empty()) {
      if (w_.framing == BodyFraming::kContentLength && w_.sent + data.size() > resp.contentLength.value_or(0)) {
        // More than the upstream announced: never forward past the
        // declared length (the client would see a second message).
        return writerDone({false});
      }
      chunkHead_.clear();
      tail_.clear();
      if (w_.framing == BodyFraming::kChunked) {
        appendChunkHeader(chunkHead_, data.size());
        tail_ = kCrlf;
        if (body.ended() && !body.failed() && body.buffered() == data.size())
          appendLastChunk(tail_, w_.trailers ? body.trailers() : HeaderList{});
      }
      std::array<boost::asio::const_buffer, 4> bufs{
          boost::asio::buffer(head.data(), head.size()), boost::asio::buffer(chunkHead_),
          boost::asio::buffer(data.data(), data.size()), boost::asio::buffer(tail_)};
      w_.inFlight = data.size();
      return writeBuffers(bufs, AfterWrite::kBodyWritten, {});
    }
    // The body ended. One that failed after the head was sent: close
    // without the terminal chunk so the client sees the failure.
    if (body.failed()) {
      if (w_.headPending) return writeThen(out_, AfterWrite::kEnd, {false});
      return writerDone({false});
    }
    WriteEnd end{true, w_.keepAlive};
    if (w_.framing == BodyFraming::kContentLength && w_.sent != resp.contentLength.value_or(0)) end = {false};
    if (w_.framing == BodyFraming::kChunked && !w_.lastChunkSent) {
      if (!w_.headPending) out_.clear();
      appendLastChunk(out_, w_.trailers ? body.trailers() : HeaderList{});
      return writeThen(out_, AfterWrite::kEnd, end);
    }
    if (w_.headPending) return writeThen(out_, AfterWrite::kEnd, end);
    writerDone(end);
  }

  // One write at a time; `after` says what its completion does (`end`: the
  // writer's result, for kEnd). A peer that stops reading for the idle
  // timeout ends it.
  template <class Buffers>
  void writeBuffers(const Buffers& buffers, AfterWrite after, WriteEnd end) {
    w_.writing = true;
    w_.after = after;
    w_.end = end;
    writeDeadline_.setAfterCoarse(options_.idleTimeout);
    boost::asio::async_write(socket_, buffers, [this, alive = std::weak_ptr<char>(alive_)](boost::system::error_code ec, size_t) {
      if (alive.expired()) return;
      written(ec);
    });
  }
  void writeThen(std::string_view data, AfterWrite after, WriteEnd end) {
    writeBuffers(boost::asio::buffer(data.data(), data.size()), after, end);
  }

  void written(boost::system::error_code ec) {
    w_.writing = false;
    writeDeadline_.clear();
    if (w_.phase == Phase::kIdle) {  // stopped meanwhile
      writerDone_.notify();
      return;
    }
    if (ec || writeDeadline_.expired()) return writerDone({false});
    switch (w_.after) {
      case AfterWrite::kStep:
        return stepWriter();
      case AfterWrite::kBodyWritten: {
        auto& body = w_.ex->responseBody;
        w_.headPending = false;
        w_.sent += w_.inFlight;
        body.consume(w_.inFlight);
        if (tail_.size() > kCrlf.size()) w_.lastChunkSent = true;
        return stepWriter();
      }
      case AfterWrite::kEnd:
        return writerDone(w_.end);
    }
  }

  void writerDone(WriteEnd end) {
    disarmWriter();
    w_.phase = Phase::kIdle;
    w_.end = end;
    w_.ex.reset();
    if (w_.bodyless) return bodylessServed(end);
    writerDone_.notify();
  }

  // Fills out_ with a synthesized error response; counts it.
  void buildError(ProxyError err, const RequestHead& req, bool close) {
    auto syn = makeErrorResponse(req, err);
    threadCounter("weft_proxy_errors_total", "Responses the proxy synthesized, by cause",
                  labels({labelPair("direction", options_.direction), labelPair("code", proxyErrorCode(err))}))
        .inc();
    BodyFraming framing = responseFraming(syn.head, req.method, req.version);
    ResponseHeadOptions ho;
    ho.close = close;
    ho.http10KeepAlive = !close && req.version == Version::kHttp10;
    ho.headRequest = iequals(req.method, "HEAD");
    out_.clear();
    appendResponseHead(out_, syn.head, framing, ho);
    if (framing != BodyFraming::kNone) out_ += syn.body;
    responseStarted_ = true;
  }

  // Writes a synthesized error response from a coroutine; counts it.
  awaitable<bool> writeError(ProxyError err, const RequestHead& req, bool close) {
    buildError(err, req, close);
    co_return co_await write(std::string_view(out_)) == IoStatus::kOk;
  }

  void countRejected(Http1Error e) {
    threadCounter("weft_http_rejected_requests_total", "Requests rejected as malformed, by reason",
                  labels({labelPair("direction", options_.direction), labelPair("reason", http1ErrorReason(e))}))
        .inc();
  }

  awaitable<void> rejectMalformed(Http1Error e) {
    co_await stopReading();
    countRejected(e);
    WEFT_LOG_DEBUG("http1: rejecting malformed request: {}", http1ErrorReason(e));
    RequestHead unknown;  // named: GCC 12 double-destroys temporaries in co_await expressions
    if (!co_await writeError(ProxyError::kMalformedRequest, unknown, true)) co_return;
    // Lingering close: half-close and drain briefly so the client reads the
    // 400 instead of a reset caused by its unread bytes.
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    auto until = Clock::now() + std::chrono::milliseconds(500);
    for (size_t drained = 0; drained < 256 * 1024;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left.count() <= 0) break;
      std::string scratch;
      if (co_await h1io::readSome(socket_, scratch, readTimer_, left, kReadChunk) != IoStatus::kOk) break;
      drained += scratch.size();
    }
  }

  // Raw bytes both ways after a 101, until either side ends or the tunnel
  // has been idle (both directions) for the idle timeout.
  awaitable<void> tunnel(std::shared_ptr<Exchange> ex) {
    co_await stopReading();
    lastActivity_ = Clock::now();
    if (!in_.empty()) {
      ex->requestBody.push(in_.view());
      in_.clear();
    }
    co_await (tunnelClientToPipe(ex) || tunnelPipeToClient(ex) || tunnelIdleWatch());
    ex->requestBody.finish();
    ex->responseBody.abandon();
    // The upstream side ends with us: cancel closes its socket.
    ex->cancel(ProxyError::kDownstreamReset);
    detachCurrent();
  }

  awaitable<void> tunnelClientToPipe(std::shared_ptr<Exchange> ex) {
    auto& pipe = ex->requestBody;
    std::string buf;
    for (;;) {
      if (!co_await pipe.waitWritable()) break;
      buf.clear();
      auto st = co_await h1io::readSome(socket_, buf, readTimer_, std::nullopt, kReadChunk);
      if (st != IoStatus::kOk) {
        // Half-close: let the upstream see EOF and finish its side.
        pipe.finish();
        co_await h1io::sleepForever();
      }
      lastActivity_ = Clock::now();
      pipe.push(buf);
    }
  }

  awaitable<void> tunnelPipeToClient(std::shared_ptr<Exchange> ex) {
    auto& pipe = ex->responseBody;
    for (;;) {
      co_await pipe.waitReadable();
      auto data = pipe.data();
      if (!data.empty()) {
        if (co_await h1io::writeAll(socket_, data, writeTimer_, options_.idleTimeout) != IoStatus::kOk) co_return;
        lastActivity_ = Clock::now();
        pipe.consume(data.size());
        continue;
      }
      if (pipe.ended() || pipe.abandoned()) co_return;
    }
  }

  awaitable<void> tunnelIdleWatch() {
    boost::asio::steady_timer timer(socket_.get_executor());
    for (;;) {
      auto deadline = lastActivity_ + options_.idleTimeout;
      if (Clock::now() >= deadline) co_return;
      timer.expires_at(deadline);
      co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
  }

  boost::asio::ip::tcp::socket socket_;
  boost::asio::any_io_executor executor_;
  boost::asio::execution_context& context_;
  net::ByteBuffer in_;  // received, not yet parsed
  ExchangeHandler& handler_;
  const ServerOptions& options_;
  Http1RequestParser parser_;
  boost::asio::steady_timer readTimer_;
  boost::asio::steady_timer writeTimer_;
  net::Deadline readDeadline_;
  net::Deadline writeDeadline_;
  Notifier wakeRun_;     // next_ was set
  Notifier readDone_;    // an outstanding read completed
  Notifier writerDone_;  // the writer ended, or its last write completed after stopWriter()
  net::DrainSignal::Hook drainHook_;
  std::shared_ptr<char> alive_;  // lets completion handlers see that we are gone
  std::shared_ptr<Exchange> current_;
  // The response being written (see "the response writer").
  struct Writing {
    std::shared_ptr<Exchange> ex;
    Phase phase = Phase::kIdle;
    bool bodyless = false;  // its end continues the session (bodylessServed)
    bool writing = false;   // a write is in flight
    bool stepPosted = false;
    bool observing = false;  // the exchange's ResponseObserver
    AfterWrite after = AfterWrite::kStep;
    WriteEnd end;
    BodyFraming framing = BodyFraming::kNone;
    bool keepAlive = false;
    bool trailers = false;
    bool headPending = false;  // out_ holds the head, not yet written
    bool lastChunkSent = false;
    uint64_t sent = 0;
    size_t inFlight = 0;  // body bytes in the write in flight
  } w_;
  std::string out_;
  std::string chunkHead_;
  std::string tail_;
  Next next_ = Next::kNone;
  IoStatus readStatus_ = IoStatus::kOk;
  bool readOutstanding_ = false;
  bool awaitingHead_ = false;
  bool headTimed_ = false;
  bool readAhead_ = false;
  bool stopRead_ = false;
  bool peerGone_ = false;
  bool idleWaiting_ = false;
  bool requestDone_ = false;
  bool responseStarted_ = false;
  bool continueWanted_ = false;
  Clock::time_point lastActivity_;
};

}  // namespace

awaitable<void> serveHttp1(boost::asio::ip::tcp::socket socket, std::string prefix, ExchangeHandler& handler,
                           const ServerOptions& options) {
  Http1ServerSession session(std::move(socket), std::move(prefix), handler, options);
  try {
    co_await session.run();
  } catch (const std::exception& e) {
    // Cancellation of the whole session (worker shutdown) lands here.
    WEFT_LOG_DEBUG("http1: session ended: {}", e.what());
    session.abort();
  }
}

}  // namespace weft::http
