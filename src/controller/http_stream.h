#pragma once
// One HTTP/1.1 request with a streamed response body, over TCP or TLS: what
// the etcd source (v3 JSON gateway: range, streaming watch) and the Kubernetes
// source (list, streaming watch) need from an API server. Not a general client:
// no pooling, no redirects, one request per connection (`Connection: close`
// is not sent, but the connection is never reused).
//
// The response is parsed by the project's hardened HTTP/1 parser
// (http/codec/http1_parser.h); body bytes (chunked or length-delimited or
// until close) are handed out as they arrive, so a watch stream is consumed
// incrementally. Every operation has a deadline; I/O failures are values, not
// exceptions.
//
// Threads: one coroutine at a time on one executor (the controller's main
// io_context); not thread-safe. May suspend in open() and readBody().
// Lifetime: the HttpStream must outlive its pending operations (the owning
// coroutine awaits them).
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace boost::asio::ssl {
class context;
}

namespace weft::controller {

struct HttpTarget {
  bool tls = false;
  std::string host;  // DNS name or numeric address (IPv6 without brackets)
  uint16_t port = 0;
  std::string authority;  // Host header: "host:port" ("[v6]:port")
  std::string url() const { return (tls ? "https://" : "http://") + authority; }
};

// "http://host[:port]" or "https://host[:port]" (default ports 80 / 443); no
// path, query or user info. nullopt with `why` set otherwise.
std::optional<HttpTarget> parseHttpUrl(std::string_view url, std::string* why);

struct TlsFiles {
  std::string caFile;    // verify the server against this bundle (else the system's)
  std::string certFile;  // optional client certificate (PEM) ...
  std::string keyFile;   // ... and its key
};

// A client TLS context that verifies the peer (certificate chain + host name
// in open()). Throws std::runtime_error naming the file that cannot be used:
// a start-up error.
std::shared_ptr<boost::asio::ssl::context> makeClientTlsContext(const TlsFiles& files);

enum class HttpStatus {
  kOk,
  kDone,         // readBody: the body is complete
  kConnectFailed,
  kTlsFailed,
  kTimeout,
  kClosed,       // the peer closed before the response (or its body) was complete
  kProtocol,     // the response is not valid HTTP/1.1
};
std::string_view httpStatusName(HttpStatus s);  // stable, low-cardinality: metric label

class HttpStream {
 public:
  // `tls` must be set for an https target and is ignored otherwise.
  HttpStream(boost::asio::any_io_executor ex, HttpTarget target, std::shared_ptr<boost::asio::ssl::context> tls);
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  // Resolves, connects, handshakes, writes the request and reads the
  // response head, all within `timeout`. `headers` are extra "Name: value"
  // lines (Host, Content-Length and Accept-Encoding: identity are added).
  boost::asio::awaitable<HttpStatus> open(std::string_view method, std::string_view target,
                                          const std::vector<std::string>& headers, std::string_view body,
                                          std::chrono::milliseconds timeout);
  int status() const { return status_; }
  // A response header's value ("" when absent).
  std::string header(std::string_view name) const;

  // Appends the body bytes that arrive next to `out`: kOk when some arrived,
  // kDone at the end of the body, kTimeout when nothing arrived for `idle`.
  boost::asio::awaitable<HttpStatus> readBody(std::string& out, std::chrono::milliseconds idle);
  // Reads the whole body (at most `maxBytes`, else kProtocol) within `timeout`.
  boost::asio::awaitable<HttpStatus> readAll(std::string& out, size_t maxBytes, std::chrono::milliseconds timeout);

  // Closes the connection; pending operations complete with an error.
  void close();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  int status_ = 0;
};

}  // namespace weft::controller
