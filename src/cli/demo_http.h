#pragma once
// The demo's two small HTTP clients, on the project's own codecs and
// sessions: HTTP/1.1 (Http1ResponseParser + the request serializer) and
// HTTP/2 with prior knowledge (Http2ClientConnection), which also carries the
// gRPC calls. The load loop's clients (the admin API goes through
// admin_client.h).
//
// One request at a time per client; each request has a deadline covering
// connect, send and the whole response. A client reconnects on the next
// request after any failure or a `Connection: close` / GOAWAY. No retries:
// every failure is reported to the caller, which counts it.
//
// Thread: the executor's (the demo's main thread). Every call suspends.
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/codec/header_list.h"
#include "http/codec/message.h"

namespace weft::http {
class Http2ClientConnection;
}

namespace weft::cli {

struct HttpResult {
  bool ok = false;          // a complete response arrived (any status)
  std::string error;        // why not, when !ok
  int status = 0;
  http::HeaderList headers;
  std::string body;
  http::HeaderList trailers;
};

class Http1Client {
 public:
  Http1Client(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint target);
  ~Http1Client();
  boost::asio::awaitable<HttpResult> request(http::RequestHead head, std::chrono::milliseconds timeout);
  void close();

 private:
  boost::asio::any_io_executor ex_;
  boost::asio::ip::tcp::endpoint target_;
  std::unique_ptr<boost::asio::ip::tcp::socket> socket_;
  std::string in_;
};

class Http2Client {
 public:
  Http2Client(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint target);
  ~Http2Client();
  // `body` is sent as the request body (empty: none).
  boost::asio::awaitable<HttpResult> request(http::RequestHead head, std::string body,
                                             std::chrono::milliseconds timeout);
  void close();

 private:
  boost::asio::any_io_executor ex_;
  boost::asio::ip::tcp::endpoint target_;
  std::shared_ptr<http::Http2ClientConnection> conn_;
};

}  // namespace weft::cli
