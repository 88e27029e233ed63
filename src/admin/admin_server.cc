#include "admin/admin_server.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <unordered_set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "core/logging.h"
#include "core/metrics.h"

namespace weft::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace detail {
struct AdminConnection {
  AdminConnection(tcp::socket s, std::chrono::milliseconds writeTimeout)
      : stream(std::move(s)), writeTimeout(writeTimeout) {}
  beast::tcp_stream stream;
  std::chrono::milliseconds writeTimeout;
  bool closed = false;

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close();
  }
};
}  // namespace detail

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kOtherPath = "other";

void countRequest(std::string_view path, unsigned code) {
  // The admin thread is one thread, so its cells are cached thread-locally;
  // `path` is always a registered route or "other", which bounds cardinality.
  threadCounter("weft_admin_requests_total", "Admin HTTP requests by path and status code",
                labels({labelPair("path", path), labelPair("code", std::to_string(code))}))
      .inc();
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string_view trimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool hasQueryKey(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    if (pair.substr(0, pair.find('=')) == name) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

AdminResponse text(unsigned status, std::string body) {
  AdminResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

bool isLoopback(const asio::ip::address& a) {
  if (a.is_v4()) return a.to_v4().is_loopback();
  auto v6 = a.to_v6();
  if (v6.is_loopback()) return true;
  return v6.is_v4_mapped() && asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
}

std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    auto eq = pair.find('=');
    auto key = pair.substr(0, eq);
    if (key == name) return percentDecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

class AdminServer::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& ctx, const tcp::endpoint& listen, AdminHooks hooks, AdminOptions options)
      : ctx_(ctx), acceptor_(ctx), hooks_(std::move(hooks)), options_(std::move(options)) {
    if (!options_.privilegedPeer) options_.privilegedPeer = isLoopback;
    // SO_REUSEADDR only (not SO_REUSEPORT): a second admin on the same port
    // must fail to start instead of silently sharing it.
    acceptor_.open(listen.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(listen);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  struct Route {
    std::map<std::string, std::pair<Handler, Access>> simple;
    std::map<std::string, std::pair<StreamHandler, Access>> streaming;

    std::string allow() const {
      std::vector<std::string> methods;
      for (auto& [m, h] : simple) methods.push_back(m);
      for (auto& [m, h] : streaming) methods.push_back(m);
      std::sort(methods.begin(), methods.end());
      std::string out;
      for (auto& m : methods) out += (out.empty() ? "" : ", ") + m;
      return out;
    }
  };

  void installBuiltins();

  void start() {
    if (started_ || stopped_) return;
    started_ = true;
    asio::co_spawn(ctx_, acceptLoop(shared_from_this()), asio::detached);
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    // Copy: each connection's coroutine erases itself when it observes the close.
    auto conns = connections_;
    for (auto* c : conns) c->close();
  }

  asio::awaitable<void> acceptLoop(std::shared_ptr<Impl> self);
  asio::awaitable<void> serve(std::shared_ptr<Impl> self, tcp::socket socket);

  asio::io_context& ctx_;
  tcp::acceptor acceptor_;
  AdminHooks hooks_;
  AdminOptions options_;
  std::map<std::string, Route, std::less<>> routes_;
  std::unordered_set<detail::AdminConnection*> connections_;
  bool started_ = false;
  bool stopped_ = false;

 private:
  template <class Body>
  asio::awaitable<bool> write(detail::AdminConnection& conn, bhttp::response<Body>& res) {
    conn.stream.expires_after(options_.writeTimeout);
    auto [ec, n] = co_await bhttp::async_write(conn.stream, res, kTuple);
    if (ec) WEFT_LOG_DEBUG("admin: write failed: {}", ec.message());
    co_return !ec;
  }

  asio::awaitable<bool> respond(detail::AdminConnection& conn, unsigned version, bool keepAlive,
                                AdminResponse& r) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
    res.set(bhttp::field::server, "weft-admin");
    res.set(bhttp::field::content_type, r.contentType);
    for (auto& [name, value] : r.headers) res.set(name, value);
    res.keep_alive(keepAlive);
    res.body() = std::move(r.body);
    res.prepare_payload();
    bool ok = co_await write(conn, res);
    if (r.afterWrite) r.afterWrite();
    co_return ok;
  }
};

asio::awaitable<void> AdminServer::Impl::acceptLoop(std::shared_ptr<Impl> self) {
  asio::steady_timer backoff(ctx_);
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
    if (stopped_) break;
    if (ec) {
      // EMFILE and friends: back off instead of spinning on the error.
      WEFT_LOG_WARN("admin: accept failed: {}", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(kTuple);
      continue;
    }
    if (connections_.size() >= options_.maxConnections) {
      WEFT_LOG_WARN("admin: {} connections open, refusing another", connections_.size());
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(ctx_, serve(self, std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::Impl::serve(std::shared_ptr<Impl> self, tcp::socket socket) {
  boost::system::error_code ec;
  auto peer = socket.remote_endpoint(ec).address();
  if (ec) co_return;
  auto conn = std::make_shared<detail::AdminConnection>(std::move(socket), options_.writeTimeout);
  connections_.insert(conn.get());
  struct Unregister {
    Impl* impl;
    detail::AdminConnection* conn;
    ~Unregister() { impl->connections_.erase(conn); }
  } unregister{this, conn.get()};

  beast::flat_buffer buffer;
  while (!stopped_ && !conn->closed) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(options_.maxHeaderBytes));
    parser.body_limit(options_.maxBodyBytes);
    conn->stream.expires_after(options_.readTimeout);
    auto [readEc, n] = co_await bhttp::async_read(conn->stream, buffer, parser, kTuple);
    if (stopped_ || conn->closed) break;
    if (readEc) {
      unsigned status = 0;
      if (readEc == bhttp::error::body_limit) status = 413;
      else if (readEc == bhttp::error::header_limit) status = 431;
      else if (readEc.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
               readEc != bhttp::error::end_of_stream && readEc != bhttp::error::partial_message)
        status = 400;
      if (status != 0) {
        // The request cannot be trusted to have ended where the parser stopped,
        // so answer and close.
        countRequest(kOtherPath, status);
        auto r = text(status, status == 400 ? "bad request" : "request too large");
        co_await respond(*conn, 11, false, r);
      } else if (readEc != bhttp::error::end_of_stream && readEc != beast::error::timeout) {
        WEFT_LOG_DEBUG("admin: read from {} failed: {}", peer.to_string(), readEc.message());
      }
      break;
    }

    auto& req = parser.get();
    std::string_view target = req.target();
    auto qmark = target.find('?');
    std::string methodText(req.method_string());
    AdminRequest request{methodText, target.substr(0, qmark),
                         qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1), req.body(),
                         peer};
    bool keepAlive = req.keep_alive();
    unsigned version = req.version();

    auto route = routes_.find(request.path);
    if (route == routes_.end()) {
      countRequest(kOtherPath, 404);
      auto r = text(404, "not found");
      if (!co_await respond(*conn, version, keepAlive, r) || !keepAlive) break;
      continue;
    }
    const std::string& metricPath = route->first;
    auto simple = route->second.simple.find(methodText);
    auto streaming = route->second.streaming.find(methodText);
    if (simple == route->second.simple.end() && streaming == route->second.streaming.end()) {
      countRequest(metricPath, 405);
      auto r = text(405, "method not allowed");
      r.headers.emplace_back("Allow", route->second.allow());
      if (!co_await respond(*conn, version, keepAlive, r) || !keepAlive) break;
      continue;
    }
    Access access = simple != route->second.simple.end() ? simple->second.second : streaming->second.second;
    if (access == Access::kPrivileged && !options_.privilegedPeer(peer)) {
      countRequest(metricPath, 403);
      auto r = text(403, "forbidden: only loopback peers may do this");
      if (!co_await respond(*conn, version, keepAlive, r) || !keepAlive) break;
      continue;
    }

    if (simple != route->second.simple.end()) {
      AdminResponse r;
      try {
        r = simple->second.first(request);
      } catch (const std::exception& e) {
        WEFT_LOG_WARN("admin: handler for {} {} failed: {}", methodText, metricPath, e.what());
        r = text(500, "internal error");
      }
      countRequest(metricPath, r.status);
      if (!co_await respond(*conn, version, keepAlive, r) || !keepAlive) break;
      continue;
    }

    // Streaming: the handler owns the connection until it returns; it sets
    // its own write deadlines, so the read deadline must not fire meanwhile.
    conn->stream.expires_never();
    {
      AdminStream stream(conn, metricPath, version);
      // Copy: the handler may suspend while routes are re-registered.
      auto handler = streaming->second.first;
      try {
        co_await handler(request, stream);
      } catch (const std::exception& e) {
        WEFT_LOG_WARN("admin: stream handler for {} failed: {}", metricPath, e.what());
      }
      if (!stream.begun() && stream.open()) {
        countRequest(metricPath, 500);
        auto r = text(500, "stream handler sent nothing");
        co_await respond(*conn, version, false, r);
      }
    }
    break;
  }
  if (!conn->closed) {
    boost::system::error_code ignored;
    conn->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    conn->close();
  }
}

void AdminServer::Impl::installBuiltins() {
  auto& r = routes_;
  auto add = [&](std::string method, std::string path, Handler h, Access access = Access::kAnyPeer) {
    r[std::move(path)].simple[std::move(method)] = {std::move(h), access};
  };
  add("GET", "/live", [](const AdminRequest&) { return text(200, "live"); });
  add("GET", "/ready", [this](const AdminRequest&) {
    bool ready = !hooks_.ready || hooks_.ready();
    return ready ? text(200, "ready") : text(503, "not ready");
  });
  add("GET", "/metrics", [](const AdminRequest&) {
    AdminResponse res;
    res.contentType = "text/plain; version=0.0.4";
    res.body = MetricsRegistry::global().render();
    return res;
  });
  add("GET", "/proxy-log-level", [](const AdminRequest&) { return text(200, logLevel()); });
  add(
      "PUT", "/proxy-log-level",
      [](const AdminRequest& req) {
        auto level = trimSpace(req.body);
        if (!setLogLevel(level))
          return text(400, "unknown level '" + std::string(level) + "' (use trace, debug, info, warn, error, off)");
        WEFT_LOG_INFO("admin: log level set to {} by {}", logLevel(), req.peer.to_string());
        return text(200, logLevel());
      },
      Access::kPrivileged);
  if (hooks_.endpointsJson) {
    add("GET", "/debug/endpoints", [this](const AdminRequest& req) {
      auto cluster = queryParam(req.query, "cluster");
      if (!cluster && hasQueryKey(req.query, "cluster")) return text(400, "malformed cluster parameter");
      auto json = hooks_.endpointsJson(cluster.value_or(""));
      if (json.empty()) return text(404, "unknown cluster '" + cluster.value_or("") + "'");
      AdminResponse res;
      res.contentType = "application/json";
      res.body = std::move(json);
      return res;
    });
  }
  if (hooks_.shutdown) {
    add(
        "POST", "/shutdown",
        [this](const AdminRequest& req) {
          WEFT_LOG_INFO("admin: shutdown requested by {}", req.peer.to_string());
          auto res = text(202, "shutting down");
          // After the write, so the caller sees 202 before the listener closes.
          res.afterWrite = [hook = hooks_.shutdown] { hook(); };
          return res;
        },
        Access::kPrivileged);
  }
}

// ---- AdminStream ----

AdminStream::AdminStream(std::shared_ptr<detail::AdminConnection> conn, std::string metricPath, unsigned version)
    : conn_(std::move(conn)), metricPath_(std::move(metricPath)), version_(version) {}

AdminStream::~AdminStream() = default;

bool AdminStream::open() const { return !conn_->closed && conn_->stream.socket().is_open(); }

void AdminStream::limitSendBuffer(int bytes) {
  boost::system::error_code ec;
  conn_->stream.socket().set_option(asio::socket_base::send_buffer_size(bytes), ec);
}

asio::awaitable<bool> AdminStream::begin(unsigned status, std::string_view contentType) {
  if (begun_ || !open()) co_return false;
  begun_ = true;
  countRequest(metricPath_, status);
  bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(status), version_};
  res.set(bhttp::field::server, "weft-admin");
  res.set(bhttp::field::content_type, contentType);
  res.set(bhttp::field::cache_control, "no-cache");
  res.keep_alive(false);
  res.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> sr{res};
  conn_->stream.expires_after(conn_->writeTimeout);
  auto [ec, n] = co_await bhttp::async_write_header(conn_->stream, sr, kTuple);
  conn_->stream.expires_never();
  if (ec) conn_->close();
  co_return !ec;
}

asio::awaitable<bool> AdminStream::write(std::string_view data) {
  if (!begun_ || finished_ || !open()) co_return false;
  if (data.empty()) co_return true;
  conn_->stream.expires_after(conn_->writeTimeout);
  auto [ec, n] = co_await asio::async_write(conn_->stream, bhttp::make_chunk(asio::buffer(data.data(), data.size())),
                                            kTuple);
  conn_->stream.expires_never();
  if (ec) conn_->close();
  co_return !ec;
}

asio::awaitable<void> AdminStream::finish() {
  if (!begun_ || finished_ || !open()) co_return;
  finished_ = true;
  conn_->stream.expires_after(conn_->writeTimeout);
  co_await asio::async_write(conn_->stream, bhttp::make_chunk_last(), kTuple);
}

// ---- AdminServer ----

AdminServer::AdminServer(asio::io_context& ctx, tcp::endpoint listen, AdminHooks hooks, AdminOptions options)
    : impl_(std::make_shared<Impl>(ctx, listen, std::move(hooks), std::move(options))) {
  impl_->installBuiltins();
}

AdminServer::~AdminServer() { impl_->stop(); }

tcp::endpoint AdminServer::localEndpoint() const {
  boost::system::error_code ec;
  return impl_->acceptor_.local_endpoint(ec);
}

void AdminServer::start() { impl_->start(); }
void AdminServer::stop() { impl_->stop(); }

void AdminServer::registerRoute(std::string method, std::string path, Handler handler, Access access) {
  auto& route = impl_->routes_[std::move(path)];
  route.streaming.erase(method);
  route.simple[std::move(method)] = {std::move(handler), access};
}

void AdminServer::registerStreamRoute(std::string method, std::string path, StreamHandler handler, Access access) {
  auto& route = impl_->routes_[std::move(path)];
  route.simple.erase(method);
  route.streaming[std::move(method)] = {std::move(handler), access};
}

}  // namespace weft::admin
