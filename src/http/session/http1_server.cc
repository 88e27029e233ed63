#include "http/session/http1_server.h"

#include <algorithm>
#include <array>
#include <memory>

#include <boost/asio/this_coro.hpp>

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

class Http1ServerSession {
 public:
  Http1ServerSession(boost::asio::ip::tcp::socket socket, std::string prefix, ExchangeHandler& handler,
                     const ServerOptions& options)
      : socket_(std::move(socket)),
        in_(std::move(prefix)),
        handler_(handler),
        options_(options),
        parser_(options.maxHeaderListBytes),
        readTimer_(socket_.get_executor()),
        writeTimer_(socket_.get_executor()),
        readDeadline_(socket_.get_executor(), [this] { socket_.cancel(); }),
        writeDeadline_(socket_.get_executor(), [this] { socket_.cancel(); }),
        wake_(socket_.get_executor()),
        readDone_(socket_.get_executor()),
        alive_(std::make_shared<char>(0)) {
    if (options_.drain) {
      // Drain ends a connection that waits for its next request; one that is
      // serving finishes with Connection: close.
      options_.drain->subscribe(drainHook_, [this] {
        if (idleWaiting_) socket_.cancel();
      });
    }
  }

  awaitable<void> run() {
    for (;;) {
      auto head = co_await readHead();
      if (head == HeadResult::kMalformed) {
        co_await rejectMalformed(parser_.error());
        break;
      }
      if (head != HeadResult::kHead) break;
      if (!co_await serveOne()) break;
      parser_.reset();
    }
    if (current_) current_->cancel(ProxyError::kDownstreamReset);
    detachCurrent();
    h1io::closeSocket(socket_);
  }

  void abort() {
    if (current_) current_->cancel(ProxyError::kDownstreamReset);
    detachCurrent();
    h1io::closeSocket(socket_);
  }

 private:
  enum class HeadResult { kHead, kClosed, kTimeout, kDrain, kMalformed };
  enum class ReaderEnd { kPeerGone, kMalformed, kTimeout };
  struct WriteEnd {
    bool ok = true;
    bool keepAlive = false;
    bool tunnel = false;
  };

  bool draining() const { return options_.drain && options_.drain->draining(); }

  // Reads until a request head is parsed. Before the first byte of a request
  // the idle timeout (and drain) applies; after it, the header timeout. Both
  // are one lazily re-armed deadline (no timer work per request), and drain
  // reaches an idle wait through drainHook_ (no race per request).
  awaitable<HeadResult> readHead() {
    readDeadline_.setAfter(options_.idleTimeout);
    bool headTimed = false;
    for (;;) {
      size_t consumed = 0;
      auto ev = parser_.parse(in_.view(), consumed);
      in_.consume(consumed);
      if (ev == Http1Event::kHead) {
        readDeadline_.clear();
        co_return HeadResult::kHead;
      }
      if (ev == Http1Event::kError) co_return HeadResult::kMalformed;
      if (!headTimed && parser_.started()) {
        headTimed = true;
        readDeadline_.setAfter(options_.headerTimeout);
      }
      if (!headTimed && draining()) co_return HeadResult::kDrain;
      if (in_.empty() && in_.capacity() > kIdleRead && !readOutstanding_) in_.release();
      idleWaiting_ = !headTimed;
      auto st = co_await readMore(in_.empty() ? kIdleRead : kReadChunk);
      idleWaiting_ = false;
      if (readDeadline_.expired()) co_return HeadResult::kTimeout;
      if (st != IoStatus::kOk) co_return !headTimed && draining() ? HeadResult::kDrain : HeadResult::kClosed;
    }
  }

  // One request/response exchange. Returns whether the connection may serve
  // another request.
  awaitable<bool> serveOne() {
    auto executor = co_await boost::asio::this_coro::executor;
    auto ex = std::make_shared<Exchange>(executor);
    current_ = ex;
    ex->request = std::move(parser_.requestHead());
    requestDone_ = parser_.done();
    responseStarted_ = false;
    continueWanted_ = false;
    if (requestDone_ && !ex->request.upgrade) ex->requestBody.finish();
    if (ex->request.expectContinue && !requestDone_) {
      ex->requestBody.onFirstRead = [this] {
        continueWanted_ = true;
        wake_.notify();
      };
    }
    handler_.start(ex, executor);

    if (requestDone_ && !ex->request.upgrade) {
      // The common case, a request without a body: no request pump to race
      // against the writer. A callback read-ahead notices a client that
      // leaves (and buffers its pipelined requests) while we answer.
      readAhead_ = true;
      if (!readOutstanding_) startRead(kIdleRead);
      auto w = co_await writeResponse(ex);
      readAhead_ = false;  // a read still outstanding is the next readHead()'s
      if (!w.ok || peerGone_) co_return false;  // run() cancels current_
      detachCurrent();
      co_return w.keepAlive;
    }
    auto r = co_await (pumpRequest(ex) || writeResponse(ex));
    // pumpRequest may have left a read outstanding: the next readHead() (or
    // the tunnel, after stopReading()) takes it over.
    if (r.index() == 0) {
      auto end = std::get<0>(r);
      if (end == ReaderEnd::kMalformed) {
        countRejected(parser_.error());
        ex->cancel(ProxyError::kMalformedRequest);
        detachCurrent();
        // A named head: GCC 12 double-destroys temporaries in co_await expressions.
        RequestHead unknown;
        if (!responseStarted_) co_await writeError(ProxyError::kMalformedRequest, unknown, true);
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
    readDeadline_.setAfter(options_.idleTimeout);
    auto st = co_await readMore(want);
    readDeadline_.clear();
    if (readDeadline_.expired()) co_return IoStatus::kTimeout;
    co_return st;
  }

  // Writes to the client; a peer that stops reading for the idle timeout
  // ends it. One coroutine per write (buffers by value: the string_view
  // overload returns this coroutine unstarted).
  template <class Buffers>
  awaitable<IoStatus> write(Buffers buffers) {
    writeDeadline_.setAfter(options_.idleTimeout);
    auto [ec, n] = co_await boost::asio::async_write(socket_, buffers, boost::asio::as_tuple(boost::asio::use_awaitable));
    writeDeadline_.clear();
    if (writeDeadline_.expired()) co_return IoStatus::kTimeout;
    co_return ec ? IoStatus::kError : IoStatus::kOk;
  }
  awaitable<IoStatus> write(std::string_view data) { return write(boost::asio::buffer(data.data(), data.size())); }

  void detachCurrent() {
    if (current_) current_->requestBody.onFirstRead = nullptr;
    current_.reset();
  }

  // Streams the request body into the pipe, then keeps reading ahead
  // (pipelined requests) so a client that disconnects is noticed. Returns
  // only on a problem; the writer winning the `||` ends it otherwise.
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

  awaitable<WriteEnd> writeResponse(std::shared_ptr<Exchange> ex) {
    // Wait for the response head, answering 100-continue when the handler
    // first asks for the body.
    for (;;) {
      if (ex->hasResponse() || ex->error() != ProxyError::kNone || ex->cancelled()) break;
      if (continueWanted_) {
        continueWanted_ = false;
        if (!requestDone_ && ex->requestBody.totalPushed() == 0) {
          if (co_await write(k100Continue) != IoStatus::kOk) co_return WriteEnd{false};
        }
        continue;
      }
      if (ex->requestBody.onFirstRead) {
        co_await (ex->waitResponse() || wake_.wait());
      } else {
        co_await ex->waitResponse();  // no 100-continue to answer: nothing to race
      }
    }
    const RequestHead& req = ex->request;
    if (!ex->hasResponse()) {
      ProxyError err = ex->error() == ProxyError::kNone ? ProxyError::kUpstreamReset : ex->error();
      if (err == ProxyError::kDownstreamReset) co_return WriteEnd{false};
      bool close = !req.keepAlive || draining() || !requestDone_;
      if (!co_await writeError(err, req, close)) co_return WriteEnd{false};
      co_return WriteEnd{true, !close};
    }

    const ResponseHead& resp = ex->response;
    bool tunnel = req.upgrade && resp.status == 101;
    if (resp.status == 101 && !req.upgrade) {
      // A switch nobody asked for cannot be relayed.
      ex->responseBody.abandon();
      if (!co_await writeError(ProxyError::kUpstreamProtocol, req, true)) co_return WriteEnd{false};
      co_return WriteEnd{true, false};
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
    auto& body = ex->responseBody;
    if (tunnel || framing == BodyFraming::kNone) {
      if (co_await write(std::string_view(out_)) != IoStatus::kOk) co_return WriteEnd{false};
      if (tunnel) co_return WriteEnd{true, false, true};
      // HEAD / 204 / 304: nothing to relay; do not let the producer block.
      if (!body.ended()) body.abandon();
      co_return WriteEnd{true, keepAlive};
    }
    // The head waits in out_ for the first body bytes (usually parsed from
    // the same upstream read): head, body and, when the body has already
    // ended, the last chunk go out in one gathered write.
    bool headPending = true;
    bool lastChunkSent = false;
    bool trailers = framing == BodyFraming::kChunked && acceptsTrailers(req);
    uint64_t sent = 0;
    for (;;) {
      if (headPending && body.buffered() == 0 && !body.ended()) {
        // Nothing to join it with yet: the client gets the head now.
        headPending = false;
        if (co_await write(std::string_view(out_)) != IoStatus::kOk) co_return WriteEnd{false};
      }
      co_await body.waitReadable();
      std::string_view data = body.data();
      std::string_view head = headPending ? std::string_view(out_) : std::string_view();
      if (!data.empty()) {
        if (framing == BodyFraming::kContentLength && sent + data.size() > resp.contentLength.value_or(0)) {
          // More than the upstream announced: never forward past the
          // declared length (the client would see a second message).
          co_return WriteEnd{false};
        }
        chunkHead_.clear();
        tail_.clear();
        if (framing == BodyFraming::kChunked) {
          appendChunkHeader(chunkHead_, data.size());
          tail_ = kCrlf;
          if (body.ended() && !body.failed() && body.buffered() == data.size())
            appendLastChunk(tail_, trailers ? body.trailers() : HeaderList{});
        }
        std::array<boost::asio::const_buffer, 4> bufs{
            boost::asio::buffer(head.data(), head.size()), boost::asio::buffer(chunkHead_),
            boost::asio::buffer(data.data(), data.size()), boost::asio::buffer(tail_)};
        if (co_await write(bufs) != IoStatus::kOk) co_return WriteEnd{false};
        headPending = false;
        sent += data.size();
        body.consume(data.size());
        if (tail_.size() > kCrlf.size()) lastChunkSent = true;
        continue;
      }
      if (!body.ended()) continue;
      // A body that failed after the head was sent: close without the
      // terminal chunk so the client sees the failure.
      if (body.failed()) {
        if (headPending) co_await write(std::string_view(out_));
        co_return WriteEnd{false};
      }
      if (framing == BodyFraming::kChunked && !lastChunkSent) {
        if (!headPending) out_.clear();
        appendLastChunk(out_, trailers ? body.trailers() : HeaderList{});
        if (co_await write(std::string_view(out_)) != IoStatus::kOk) co_return WriteEnd{false};
      } else if (headPending) {
        if (co_await write(std::string_view(out_)) != IoStatus::kOk) co_return WriteEnd{false};
      }
      if (framing == BodyFraming::kContentLength && sent != resp.contentLength.value_or(0)) co_return WriteEnd{false};
      co_return WriteEnd{true, keepAlive && framing != BodyFraming::kUntilClose};
    }
  }

  // Writes a synthesized error response; counts it.
  awaitable<bool> writeError(ProxyError err, const RequestHead& req, bool close) {
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
  net::ByteBuffer in_;  // received, not yet parsed
  ExchangeHandler& handler_;
  const ServerOptions& options_;
  Http1RequestParser parser_;
  boost::asio::steady_timer readTimer_;
  boost::asio::steady_timer writeTimer_;
  net::Deadline readDeadline_;
  net::Deadline writeDeadline_;
  Notifier wake_;  // wakes the writer for 100-continue
  Notifier readDone_;  // an outstanding read completed
  net::DrainSignal::Hook drainHook_;
  std::shared_ptr<char> alive_;  // lets the read-ahead handler see that we are gone
  std::shared_ptr<Exchange> current_;
  std::string out_;
  std::string chunkHead_;
  std::string tail_;
  IoStatus readStatus_ = IoStatus::kOk;
  bool readOutstanding_ = false;
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
