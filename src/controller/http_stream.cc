#include "controller/http_stream.h"

#include <openssl/ssl.h>

#include <charconv>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "http/codec/http1_parser.h"
#include "net/connect.h"

namespace weft::controller {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using namespace boost::asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::optional<HttpTarget> parseHttpUrl(std::string_view url, std::string* why) {
  auto bad = [&](std::string w) -> std::optional<HttpTarget> {
    if (why) *why = std::move(w);
    return std::nullopt;
  };
  HttpTarget t;
  if (url.starts_with("http://")) {
    url.remove_prefix(7);
    t.port = 80;
  } else if (url.starts_with("https://")) {
    url.remove_prefix(8);
    t.tls = true;
    t.port = 443;
  } else {
    return bad("must start with http:// or https://");
  }
  if (url.ends_with("/")) url.remove_suffix(1);
  if (url.empty()) return bad("has no host");
  if (url.find_first_of("/?#@ ") != std::string_view::npos) return bad("must be scheme://host[:port] only");
  std::string_view host = url, port;
  if (url.front() == '[') {
    auto close = url.find(']');
    if (close == std::string_view::npos) return bad("has an unterminated [ipv6] host");
    host = url.substr(1, close - 1);
    auto rest = url.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return bad("has junk after the [ipv6] host");
      port = rest.substr(1);
    }
  } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    host = url.substr(0, colon);
    port = url.substr(colon + 1);
  }
  if (host.empty()) return bad("has no host");
  if (!port.empty() || url.back() == ':') {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) return bad("has a bad port");
    t.port = static_cast<uint16_t>(v);
  }
  t.host = std::string(host);
  bool v6 = t.host.find(':') != std::string::npos;
  t.authority = (v6 ? "[" + t.host + "]" : t.host) + ":" + std::to_string(t.port);
  return t;
}

std::shared_ptr<ssl::context> makeClientTlsContext(const TlsFiles& files) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (!files.caFile.empty()) {
    ctx->load_verify_file(files.caFile, ec);
    if (ec) throw std::runtime_error(files.caFile + ": cannot load CA bundle: " + ec.message());
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) throw std::runtime_error("cannot load the system CA bundle: " + ec.message());
  }
  if (!files.certFile.empty() || !files.keyFile.empty()) {
    if (files.certFile.empty() || files.keyFile.empty()) {
      throw std::runtime_error("a client certificate needs both cert_file and key_file");
    }
    ctx->use_certificate_chain_file(files.certFile, ec);
    if (ec) throw std::runtime_error(files.certFile + ": cannot load certificate: " + ec.message());
    ctx->use_private_key_file(files.keyFile, ssl::context::pem, ec);
    if (ec) throw std::runtime_error(files.keyFile + ": cannot load key: " + ec.message());
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

std::string_view httpStatusName(HttpStatus s) {
  switch (s) {
    case HttpStatus::kOk:
      return "ok";
    case HttpStatus::kDone:
      return "done";
    case HttpStatus::kConnectFailed:
      return "connect";
    case HttpStatus::kTlsFailed:
      return "tls";
    case HttpStatus::kTimeout:
      return "timeout";
    case HttpStatus::kClosed:
      return "closed";
    case HttpStatus::kProtocol:
      return "protocol";
  }
  return "other";
}

struct HttpStream::Impl {
  Impl(asio::any_io_executor ex, HttpTarget t, std::shared_ptr<ssl::context> c)
      : target(std::move(t)), tlsCtx(std::move(c)), plain(ex), timer(ex), resolver(ex) {}

  HttpTarget target;
  std::shared_ptr<ssl::context> tlsCtx;
  tcp::socket plain;
  std::unique_ptr<ssl::stream<tcp::socket>> tls;
  asio::steady_timer timer;
  tcp::resolver resolver;
  http::Http1ResponseParser parser{64 * 1024};
  std::string in;       // received, not yet parsed
  std::string pending;  // parsed body bytes not yet handed out
  bool eof = false;
  bool done = false;

  template <class Stream>
  asio::awaitable<std::pair<boost::system::error_code, size_t>> readSomeOn(Stream& s, std::chrono::milliseconds d) {
    constexpr size_t kChunk = 16 * 1024;
    size_t old = in.size();
    in.resize(old + kChunk);
    timer.expires_after(d);
    auto r = co_await (s.async_read_some(asio::buffer(in.data() + old, kChunk), kTuple) || timer.async_wait(kTuple));
    if (r.index() == 1) {
      in.resize(old);
      co_return std::pair{boost::system::error_code(asio::error::timed_out), size_t{0}};
    }
    auto [ec, n] = std::get<0>(r);
    in.resize(old + n);
    co_return std::pair{ec, n};
  }

  asio::awaitable<std::pair<boost::system::error_code, size_t>> readSome(std::chrono::milliseconds d) {
    if (tls) co_return co_await readSomeOn(*tls, d);
    co_return co_await readSomeOn(plain, d);
  }

  template <class Stream>
  asio::awaitable<bool> writeOn(Stream& s, std::string_view data, std::chrono::milliseconds d) {
    timer.expires_after(d);
    auto r = co_await (asio::async_write(s, asio::buffer(data.data(), data.size()), kTuple) ||
                       timer.async_wait(kTuple));
    co_return r.index() == 0 && !std::get<0>(std::get<0>(r));
  }

  // Feeds `in` to the parser; moves body bytes to `pending`. Returns false on a
  // protocol error.
  bool parse() {
    while (!in.empty() && !done) {
      size_t consumed = 0;
      auto ev = parser.parse(in, consumed);
      in.erase(0, consumed);
      auto& body = parser.body();
      if (!body.empty()) {
        pending += body;
        body.clear();
      }
      if (ev == http::Http1Event::kError) return false;
      if (ev == http::Http1Event::kDone) done = true;
      if (ev == http::Http1Event::kNeedMore) break;
    }
    return true;
  }

  void closeAll() {
    boost::system::error_code ignored;
    timer.cancel();
    resolver.cancel();
    auto& sock = tls ? tls->next_layer() : plain;
    sock.shutdown(tcp::socket::shutdown_both, ignored);
    sock.close(ignored);
  }
};

HttpStream::HttpStream(asio::any_io_executor ex, HttpTarget target, std::shared_ptr<ssl::context> tls)
    : impl_(std::make_unique<Impl>(std::move(ex), std::move(target), std::move(tls))) {}

HttpStream::~HttpStream() { impl_->closeAll(); }

void HttpStream::close() { impl_->closeAll(); }

std::string HttpStream::header(std::string_view name) const {
  if (!impl_->parser.headDone()) return "";
  return std::string(impl_->parser.responseHead().headers.get(name));
}

asio::awaitable<HttpStatus> HttpStream::open(std::string_view method, std::string_view target,
                                             const std::vector<std::string>& headers, std::string_view body,
                                             std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(1), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      deadline - std::chrono::steady_clock::now()));
  };

  m.timer.expires_after(left());
  auto resolved = co_await (m.resolver.async_resolve(m.target.host, std::to_string(m.target.port), kTuple) ||
                            m.timer.async_wait(kTuple));
  if (resolved.index() == 1) co_return HttpStatus::kTimeout;
  auto [rec, results] = std::get<0>(resolved);
  if (rec || results.empty()) co_return HttpStatus::kConnectFailed;

  bool connected = false;
  for (const auto& entry : results) {
    auto r = co_await net::connectWithDeadline(entry.endpoint(), left());
    if (r.error) {
      if (std::chrono::steady_clock::now() >= deadline) co_return HttpStatus::kTimeout;
      continue;
    }
    m.plain = std::move(r.socket);
    connected = true;
    break;
  }
  if (!connected) co_return HttpStatus::kConnectFailed;
  // A watch can be quiet for minutes: keepalive finds a dead peer (a host
  // that vanished without a FIN) in about 25 s instead of never.
  {
    boost::system::error_code ignored;
    m.plain.set_option(asio::socket_base::keep_alive(true), ignored);
    int idle = 10, intvl = 5, cnt = 3;
    ::setsockopt(m.plain.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(m.plain.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    ::setsockopt(m.plain.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  }

  if (m.target.tls) {
    if (!m.tlsCtx) co_return HttpStatus::kTlsFailed;
    m.tls = std::make_unique<ssl::stream<tcp::socket>>(std::move(m.plain), *m.tlsCtx);
    boost::system::error_code ec;
    asio::ip::make_address(m.target.host, ec);
    if (ec) SSL_set_tlsext_host_name(m.tls->native_handle(), m.target.host.c_str());  // SNI for names only
    m.tls->set_verify_callback(ssl::host_name_verification(m.target.host));
    m.timer.expires_after(left());
    auto hs = co_await (m.tls->async_handshake(ssl::stream_base::client, kTuple) || m.timer.async_wait(kTuple));
    if (hs.index() == 1) co_return HttpStatus::kTimeout;
    if (std::get<0>(std::get<0>(hs))) co_return HttpStatus::kTlsFailed;
  }

  std::string req;
  req.reserve(256 + body.size());
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(m.target.authority);
  req.append("\r\nAccept-Encoding: identity\r\nUser-Agent: weft-controller\r\n");
  for (const auto& h : headers) req.append(h).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  req.append("\r\n").append(body);
  bool wrote = m.tls ? co_await m.writeOn(*m.tls, req, left()) : co_await m.writeOn(m.plain, req, left());
  if (!wrote) co_return std::chrono::steady_clock::now() >= deadline ? HttpStatus::kTimeout : HttpStatus::kClosed;

  m.parser.reset(method == "HEAD");
  while (!m.parser.headDone()) {
    if (!m.parse()) co_return HttpStatus::kProtocol;
    if (m.parser.headDone()) break;
    auto [ec, n] = co_await m.readSome(left());
    if (ec == asio::error::timed_out) co_return HttpStatus::kTimeout;
    if (ec) co_return HttpStatus::kClosed;
  }
  status_ = m.parser.responseHead().status;
  co_return HttpStatus::kOk;
}

asio::awaitable<HttpStatus> HttpStream::readBody(std::string& out, std::chrono::milliseconds idle) {
  auto& m = *impl_;
  for (;;) {
    if (!m.parse()) co_return HttpStatus::kProtocol;
    if (!m.pending.empty()) {
      out += m.pending;
      m.pending.clear();
      co_return HttpStatus::kOk;
    }
    if (m.done) co_return HttpStatus::kDone;
    if (m.eof) {
      if (m.parser.finishOnEof() == http::Http1Event::kDone) {
        m.done = true;
        continue;
      }
      co_return HttpStatus::kClosed;
    }
    auto [ec, n] = co_await m.readSome(idle);
    if (ec == asio::error::timed_out) co_return HttpStatus::kTimeout;
    if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
      m.eof = true;
    } else if (ec) {
      co_return HttpStatus::kClosed;
    }
  }
}

asio::awaitable<HttpStatus> HttpStream::readAll(std::string& out, size_t maxBytes, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) co_return HttpStatus::kTimeout;
    auto s = co_await readBody(out, left);
    if (s == HttpStatus::kDone) co_return HttpStatus::kOk;
    if (s != HttpStatus::kOk) co_return s;
    if (out.size() > maxBytes) co_return HttpStatus::kProtocol;
  }
}

}  // namespace weft::controller
