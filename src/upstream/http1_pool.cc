#include "upstream/http1_pool.h"

#include <algorithm>
#include <array>
#include <optional>

#include "core/logging.h"
#include "core/metrics.h"
#include "http/codec/http1_serializer.h"
#include "http/session/http1_io.h"
#include "http/session/notifier.h"
#include "net/connect.h"
#include "net/errno_name.h"
#include "upstream/connect_report.h"
#include "upstream/http1_connection.h"

namespace weft::upstream {

namespace {
using namespace boost::asio::experimental::awaitable_operators;
using boost::asio::awaitable;
using http::h1io::IoStatus;

// Bounds a stalled write (kHttp1WriteStall) by closing the connection.
// (Buffers by value: the string_view overload returns this coroutine unstarted.)
template <class Buffers>
awaitable<IoStatus> write(Http1Connection& conn, Buffers buffers) {
  conn.writeDeadline.setAfterCoarse(kHttp1WriteStall);
  auto [ec, n] =
      co_await boost::asio::async_write(conn.socket, buffers, boost::asio::as_tuple(boost::asio::use_awaitable));
  conn.writeDeadline.clear();
  co_return ec ? IoStatus::kError : IoStatus::kOk;
}
awaitable<IoStatus> write(Http1Connection& conn, std::string_view data) {
  return write(conn, boost::asio::buffer(data.data(), data.size()));
}

// The coroutine's end of a send started without one: what the connection
// tells, kept until the coroutine looks.
struct AwaitedSend final : http::SendObserver {
  explicit AwaitedSend(const boost::asio::any_io_executor& ex) : told(ex) {}
  void sendDone(const SendResult& r) override {
    result = r;
    told.notify();
  }
  std::optional<SendResult> result;
  http::Notifier told;
};

}  // namespace

Http1Pool::Http1Pool(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint ep, PoolOptions options)
    : ex_(std::move(ex)), ep_(std::move(ep)), options_(std::move(options)), shared_(std::make_shared<Http1PoolShared>()) {
  shared_->idleTimeout = options_.idleTimeout;
}

Http1Pool::~Http1Pool() {
  auto idle = std::move(shared_->idle);
  for (auto& c : idle) c->close();
}

size_t Http1Pool::openConnections() const { return shared_->open; }
size_t Http1Pool::idleConnections() const { return shared_->idle.size(); }

void Http1Pool::drain() {
  shared_->draining = true;
  auto idle = std::move(shared_->idle);
  shared_->idle.clear();
  for (auto& c : idle) c->close();
}

bool Http1Pool::sendsWithoutCoroutine(const http::RequestHead& request) {
  return !request.upgrade && http::requestFraming(request) == http::BodyFraming::kNone;
}

bool Http1Pool::canStartNow(const http::Exchange& exchange) const {
  return !shared_->draining && !exchange.cancelled() && sendsWithoutCoroutine(exchange.request) && shared_->hasIdle();
}

bool Http1Pool::startNow(std::shared_ptr<http::Exchange> exchange, std::shared_ptr<http::SendObserver> observer) {
  if (shared_->draining || !sendsWithoutCoroutine(exchange->request)) return false;
  auto conn = shared_->takeIdle();
  if (!conn) return false;
  bool last = conn->prepareRequest(exchange->request, http::BodyFraming::kNone, options_.maxRequestsPerConnection);
  conn->startBodyless(std::move(exchange), std::move(observer), true, last);
  return true;
}

awaitable<SendResult> Http1Pool::sendBodyless(std::shared_ptr<Http1Connection> conn,
                                              std::shared_ptr<http::Exchange> ex, bool reused) {
  auto awaited = std::make_shared<AwaitedSend>(ex_);
  bool last = conn->prepareRequest(ex->request, http::BodyFraming::kNone, options_.maxRequestsPerConnection);
  conn->startBodyless(std::move(ex), awaited, reused, last);
  conn.reset();  // the connection's own handlers hold it now
  while (!awaited->result) co_await awaited->told.wait();
  co_return *awaited->result;
}

awaitable<SendResult> Http1Pool::send(std::shared_ptr<http::Exchange> ex, bool fresh) {
  bool upgrade = ex->request.upgrade;
  std::shared_ptr<Http1Connection> conn;
  if (!fresh && !upgrade) conn = shared_->takeIdle();
  bool reused = conn != nullptr;
  if (!conn) {
    auto r = co_await net::connectWithDeadline(ep_, options_.connectTimeout);
    reportConnect(options_, r.error, "pool");
    if (r.error) {
      SendResult res;
      res.outcome = SendOutcome::kFailed;
      res.error = r.error == boost::asio::error::timed_out ? ProxyError::kConnectTimeout : ProxyError::kConnectFailed;
      res.connectErrno = net::errnoOf(r.error);
      WEFT_LOG_DEBUG("http1 pool {}: connect failed: {}", options_.cluster, r.error.message());
      co_return res;
    }
    auto& gauge = threadGauge("weft_open_connections", "Open connections by direction",
                              labels({labelPair("direction", "upstream"), labelPair("cluster", options_.cluster)}));
    gauge.add(1);
    ++shared_->open;
    conn = std::make_shared<Http1Connection>(std::move(r.socket), shared_, &gauge);
  }
  if (ex->cancelled()) {
    // The client left while we connected: keep the connection for others.
    if (!upgrade && !shared_->draining) shared_->makeIdle(conn);
    co_return SendResult{SendOutcome::kFailed, ex->error() == ProxyError::kNone ? ProxyError::kDownstreamReset : ex->error()};
  }
  if (sendsWithoutCoroutine(ex->request)) co_return co_await sendBodyless(std::move(conn), std::move(ex), reused);
  auto end = co_await exchangeOn(conn, ex, reused);
  ex->onCancel = nullptr;
  if (end.reusable && !shared_->draining && !upgrade && !conn->closed) {
    shared_->makeIdle(std::move(conn));
  } else {
    conn->close();
  }
  co_return end.result;
}

// A request with a body (or an upgrade): the body writer races the response
// reader, since a server may answer (and close) before the body is sent.
awaitable<Http1ReadEnd> Http1Pool::exchangeOn(std::shared_ptr<Http1Connection> conn,
                                              std::shared_ptr<http::Exchange> ex, bool reused) {
  conn->closeOnCancel(*ex);
  auto framing = ex->request.upgrade ? http::BodyFraming::kNone : http::requestFraming(ex->request);
  bool last = conn->prepareRequest(ex->request, framing, options_.maxRequestsPerConnection);
  Http1SendState state;
  state.reused = reused;
  if (co_await write(*conn, std::string_view(conn->head)) != IoStatus::kOk)
    co_return Http1Connection::beforeHead(*ex, state, ProxyError::kUpstreamReset);
  if (framing == http::BodyFraming::kNone) {
    // An upgrade: no body to race the response reader against.
    co_return co_await readResponse(*conn, *ex, state);
  }
  bool bodySent = false;
  bool requestFailed = false;
  auto r = co_await (sendBody(*conn, *ex, framing, bodySent, requestFailed) || readResponse(*conn, *ex, state));
  if (r.index() == 1) {
    auto end = std::get<1>(r);
    if (!bodySent || last) end.reusable = false;
    co_return end;
  }
  // The request body failed (client gone or malformed) before the response
  // ended: this connection is mid-message and cannot be reused.
  Http1ReadEnd e;
  ProxyError why = ex->requestBody.error() == ProxyError::kNone ? ProxyError::kDownstreamReset : ex->requestBody.error();
  if (ex->hasResponse()) {
    ex->responseBody.fail(why);
    e.result.outcome = SendOutcome::kOk;
  } else {
    e.result.outcome = SendOutcome::kFailed;
    e.result.error = why;
  }
  co_return e;
}

// Streams the request body upstream. Never returns on success (the response
// reader decides when the exchange is over; `bodySent` once all of it is
// out); returns when the request body itself failed (`requestFailed`).
awaitable<void> Http1Pool::sendBody(Http1Connection& conn, http::Exchange& ex, http::BodyFraming framing,
                                    bool& bodySent, bool& requestFailed) {
  auto& pipe = ex.requestBody;
  uint64_t sent = 0;
  const uint64_t declared = ex.request.contentLength.value_or(0);
  std::string chunkHead;
  std::string tail;
  for (;;) {
    co_await pipe.waitReadable();
    std::string_view data = pipe.data();
    if (!data.empty()) {
      if (framing == http::BodyFraming::kContentLength && sent + data.size() > declared) {
        requestFailed = true;
        co_return;  // more than the declared length: never smuggle the excess upstream
      }
      IoStatus st;
      if (framing == http::BodyFraming::kChunked) {
        chunkHead.clear();
        http::appendChunkHeader(chunkHead, data.size());
        std::array<boost::asio::const_buffer, 3> bufs{boost::asio::buffer(chunkHead),
                                                      boost::asio::buffer(data.data(), data.size()),
                                                      boost::asio::buffer(http::kCrlf.data(), http::kCrlf.size())};
        st = co_await write(conn, bufs);
      } else {
        st = co_await write(conn, data);
      }
      if (st != IoStatus::kOk) {
        // The server may have answered and closed; let the reader find out.
        co_await http::h1io::sleepForever();
      }
      sent += data.size();
      pipe.consume(data.size());
      continue;
    }
    if (pipe.ended()) {
      if (pipe.failed()) {
        requestFailed = true;
        co_return;
      }
      if (framing == http::BodyFraming::kChunked) {
        tail.clear();
        http::appendLastChunk(tail, pipe.trailers());
        if (co_await write(conn, std::string_view(tail)) != IoStatus::kOk) co_await http::h1io::sleepForever();
      } else if (sent != declared) {
        requestFailed = true;
        co_return;  // body shorter than its Content-Length
      }
      bodySent = true;
      co_await http::h1io::sleepForever();
    }
    if (pipe.abandoned()) {
      requestFailed = true;
      co_return;
    }
  }
}

// The response steps of Http1Connection, awaited (startBodyless() drives
// the same steps from completion handlers).
awaitable<Http1ReadEnd> Http1Pool::readResponse(Http1Connection& conn, http::Exchange& ex, Http1SendState& state) {
  const bool headRequest = http::iequals(ex.request.method, "HEAD");
  for (;;) {
    auto step = conn.parseHead(headRequest);
    if (step == Http1Connection::HeadStep::kMalformed)
      co_return Http1Connection::beforeHead(ex, state, ProxyError::kUpstreamProtocol);
    if (step == Http1Connection::HeadStep::kHead) break;
    size_t before = conn.in.size();
    auto st = co_await http::h1io::readSome(conn.socket, conn.in, kHttp1ReadChunk);
    if (conn.in.size() > before) state.anyResponseByte = true;
    if (st != IoStatus::kOk) co_return Http1Connection::beforeHead(ex, state, ProxyError::kUpstreamReset);
  }
  if (auto end = conn.takeHead(ex, state)) co_return *end;
  Http1ReadEnd end;
  end.result.outcome = SendOutcome::kOk;
  if (ex.tunnel) {
    co_await tunnel(conn, ex);
    co_return end;
  }
  auto& pipe = ex.responseBody;
  for (;;) {
    auto step = conn.relayBody(pipe);
    if (step == Http1Connection::BodyStep::kMalformed) {
      pipe.fail(ProxyError::kUpstreamProtocol);
      co_return end;
    }
    if (step == Http1Connection::BodyStep::kDone) co_return conn.bodyDone(ex);
    if (!co_await pipe.waitWritable()) {
      // Nobody reads the rest (client gone): stop; the connection is mid-body.
      if (!pipe.ended()) pipe.fail(ProxyError::kDownstreamReset);
      co_return end;
    }
    size_t room = pipe.buffered() < pipe.highWater() ? pipe.highWater() - pipe.buffered() : 0;
    size_t want = std::min(std::max<size_t>(room, 1), kHttp1ReadChunk);
    auto st = co_await http::h1io::readSome(conn.socket, conn.in, want);
    if (st == IoStatus::kOk) continue;
    conn.endBodyAtEof(ex, st == IoStatus::kEof);
    co_return end;
  }
}

// Raw bytes both ways after a 101 until either side closes.
awaitable<void> Http1Pool::tunnel(Http1Connection& conn, http::Exchange& ex) {
  auto& down = ex.responseBody;
  if (!conn.in.empty()) {
    down.push(conn.in.view());
    conn.in.clear();
  }
  auto upstreamToPipe = [&]() -> awaitable<void> {
    std::string buf;
    for (;;) {
      if (!co_await down.waitWritable()) co_return;
      buf.clear();
      auto st = co_await http::h1io::readSome(conn.socket, buf, conn.readTimer, std::nullopt, kHttp1ReadChunk);
      if (st != IoStatus::kOk) {
        down.finish();
        co_return;
      }
      down.push(buf);
    }
  };
  auto pipeToUpstream = [&]() -> awaitable<void> {
    auto& up = ex.requestBody;
    for (;;) {
      co_await up.waitReadable();
      auto data = up.data();
      if (!data.empty()) {
        if (co_await write(conn, data) != IoStatus::kOk) co_return;
        up.consume(data.size());
        continue;
      }
      if (up.failed() || up.abandoned()) co_return;
      if (up.ended()) {
        // The client half-closed: pass it on and wait for the server to end.
        boost::system::error_code ignored;
        conn.socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
        co_await http::h1io::sleepForever();
      }
    }
  };
  co_await (upstreamToPipe() || pipeToUpstream());
  if (!down.ended()) down.finish();
}

}  // namespace weft::upstream
