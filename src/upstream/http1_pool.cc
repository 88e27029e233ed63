#include "upstream/http1_pool.h"

#include <string.h>

#include <algorithm>
#include <array>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "core/logging.h"
#include "core/metrics.h"
#include "net/errno_name.h"
#include "upstream/connect_report.h"
#include "http/codec/http1_parser.h"
#include "http/codec/http1_serializer.h"
#include "http/session/http1_io.h"
#include "net/connect.h"
#include "net/deadline.h"

namespace weft::upstream {

namespace {
using namespace boost::asio::experimental::awaitable_operators;
using boost::asio::awaitable;
using http::h1io::IoStatus;

constexpr size_t kReadChunk = 16 * 1024;
// A stalled upstream write is normally ended by the forwarder's request
// timeout (cancel → socket closed); this bounds it regardless.
constexpr std::chrono::milliseconds kWriteStall{std::chrono::minutes(5)};
// A connection reused sooner than this after its last response is never
// watched while idle: the watch read would cost a failed recv (EAGAIN) per
// request on a busy connection. A server that closes in that window is
// found out by the next request, which then fails before any response byte
// and is retried as not-processed (DESIGN.md §6).
constexpr std::chrono::milliseconds kIdleWatchDelay{50};

}  // namespace

struct Http1Pool::Shared {
  std::vector<std::shared_ptr<Connection>> idle;
  size_t open = 0;
};

struct Http1Pool::Connection : std::enable_shared_from_this<Connection> {
  Connection(boost::asio::ip::tcp::socket s, std::weak_ptr<Shared> sh, Gauge* g)
      : socket(std::move(s)),
        readTimer(socket.get_executor()),
        writeDeadline(socket.get_executor(), [this] { close(); }),
        idleDeadline(socket.get_executor(), [this] { retireIfIdle(idleGeneration); }),
        watchDeadline(socket.get_executor(), [this] { startIdleWatch(); }),
        shared(std::move(sh)),
        gauge(g) {}
  ~Connection() { close(); }

  void close() {
    if (closed) return;
    closed = true;
    http::h1io::closeSocket(socket);
    idleDeadline.clear();
    watchDeadline.clear();
    writeDeadline.clear();
    if (auto s = shared.lock()) --s->open;
    if (gauge) gauge->add(-1);
  }

  // Idle too long, or readable while idle (the server closed it, or sent
  // bytes nobody asked for): either way it is done. A stale call (the
  // connection was taken since) sees a newer generation.
  void retireIfIdle(uint64_t generation) {
    if (!idle || idleGeneration != generation) return;
    auto self = shared_from_this();
    if (auto s = shared.lock()) std::erase(s->idle, self);
    idle = false;
    close();
  }

  // One read pending while idle: its completion means the server closed the
  // connection or sent bytes nobody asked for — done either way. (A read,
  // not async_wait(wait_read): Asio re-registers with epoll_ctl per wait.)
  void startIdleWatch() {
    if (!idle || closed || watching) return;
    watching = true;
    char* into = in.prepare(1);
    socket.async_read_some(boost::asio::buffer(into, 1),
                           [weak = weak_from_this(), gen = idleGeneration](boost::system::error_code, size_t) {
                             auto c = weak.lock();
                             if (!c || c->idleGeneration != gen) return;  // taken since (and the flag reset)
                             c->watching = false;
                             c->retireIfIdle(gen);
                           });
  }

  // Ends the idle period: the connection is about to carry a request.
  void takeForUse() {
    idle = false;
    ++idleGeneration;
    idleDeadline.clear();
    watchDeadline.clear();
    if (watching) {
      watching = false;
      boost::system::error_code ec;
      socket.cancel(ec);  // the watch read; its handler sees the new generation
    }
  }

  // Bounds a stalled write (kWriteStall) by closing the connection.
  // (Buffers by value: the string_view overload returns this coroutine unstarted.)
  template <class Buffers>
  awaitable<IoStatus> write(Buffers buffers) {
    writeDeadline.setAfter(kWriteStall);
    auto [ec, n] = co_await boost::asio::async_write(socket, buffers, boost::asio::as_tuple(boost::asio::use_awaitable));
    writeDeadline.clear();
    co_return ec ? IoStatus::kError : IoStatus::kOk;
  }
  awaitable<IoStatus> write(std::string_view data) { return write(boost::asio::buffer(data.data(), data.size())); }

  boost::asio::ip::tcp::socket socket;
  net::ByteBuffer in;
  http::Http1ResponseParser parser;
  boost::asio::steady_timer readTimer;  // tunnel reads only
  net::Deadline writeDeadline;
  net::Deadline idleDeadline;
  net::Deadline watchDeadline;  // starts the idle watch after kIdleWatchDelay
  std::weak_ptr<Shared> shared;
  Gauge* gauge;
  std::string head;  // serialized request head, kept for its capacity
  uint32_t requests = 0;
  uint64_t idleGeneration = 0;
  bool idle = false;
  bool watching = false;
  bool closed = false;
};

// Progress of one request on one connection, shared by the body writer and
// the response reader.
struct Http1Pool::SendState {
  http::BodyFraming framing = http::BodyFraming::kNone;
  bool bodySent = false;
  bool requestFailed = false;
  bool anyResponseByte = false;
  bool reused = false;
};

struct Http1Pool::ReadEnd {
  SendResult result;
  bool reusable = false;
};

Http1Pool::Http1Pool(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint ep, PoolOptions options)
    : ex_(std::move(ex)), ep_(std::move(ep)), options_(std::move(options)), shared_(std::make_shared<Shared>()) {}

Http1Pool::~Http1Pool() {
  auto idle = std::move(shared_->idle);
  for (auto& c : idle) c->close();
}

size_t Http1Pool::openConnections() const { return shared_->open; }
size_t Http1Pool::idleConnections() const { return shared_->idle.size(); }

void Http1Pool::drain() {
  draining_ = true;
  auto idle = std::move(shared_->idle);
  shared_->idle.clear();
  for (auto& c : idle) c->close();
}


std::shared_ptr<Http1Pool::Connection> Http1Pool::takeIdle() {
  auto& idle = shared_->idle;
  while (!idle.empty()) {
    auto c = std::move(idle.back());
    idle.pop_back();
    c->takeForUse();
    // No peek for a FIN here (a syscall per request): a server that closed
    // unnoticed makes the request fail before any response byte, and a
    // reused connection's such failure is retried as not-processed.
    if (!c->closed) return c;
  }
  return nullptr;
}

// Idle watch without a coroutine or a race per request: the idle timeout is
// a lazily re-armed deadline, and the watch read starts only once the
// connection has been idle for kIdleWatchDelay (see startIdleWatch()).
void Http1Pool::makeIdle(std::shared_ptr<Connection> conn) {
  conn->idle = true;
  ++conn->idleGeneration;
  conn->idleDeadline.setAfter(options_.idleTimeout);
  conn->watchDeadline.setAfter(kIdleWatchDelay);
  shared_->idle.push_back(std::move(conn));
}

awaitable<SendResult> Http1Pool::send(std::shared_ptr<http::Exchange> ex, bool fresh) {
  bool upgrade = ex->request.upgrade;
  std::shared_ptr<Connection> conn;
  if (!fresh && !upgrade) conn = takeIdle();
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
    conn = std::make_shared<Connection>(std::move(r.socket), shared_, &gauge);
  }
  if (ex->cancelled()) {
    // The client left while we connected: keep the connection for others.
    if (!upgrade && !draining_) makeIdle(conn);
    co_return SendResult{SendOutcome::kFailed, ex->error() == ProxyError::kNone ? ProxyError::kDownstreamReset : ex->error()};
  }
  auto end = co_await exchangeOn(conn, ex, reused);
  ex->onCancel = nullptr;
  if (end.reusable && !draining_ && !upgrade && !conn->closed) {
    makeIdle(std::move(conn));
  } else {
    conn->close();
  }
  co_return end.result;
}

awaitable<Http1Pool::ReadEnd> Http1Pool::exchangeOn(std::shared_ptr<Connection> conn,
                                                     std::shared_ptr<http::Exchange> ex, bool reused) {
  std::weak_ptr<Connection> weak = conn;
  ex->onCancel = [weak] {
    if (auto c = weak.lock()) c->close();
  };
  const auto& req = ex->request;
  ++conn->requests;
  bool last = options_.maxRequestsPerConnection && conn->requests >= *options_.maxRequestsPerConnection;
  SendState state;
  state.reused = reused;
  state.framing = req.upgrade ? http::BodyFraming::kNone : http::requestFraming(req);
  http::RequestHeadOptions ho;
  ho.upgrade = req.upgrade;
  ho.close = last && !req.upgrade;
  std::string& head = conn->head;
  head.clear();
  http::appendRequestHead(head, req, state.framing, ho);
  conn->in.clear();
  conn->parser.reset(http::iequals(req.method, "HEAD"));

  auto notProcessedOrReset = [&] {
    ReadEnd e;
    if (reused && !ex->cancelled()) {
      e.result.outcome = SendOutcome::kNotProcessed;
    } else {
      e.result.outcome = SendOutcome::kFailed;
      e.result.error = ex->cancelled() ? ex->error() : ProxyError::kUpstreamReset;
    }
    return e;
  };
  if (co_await conn->write(std::string_view(head)) != IoStatus::kOk) co_return notProcessedOrReset();
  if (state.framing == http::BodyFraming::kNone) {
    // No body to send: nothing to race the response reader against.
    state.bodySent = true;
    auto end = co_await readResponse(*conn, *ex, state);
    if (last) end.reusable = false;
    co_return end;
  }
  auto r = co_await (sendBody(*conn, *ex, state) || readResponse(*conn, *ex, state));
  if (r.index() == 1) {
    auto end = std::get<1>(r);
    if (!state.bodySent) end.reusable = false;
    if (last) end.reusable = false;
    co_return end;
  }
  // The request body failed (client gone or malformed) before the response
  // ended: this connection is mid-message and cannot be reused.
  ReadEnd e;
  if (ex->hasResponse()) {
    ex->responseBody.fail(ex->requestBody.error() == ProxyError::kNone ? ProxyError::kDownstreamReset
                                                                        : ex->requestBody.error());
    e.result.outcome = SendOutcome::kOk;
  } else {
    e.result.outcome = SendOutcome::kFailed;
    e.result.error = ex->requestBody.error() == ProxyError::kNone ? ProxyError::kDownstreamReset
                                                                   : ex->requestBody.error();
  }
  co_return e;
}

// Streams the request body upstream. Never returns on success (the response
// reader decides when the exchange is over); returns when the request body
// itself failed.
awaitable<void> Http1Pool::sendBody(Connection& conn, http::Exchange& ex, SendState& state) {
  if (state.framing == http::BodyFraming::kNone) {
    state.bodySent = true;
    co_await http::h1io::sleepForever();
  }
  auto& pipe = ex.requestBody;
  uint64_t sent = 0;
  const uint64_t declared = ex.request.contentLength.value_or(0);
  std::string chunkHead;
  std::string tail;
  for (;;) {
    co_await pipe.waitReadable();
    std::string_view data = pipe.data();
    if (!data.empty()) {
      if (state.framing == http::BodyFraming::kContentLength && sent + data.size() > declared) {
        state.requestFailed = true;
        co_return;  // more than the declared length: never smuggle the excess upstream
      }
      IoStatus st;
      if (state.framing == http::BodyFraming::kChunked) {
        chunkHead.clear();
        http::appendChunkHeader(chunkHead, data.size());
        std::array<boost::asio::const_buffer, 3> bufs{boost::asio::buffer(chunkHead),
                                                      boost::asio::buffer(data.data(), data.size()),
                                                      boost::asio::buffer(http::kCrlf.data(), http::kCrlf.size())};
        st = co_await conn.write(bufs);
      } else {
        st = co_await conn.write(data);
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
        state.requestFailed = true;
        co_return;
      }
      if (state.framing == http::BodyFraming::kChunked) {
        tail.clear();
        http::appendLastChunk(tail, pipe.trailers());
        if (co_await conn.write(std::string_view(tail)) != IoStatus::kOk) co_await http::h1io::sleepForever();
      } else if (sent != declared) {
        state.requestFailed = true;
        co_return;  // body shorter than its Content-Length
      }
      state.bodySent = true;
      co_await http::h1io::sleepForever();
    }
    if (pipe.abandoned()) {
      state.requestFailed = true;
      co_return;
    }
  }
}

awaitable<Http1Pool::ReadEnd> Http1Pool::readResponse(Connection& conn, http::Exchange& ex, SendState& state) {
  auto& parser = conn.parser;
  const bool headRequest = http::iequals(ex.request.method, "HEAD");
  ReadEnd end;
  auto beforeHead = [&](ProxyError why) {
    ReadEnd e;
    if (state.reused && !state.anyResponseByte && why == ProxyError::kUpstreamReset && !ex.cancelled()) {
      e.result.outcome = SendOutcome::kNotProcessed;
    } else {
      e.result.outcome = SendOutcome::kFailed;
      e.result.error = ex.cancelled() && ex.error() != ProxyError::kNone ? ex.error() : why;
    }
    return e;
  };

  // --- head (interim 1xx responses other than 101 are dropped) ---
  for (;;) {
    size_t consumed = 0;
    auto ev = parser.parse(conn.in.view(), consumed);
    conn.in.consume(consumed);
    if (ev == http::Http1Event::kError) co_return beforeHead(ProxyError::kUpstreamProtocol);
    if (ev == http::Http1Event::kHead) {
      int status = parser.responseHead().status;
      if (status >= 100 && status < 200 && status != 101) {
        parser.reset(headRequest);
        continue;
      }
      break;
    }
    size_t before = conn.in.size();
    auto st = co_await http::h1io::readSome(conn.socket, conn.in, kReadChunk);
    if (conn.in.size() > before) state.anyResponseByte = true;
    if (st != IoStatus::kOk) {
      if (state.anyResponseByte && parser.started()) {
        // EOF in the middle of a head.
        co_return beforeHead(ProxyError::kUpstreamReset);
      }
      co_return beforeHead(ProxyError::kUpstreamReset);
    }
  }
  if (ex.cancelled()) co_return beforeHead(ProxyError::kDownstreamReset);
  if (ex.mayRetryResponse && !ex.request.upgrade && ex.isRetryableResponse(parser.responseHead())) {
    // Discarded for a retry: the body is not read, so the connection is not reused.
    end.result.outcome = SendOutcome::kRetryableResponse;
    end.reusable = false;
    co_return end;
  }

  ex.response = std::move(parser.responseHead());
  const bool switching = ex.response.status == 101;
  if (switching && ex.request.upgrade) {
    ex.tunnel = true;
    ex.responseStarted();
    co_await tunnel(conn, ex);
    end.result.outcome = SendOutcome::kOk;
    end.reusable = false;
    co_return end;
  }
  ex.responseStarted();
  end.result.outcome = SendOutcome::kOk;
  if (switching) {
    // The server switched protocols unasked: nothing more we can relay.
    ex.responseBody.fail(ProxyError::kUpstreamProtocol);
    co_return end;
  }

  // --- body ---
  auto& pipe = ex.responseBody;
  for (;;) {
    size_t consumed = 0;
    auto ev = parser.done() ? http::Http1Event::kDone : parser.parse(conn.in.view(), consumed);
    conn.in.consume(consumed);
    if (!parser.body().empty()) {
      pipe.push(parser.body());
      parser.body().clear();
    }
    if (ev == http::Http1Event::kError) {
      pipe.fail(ProxyError::kUpstreamProtocol);
      co_return end;
    }
    if (ev == http::Http1Event::kDone) {
      pipe.finish(std::move(parser.trailers()));
      end.reusable = ex.response.keepAlive && !parser.untilEof() && conn.in.empty() && !ex.cancelled();
      co_return end;
    }
    if (ev == http::Http1Event::kBody) continue;
    if (!co_await pipe.waitWritable()) {
      // Nobody reads the rest (client gone): stop; the connection is mid-body.
      if (!pipe.ended()) pipe.fail(ProxyError::kDownstreamReset);
      co_return end;
    }
    size_t room = pipe.buffered() < pipe.highWater() ? pipe.highWater() - pipe.buffered() : 0;
    size_t want = std::min(std::max<size_t>(room, 1), kReadChunk);
    auto st = co_await http::h1io::readSome(conn.socket, conn.in, want);
    if (st == IoStatus::kOk) continue;
    if (st == IoStatus::kEof && parser.untilEof()) {
      // Parse what is buffered first, then let EOF end the body.
      for (;;) {
        size_t c2 = 0;
        auto e2 = parser.parse(conn.in.view(), c2);
        conn.in.consume(c2);
        if (e2 != http::Http1Event::kBody) break;
      }
      if (!parser.body().empty()) {
        pipe.push(parser.body());
        parser.body().clear();
      }
      if (parser.finishOnEof() == http::Http1Event::kDone) {
        pipe.finish(std::move(parser.trailers()));
        co_return end;
      }
    }
    pipe.fail(ex.cancelled() && ex.error() != ProxyError::kNone ? ex.error() : ProxyError::kUpstreamReset);
    co_return end;
  }
}

// Raw bytes both ways after a 101 until either side closes.
awaitable<void> Http1Pool::tunnel(Connection& conn, http::Exchange& ex) {
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
      auto st = co_await http::h1io::readSome(conn.socket, buf, conn.readTimer, std::nullopt, kReadChunk);
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
        if (co_await conn.write(data) != IoStatus::kOk) co_return;
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
