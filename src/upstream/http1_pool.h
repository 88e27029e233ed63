#pragma once
// Keep-alive pool of HTTP/1.1 connections to one upstream endpoint, owned by
// one worker (DESIGN.md §3, §6 "h1 pool").
//
// - Idle connections are reused most-recently-used first and closed after
//   PoolOptions::idleTimeout, or as soon as the server closes them once they
//   have been idle for 50 ms (a busy connection is not watched: that would
//   cost a syscall per request). A pooled connection the server closed never
//   causes an error: a request that fails on a reused connection before any
//   response byte returns kNotProcessed.
// - `Connection: close` from the server, max_requests_per_connection, an
//   early response (request body not fully sent) or any error mean the
//   connection is never reused.
// - Connects use net::connectWithDeadline (never binds a source port) and are
//   counted in weft_connect_attempts_total{cluster,result,errno};
//   weft_open_connections{direction="upstream",cluster} tracks open sockets.
// - Upgrade requests get a dedicated fresh connection that becomes a raw
//   tunnel after a 101 and is never pooled.
//
// Thread/lifetime: worker thread only. The pool must outlive every send() it
// started (in-flight sends hold their connection, not the pool); a send
// startNow() began, and idle watches, need nothing of the pool. send()
// suspends; startNow(), drain(), openConnections() and endpoint() do not.
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "http/codec/http1_serializer.h"

#include "upstream/endpoint_pool.h"

namespace weft::upstream {

class Http1Connection;
struct Http1PoolShared;
struct Http1SendState;
struct Http1ReadEnd;

class Http1Pool final : public EndpointPool {
 public:
  Http1Pool(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint ep, PoolOptions options);
  ~Http1Pool() override;
  Http1Pool(const Http1Pool&) = delete;
  Http1Pool& operator=(const Http1Pool&) = delete;

  boost::asio::awaitable<SendResult> send(std::shared_ptr<http::Exchange> exchange, bool fresh) override;
  // A request without a body, when an idle connection waits: sent and its
  // response relayed by completion handlers (http1_connection.h), no
  // coroutine. send() takes the same path for such a request once it has
  // its connection.
  bool canStartNow(const http::Exchange& exchange) const override;
  bool startNow(std::shared_ptr<http::Exchange> exchange, std::shared_ptr<http::SendObserver> observer) override;
  void drain() override;
  size_t openConnections() const override;
  const boost::asio::ip::tcp::endpoint& endpoint() const override { return ep_; }

  size_t idleConnections() const;

 private:
  static bool sendsWithoutCoroutine(const http::RequestHead& request);
  boost::asio::awaitable<SendResult> sendBodyless(std::shared_ptr<Http1Connection> conn,
                                                  std::shared_ptr<http::Exchange> ex, bool reused);
  boost::asio::awaitable<Http1ReadEnd> exchangeOn(std::shared_ptr<Http1Connection> conn,
                                                  std::shared_ptr<http::Exchange> ex, bool reused);
  boost::asio::awaitable<void> sendBody(Http1Connection& conn, http::Exchange& ex, http::BodyFraming framing,
                                        bool& bodySent, bool& requestFailed);
  boost::asio::awaitable<Http1ReadEnd> readResponse(Http1Connection& conn, http::Exchange& ex, Http1SendState& state);
  boost::asio::awaitable<void> tunnel(Http1Connection& conn, http::Exchange& ex);

  boost::asio::any_io_executor ex_;
  boost::asio::ip::tcp::endpoint ep_;
  PoolOptions options_;
  std::shared_ptr<Http1PoolShared> shared_;
};

}  // namespace weft::upstream
