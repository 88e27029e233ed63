#include "upstream/http1_connection.h"

#include <algorithm>

#include <boost/asio/write.hpp>

#include "core/metrics.h"
#include "http/codec/http1_serializer.h"
#include "http/session/http1_io.h"
#include "net/read_readiness.h"

namespace weft::upstream {

namespace {
// A connection reused sooner than this after its last response is never
// watched while idle: the watch read would cost a failed recv (EAGAIN) per
// request on a busy connection. A server that closes in that window is
// found out by the next request, which then fails before any response byte
// and is retried as not-processed (DESIGN.md §6).
constexpr std::chrono::milliseconds kIdleWatchDelay{50};
}  // namespace

// --- the idle list ---

// Idle watch without a coroutine or a race per request: the idle timeout is
// a lazily re-armed deadline, and the watch read starts only once the
// connection has been idle for kIdleWatchDelay (see startIdleWatch()).
void Http1PoolShared::makeIdle(std::shared_ptr<Http1Connection> conn) {
  conn->idle = true;
  ++conn->idleGeneration;
  conn->idleDeadline.setAfterCoarse(idleTimeout);
  conn->watchDeadline.setAfterCoarse(kIdleWatchDelay);
  idle.push_back(std::move(conn));
}

std::shared_ptr<Http1Connection> Http1PoolShared::takeIdle() {
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

bool Http1PoolShared::hasIdle() const {
  return std::any_of(idle.rbegin(), idle.rend(), [](const auto& c) { return !c->closed; });
}

// --- the connection ---

Http1Connection::Http1Connection(boost::asio::ip::tcp::socket s, std::weak_ptr<Http1PoolShared> sh, Gauge* g)
    : socket(std::move(s)),
      readTimer(socket.get_executor()),
      writeDeadline(socket.get_executor(), [this] { close(); }),
      idleDeadline(socket.get_executor(), [this] { retireIfIdle(idleGeneration); }),
      watchDeadline(socket.get_executor(), [this] { startIdleWatch(); }),
      shared(std::move(sh)),
      gauge(g) {}

Http1Connection::~Http1Connection() {
  // Released while it waited for room (a worker shutting down): the pipe
  // may outlive us.
  if (awaitingRoom_ && ex_) ex_->responseBody.listenWritable(nullptr);
  close();
}

void Http1Connection::close() {
  if (closed) return;
  closed = true;
  http::h1io::closeSocket(socket);
  idleDeadline.clear();
  watchDeadline.clear();
  writeDeadline.clear();
  if (auto s = shared.lock()) --s->open;
  if (gauge) gauge->add(-1);
}

void Http1Connection::retireIfIdle(uint64_t generation) {
  if (!idle || idleGeneration != generation) return;
  auto self = shared_from_this();
  if (auto s = shared.lock()) std::erase(s->idle, self);
  idle = false;
  close();
}

// One read pending while idle: its completion means the server closed the
// connection or sent bytes nobody asked for — done either way. (A read,
// not async_wait(wait_read): Asio re-registers with epoll_ctl per wait.)
void Http1Connection::startIdleWatch() {
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

void Http1Connection::takeForUse() {
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

bool Http1Connection::prepareRequest(const http::RequestHead& req, http::BodyFraming framing,
                                     std::optional<uint32_t> maxRequests) {
  ++requests;
  bool last = maxRequests && requests >= *maxRequests;
  http::RequestHeadOptions ho;
  ho.upgrade = req.upgrade;
  ho.close = last && !req.upgrade;
  head.clear();
  http::appendRequestHead(head, req, framing, ho);
  in.clear();
  parser.reset(http::iequals(req.method, "HEAD"));
  return last;
}

void Http1Connection::closeOnCancel(http::Exchange& ex) {
  ex.onCancel = [weak = weak_from_this()] {
    if (auto c = weak.lock()) c->close();
  };
}

// --- response steps ---

Http1Connection::HeadStep Http1Connection::parseHead(bool headRequest) {
  for (;;) {
    size_t consumed = 0;
    auto ev = parser.parse(in.view(), consumed);
    in.consume(consumed);
    if (ev == http::Http1Event::kError) return HeadStep::kMalformed;
    if (ev != http::Http1Event::kHead) return HeadStep::kMore;
    int status = parser.responseHead().status;
    if (status < 100 || status >= 200 || status == 101) return HeadStep::kHead;
    parser.reset(headRequest);  // an interim response: the real one follows
  }
}

std::optional<Http1ReadEnd> Http1Connection::takeHead(http::Exchange& ex, Http1SendState& state) {
  if (ex.cancelled()) return beforeHead(ex, state, ProxyError::kDownstreamReset);
  Http1ReadEnd end;
  end.result.outcome = http::SendOutcome::kOk;
  if (ex.mayRetryResponse && !ex.request.upgrade && ex.isRetryableResponse(parser.responseHead())) {
    // Discarded for a retry: the body is not read, so the connection is not reused.
    end.result.outcome = http::SendOutcome::kRetryableResponse;
    return end;
  }
  ex.response = std::move(parser.responseHead());
  const bool switching = ex.response.status == 101;
  if (switching && ex.request.upgrade) ex.tunnel = true;
  ex.responseStarted();
  if (switching && !ex.request.upgrade) {
    // The server switched protocols unasked: nothing more we can relay.
    ex.responseBody.fail(ProxyError::kUpstreamProtocol);
    return end;
  }
  return std::nullopt;
}

Http1Connection::BodyStep Http1Connection::relayBody(http::BodyPipe& pipe) {
  for (;;) {
    size_t consumed = 0;
    auto ev = parser.done() ? http::Http1Event::kDone : parser.parse(in.view(), consumed);
    in.consume(consumed);
    if (!parser.body().empty()) {
      pipe.push(parser.body());
      parser.body().clear();
    }
    if (ev == http::Http1Event::kError) return BodyStep::kMalformed;
    if (ev == http::Http1Event::kDone) return BodyStep::kDone;
    if (ev != http::Http1Event::kBody) return BodyStep::kMore;
  }
}

void Http1Connection::endBodyAtEof(http::Exchange& ex, bool eof) {
  auto& pipe = ex.responseBody;
  if (eof && parser.untilEof()) {
    // Parse what is buffered first, then let EOF end the body.
    for (;;) {
      size_t consumed = 0;
      auto ev = parser.parse(in.view(), consumed);
      in.consume(consumed);
      if (ev != http::Http1Event::kBody) break;
    }
    if (!parser.body().empty()) {
      pipe.push(parser.body());
      parser.body().clear();
    }
    if (parser.finishOnEof() == http::Http1Event::kDone) {
      pipe.finish(std::move(parser.trailers()));
      return;
    }
  }
  pipe.fail(ex.cancelled() && ex.error() != ProxyError::kNone ? ex.error() : ProxyError::kUpstreamReset);
}

Http1ReadEnd Http1Connection::bodyDone(http::Exchange& ex) {
  ex.responseBody.finish(std::move(parser.trailers()));
  Http1ReadEnd end;
  end.result.outcome = http::SendOutcome::kOk;
  end.reusable = ex.response.keepAlive && !parser.untilEof() && in.empty() && !ex.cancelled();
  return end;
}

Http1ReadEnd Http1Connection::beforeHead(const http::Exchange& ex, const Http1SendState& state, ProxyError why) {
  Http1ReadEnd e;
  if (state.reused && !state.anyResponseByte && why == ProxyError::kUpstreamReset && !ex.cancelled()) {
    e.result.outcome = http::SendOutcome::kNotProcessed;
  } else {
    e.result.outcome = http::SendOutcome::kFailed;
    e.result.error = ex.cancelled() && ex.error() != ProxyError::kNone ? ex.error() : why;
  }
  return e;
}

// --- a request without a body, without a coroutine ---

void Http1Connection::startBodyless(std::shared_ptr<http::Exchange> ex, std::shared_ptr<http::SendObserver> observer,
                                    bool reused, bool last) {
  ex_ = std::move(ex);
  observer_ = std::move(observer);
  state_ = {};
  state_.reused = reused;
  last_ = last;
  headRequest_ = http::iequals(ex_->request.method, "HEAD");
  inBody_ = false;
  closeOnCancel(*ex_);
  writeDeadline.setAfterCoarse(kHttp1WriteStall);
  boost::asio::async_write(socket, boost::asio::buffer(head),
                           [self = shared_from_this()](boost::system::error_code ec, size_t) { self->onHeadWritten(ec); });
}

void Http1Connection::onHeadWritten(boost::system::error_code ec) {
  writeDeadline.clear();
  if (ec) return endExchange(beforeHead(*ex_, state_, ProxyError::kUpstreamReset));
  readResponse();
}

void Http1Connection::readResponse() {
  size_t want = kHttp1ReadChunk;
  if (inBody_) {
    // Back-pressure: read no more than the pipe can take below its high water.
    const auto& pipe = ex_->responseBody;
    size_t room = pipe.buffered() < pipe.highWater() ? pipe.highWater() - pipe.buffered() : 0;
    want = std::min(std::max<size_t>(room, 1), kHttp1ReadChunk);
  }
  char* into = in.prepare(want);
  socket.async_read_some(boost::asio::buffer(into, want),
                         [self = shared_from_this(), want](boost::system::error_code ec, size_t got) {
                           self->onResponseRead(ec, want, got);
                         });
}

void Http1Connection::onResponseRead(boost::system::error_code ec, size_t want, size_t got) {
  net::noteShortRead(socket, want, got);
  in.commit(got);
  if (got) state_.anyResponseByte = true;
  if (ec) {
    if (!inBody_) return endExchange(beforeHead(*ex_, state_, ProxyError::kUpstreamReset));
    endBodyAtEof(*ex_, ec == boost::asio::error::eof);
    return endExchange({{http::SendOutcome::kOk}, false});
  }
  if (!advance()) readResponse();
}

bool Http1Connection::advance() {
  if (!inBody_) {
    auto step = parseHead(headRequest_);
    if (step == HeadStep::kMalformed) {
      endExchange(beforeHead(*ex_, state_, ProxyError::kUpstreamProtocol));
      return true;
    }
    if (step == HeadStep::kMore) return false;
    if (auto end = takeHead(*ex_, state_)) {
      endExchange(*end);
      return true;
    }
    inBody_ = true;  // (never a tunnel: startBodyless() is not for upgrades)
  }
  auto& pipe = ex_->responseBody;
  switch (relayBody(pipe)) {
    case BodyStep::kMalformed:
      pipe.fail(ProxyError::kUpstreamProtocol);
      endExchange({{http::SendOutcome::kOk}, false});
      return true;
    case BodyStep::kDone:
      endExchange(bodyDone(*ex_));
      return true;
    case BodyStep::kMore:
      break;
  }
  if (pipe.abandoned() || pipe.ended()) {
    // Nobody reads the rest (client gone): stop; the connection is mid-body.
    if (!pipe.ended()) pipe.fail(ProxyError::kDownstreamReset);
    endExchange({{http::SendOutcome::kOk}, false});
    return true;
  }
  if (pipe.buffered() >= pipe.highWater()) {
    // Read on once the consumer made room (or left).
    if (!roomWait_) roomWait_.emplace(socket.get_executor());
    roomWait_->expires_at(boost::asio::steady_timer::time_point::max());
    roomWait_->async_wait([self = shared_from_this()](boost::system::error_code) {
      self->awaitingRoom_ = false;
      if (self->ex_ && !self->advance()) self->readResponse();
    });
    awaitingRoom_ = true;
    pipe.listenWritable(this);
    return true;
  }
  return false;
}

void Http1Connection::bodyWritable() {
  // Called from inside the consumer's consume() (or a cancel()): the wait's
  // handler resumes from an event of its own.
  roomWait_->cancel();
}

void Http1Connection::endExchange(Http1ReadEnd end) {
  auto ex = std::move(ex_);
  auto observer = std::move(observer_);
  ex->onCancel = nullptr;
  auto sh = shared.lock();
  if (end.reusable && !last_ && sh && !sh->draining && !closed) {
    sh->makeIdle(shared_from_this());
  } else {
    close();
  }
  observer->sendDone(end.result);
}

}  // namespace weft::upstream
