#pragma once
// HTTP/2 endpoint pool: one multiplexed h2c (prior knowledge) connection per
// endpoint per worker (DESIGN.md §6), plus a new one when that connection got
// a GOAWAY, ran out of streams (SETTINGS_MAX_CONCURRENT_STREAMS reached, ids
// near 2^31, max_requests_per_connection) or when the caller asks for a fresh
// connection (retry of a kNotProcessed exchange). Concurrent sends that find
// no usable connection share one connect attempt.
//
// Metrics: weft_connect_attempts_total{cluster,result=ok|error|timeout,errno}
// and weft_open_connections{direction="upstream",cluster}.
//
// Thread: the worker owning `ex`. Lifetime: in-flight send()s keep what they
// use alive (the connection; while connecting, the pool's state), so the pool
// object itself may be destroyed (after drain()) while they finish.
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "upstream/endpoint_pool.h"

namespace weft::upstream {

class Http2Pool final : public EndpointPool {
 public:
  Http2Pool(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint ep, PoolOptions options);
  ~Http2Pool() override;

  boost::asio::awaitable<SendResult> send(std::shared_ptr<http::Exchange> exchange, bool fresh) override;
  bool canStartNow(const http::Exchange& exchange) const override;
  bool startNow(std::shared_ptr<http::Exchange> exchange, std::shared_ptr<http::SendObserver> observer) override;
  void drain() override;
  size_t openConnections() const override;
  const boost::asio::ip::tcp::endpoint& endpoint() const override;

 private:
  struct State;
  // send() without a usable connection: connects (or shares the attempt in
  // flight), then sends. Holds the state until it is done.
  static boost::asio::awaitable<SendResult> connectAndSend(std::shared_ptr<State> state,
                                                           std::shared_ptr<http::Exchange> exchange, bool fresh);
  std::shared_ptr<State> state_;
};

}  // namespace weft::upstream
