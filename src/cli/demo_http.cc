#include "cli/demo_http.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "http/codec/http1_parser.h"
#include "http/codec/http1_serializer.h"
#include "http/session/exchange.h"
#include "http/session/http1_io.h"
#include "http/session/http2_client.h"
#include "net/connect.h"

namespace weft::cli {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {
milliseconds leftUntil(Clock::time_point deadline) {
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}
}  // namespace

Http1Client::Http1Client(asio::any_io_executor ex, tcp::endpoint target) : ex_(std::move(ex)), target_(target) {}
Http1Client::~Http1Client() { close(); }

void Http1Client::close() {
  if (socket_) http::h1io::closeSocket(*socket_);
  socket_.reset();
  in_.clear();
}

asio::awaitable<HttpResult> Http1Client::request(http::RequestHead head, milliseconds timeout) {
  HttpResult r;
  auto deadline = Clock::now() + timeout;
  if (!socket_) {
    auto c = co_await net::connectWithDeadline(target_, timeout);
    if (c.error) {
      r.error = fmt::format("connect: {}", c.error.message());
      co_return r;
    }
    socket_ = std::make_unique<tcp::socket>(std::move(c.socket));
    boost::system::error_code ec;
    socket_->set_option(tcp::no_delay(true), ec);
  }
  std::string out;
  http::RequestHeadOptions ho;
  ho.close = !head.keepAlive;
  http::appendRequestHead(out, head, http::BodyFraming::kNone, ho);
  asio::steady_timer timer(ex_);
  if (co_await http::h1io::writeAll(*socket_, std::string_view(out), timer, leftUntil(deadline)) !=
      http::h1io::IoStatus::kOk) {
    close();
    r.error = "write failed";
    co_return r;
  }
  http::Http1ResponseParser parser;
  parser.reset(head.method == "HEAD");
  for (;;) {
    size_t consumed = 0;
    auto ev = parser.parse(in_, consumed);
    in_.erase(0, consumed);
    r.body += parser.body();
    parser.body().clear();
    if (ev == http::Http1Event::kDone) break;
    if (ev == http::Http1Event::kError) {
      close();
      r.error = fmt::format("bad response: {}", http::http1ErrorReason(parser.error()));
      co_return r;
    }
    if (ev != http::Http1Event::kNeedMore) continue;
    auto st = co_await http::h1io::readSome(*socket_, in_, timer, leftUntil(deadline));
    if (st == http::h1io::IoStatus::kTimeout) {
      close();
      r.error = "timeout";
      co_return r;
    }
    if (st != http::h1io::IoStatus::kOk) {
      bool done = parser.headDone() && parser.finishOnEof() == http::Http1Event::kDone;
      r.body += parser.body();
      if (!done) {
        close();
        r.error = parser.started() ? "connection closed mid-response" : "connection closed before the response";
        co_return r;
      }
      close();
      break;
    }
  }
  auto& rh = parser.responseHead();
  r.ok = true;
  r.status = rh.status;
  r.headers = std::move(rh.headers);
  r.trailers = std::move(parser.trailers());
  if (!rh.keepAlive || !head.keepAlive) close();
  co_return r;
}

Http2Client::Http2Client(asio::any_io_executor ex, tcp::endpoint target) : ex_(std::move(ex)), target_(target) {}
Http2Client::~Http2Client() { close(); }

void Http2Client::close() {
  if (conn_) conn_->shutdown();
  conn_.reset();
}

asio::awaitable<HttpResult> Http2Client::request(http::RequestHead head, std::string body, milliseconds timeout) {
  HttpResult r;
  auto deadline = Clock::now() + timeout;
  if (conn_ && conn_->retired()) conn_.reset();
  if (!conn_) {
    auto c = co_await net::connectWithDeadline(target_, timeout);
    if (c.error) {
      r.error = fmt::format("connect: {}", c.error.message());
      co_return r;
    }
    boost::system::error_code ec;
    c.socket.set_option(tcp::no_delay(true), ec);
    http::Http2ClientOptions o;
    o.direction = "demo";
    o.idleTimeout = std::chrono::seconds(60);
    conn_ = http::Http2ClientConnection::start(std::move(c.socket), o);
  }
  auto ex = std::make_shared<http::Exchange>(ex_);
  head.version = http::Version::kHttp2;
  head.hasBody = !body.empty();
  if (!body.empty()) head.contentLength = body.size();
  ex->request = std::move(head);
  if (!body.empty()) ex->requestBody.push(body);
  ex->requestBody.finish();
  asio::steady_timer timer(ex_);
  timer.expires_at(deadline);
  auto conn = conn_;  // the connection outlives this call even if close() runs meanwhile
  auto sent = co_await (conn->send(ex) || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (sent.index() == 1) {
    ex->cancel(ProxyError::kTimeout);  // resets the stream
    r.error = "timeout";
    co_return r;
  }
  auto status = std::get<0>(sent);
  if (status.outcome != http::SendOutcome::kOk) {
    r.error = status.outcome == http::SendOutcome::kNotProcessed
                  ? std::string("stream refused / GOAWAY (not processed)")
                  : fmt::format("stream failed before the response: {}", proxyErrorCode(status.error));
    conn_.reset();
    co_return r;
  }
  auto& rb = ex->responseBody;
  // The stream is over: the whole (small) body is buffered in the pipe.
  r.body = std::string(rb.data());
  if (rb.failed()) {
    r.error = fmt::format("response cut after the head: {}", proxyErrorCode(rb.error()));
    co_return r;
  }
  r.ok = true;
  r.status = ex->response.status;
  r.headers = std::move(ex->response.headers);
  r.trailers = rb.takeTrailers();
  co_return r;
}

}  // namespace weft::cli
