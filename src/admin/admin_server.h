#pragma once
// The admin HTTP/1.1 server (docs/architecture.md §7): liveness, readiness,
// Prometheus metrics, the run-time log level, endpoint debugging and shutdown.
//
// Thread and lifetime contract: the server runs on its own io_context on the
// main/admin thread, never on a worker. Construct it, call start(), stop() and
// registerRoute*() on the thread that runs `ctx` (or while `ctx` is not
// running). Handlers and hooks run on that thread, synchronously, between
// reads and writes of one connection, so a slow hook stalls the whole admin
// server (never the data path). Connection coroutines share ownership of the
// server's internals, so destroying the AdminServer (which stops it) while
// requests are in flight is safe; they end at their next suspension.
//
// The admin is not the data path: it is written for simplicity (Boost.Beast
// request/response objects, a new parser per request) and bounded by a request
// size limit, a read timeout, a write timeout and a connection limit.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace weft::admin {

// What the proxy (or controller) plugs into the built-in endpoints.
struct AdminHooks {
  // GET /ready: 200 "ready" or 503 "not ready". Unset: always ready.
  std::function<bool()> ready;
  // POST /shutdown (privileged peers only): 202 is written first, then this is called.
  // Unset: 404 (the route does not exist).
  std::function<void()> shutdown;
  // GET /debug/endpoints[?cluster=X]: a JSON document (docs/architecture.md §9).
  // The argument is the decoded `cluster` query value, empty for all clusters.
  // Unset: 404. Returning an empty string for a named cluster: 404 (unknown cluster).
  std::function<std::string(std::string_view cluster)> endpointsJson;
};

struct AdminOptions {
  // Longest wait for a complete request, including the idle time between
  // keep-alive requests.
  std::chrono::milliseconds readTimeout{10'000};
  std::chrono::milliseconds writeTimeout{10'000};
  size_t maxHeaderBytes = 16 * 1024;  // larger: 431
  size_t maxBodyBytes = 64 * 1024;    // larger: 413
  size_t maxConnections = 64;         // beyond: accepted and closed at once
  // Peers allowed to change state (PUT /proxy-log-level, POST /shutdown).
  // Unset: loopback addresses only (isLoopback). Tests inject a policy here.
  std::function<bool(const boost::asio::ip::address&)> privilegedPeer;
};

// 127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104 (an IPv4 loopback peer seen by a
// dual-stack socket).
bool isLoopback(const boost::asio::ip::address& a);

// The percent-decoded value of `name` in a query string ("a=1&cluster=x%3A80");
// `+` decodes to a space. nullopt when absent or malformed.
std::optional<std::string> queryParam(std::string_view query, std::string_view name);

struct AdminRequest {
  std::string_view method;  // "GET", "PUT", ...
  std::string_view path;    // target without the query
  std::string_view query;   // raw, without '?'
  std::string_view body;
  boost::asio::ip::address peer;
};

struct AdminResponse {
  unsigned status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra header fields
  // Runs after the response has been written (or failed to be), e.g. shutdown.
  std::function<void()> afterWrite;
};

namespace detail {
struct AdminConnection;
}

// A streaming response (GET /tap): chunked transfer encoding, one chunk per
// write(). Owned by the connection's coroutine; only valid inside the
// StreamHandler call. Writes are bounded by the write timeout. Once the server
// stops (or the peer goes away) every call returns false / does nothing, so a
// handler that waits for something else between writes should also poll open().
class AdminStream {
 public:
  AdminStream(std::shared_ptr<detail::AdminConnection> conn, std::string metricPath, unsigned version);
  ~AdminStream();
  AdminStream(const AdminStream&) = delete;
  AdminStream& operator=(const AdminStream&) = delete;

  // Sends the response head. Call once, before write().
  boost::asio::awaitable<bool> begin(unsigned status, std::string_view contentType);
  // Sends `data` as one chunk (no-op for empty data).
  boost::asio::awaitable<bool> write(std::string_view data);
  // Sends the last chunk; the connection is closed afterwards.
  boost::asio::awaitable<void> finish();
  bool open() const;
  bool begun() const { return begun_; }
  // Caps the kernel's send buffer for this connection, so a peer that stops
  // reading blocks the writer after `bytes` instead of after megabytes of
  // autotuned buffer (the tap bounds its memory per client this way).
  void limitSendBuffer(int bytes);

 private:
  std::shared_ptr<detail::AdminConnection> conn_;
  std::string metricPath_;
  unsigned version_;
  bool begun_ = false;
  bool finished_ = false;
};

enum class Access { kAnyPeer, kPrivileged };

class AdminServer {
 public:
  using Handler = std::function<AdminResponse(const AdminRequest&)>;
  using StreamHandler = std::function<boost::asio::awaitable<void>(const AdminRequest&, AdminStream&)>;

  // Binds and listens now; throws boost::system::system_error on failure.
  AdminServer(boost::asio::io_context& ctx, boost::asio::ip::tcp::endpoint listen, AdminHooks hooks,
              AdminOptions options = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  boost::asio::ip::tcp::endpoint localEndpoint() const;
  void start();  // spawns the accept loop
  void stop();   // closes the acceptor and every open admin connection

  // Adds (or replaces) the handler for `method` on `path` (exact match, no
  // query). A path with any handler answers other methods with 405 + Allow.
  // The path becomes a value of the `path` metric label, so register only
  // fixed paths.
  void registerRoute(std::string method, std::string path, Handler handler, Access access = Access::kAnyPeer);
  // Like registerRoute, but the handler owns the connection until it returns
  // (no keep-alive afterwards). For GET /tap.
  void registerStreamRoute(std::string method, std::string path, StreamHandler handler,
                           Access access = Access::kAnyPeer);

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace weft::admin
