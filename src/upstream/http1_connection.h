#pragma once
// One pooled upstream HTTP/1.1 connection of an Http1Pool (upstream/http1_pool.h
// says how the pool uses it), and the parts of an exchange on it that do not
// depend on who drives it:
//
// - the response steps (head, 1xx, body relay, EOF-delimited end) shared by
//   the pool's coroutine, which forwards requests with a body (racing the
//   body writer against the response reader) and upgrades;
// - startBodyless(): the whole exchange of a request without a body, driven
//   by completion handlers: no coroutine frames, no spawn, no resume per
//   request (the HTTP/1 side of docs/benchmarks.md's "no coroutine per
//   request"). Its end is told to a SendObserver, from the connection's own
//   read handler once the connection is idle again (or closed), so the
//   observer may send the next request on it at once.
//
// Worker thread only. A connection may outlive its pool: what they share
// (the idle list, counts, drain) is Http1PoolShared, held weakly.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/codec/http1_parser.h"
#include "http/codec/http1_serializer.h"
#include "http/session/exchange.h"
#include "http/session/send_result.h"
#include "net/byte_buffer.h"
#include "net/deadline.h"

namespace weft {
class Gauge;
}

namespace weft::upstream {

class Http1Connection;

inline constexpr size_t kHttp1ReadChunk = 16 * 1024;
// A stalled upstream write is normally ended by the forwarder's request
// timeout (cancel → socket closed); this bounds it regardless.
inline constexpr std::chrono::milliseconds kHttp1WriteStall{std::chrono::minutes(5)};

// What a pool and its connections share.
struct Http1PoolShared {
  std::vector<std::shared_ptr<Http1Connection>> idle;
  size_t open = 0;
  bool draining = false;
  std::chrono::milliseconds idleTimeout{3000};

  // Back to the idle list, most recently used last; watched for the
  // server's close only after kIdleWatchDelay (see Http1Connection).
  void makeIdle(std::shared_ptr<Http1Connection> conn);
  // The idle connection to use next, or null.
  std::shared_ptr<Http1Connection> takeIdle();
  bool hasIdle() const;
};

// What the response steps need to know of one request's progress.
struct Http1SendState {
  bool anyResponseByte = false;
  bool reused = false;
};

// What the response steps decided.
struct Http1ReadEnd {
  http::SendResult result;
  bool reusable = false;
};

class Http1Connection final : public std::enable_shared_from_this<Http1Connection>,
                              private http::BodyPipe::WritableListener {
 public:
  Http1Connection(boost::asio::ip::tcp::socket s, std::weak_ptr<Http1PoolShared> sh, Gauge* g);
  ~Http1Connection();

  void close();
  // Ends the idle period: the connection is about to carry a request.
  void takeForUse();
  // Idle too long, or readable while idle (the server closed it, or sent
  // bytes nobody asked for): either way it is done. A stale call (the
  // connection was taken since) sees a newer generation.
  void retireIfIdle(uint64_t generation);
  void startIdleWatch();

  // Counts the request, serializes its head into `head`, readies the parser;
  // returns whether it is the connection's last (max requests).
  bool prepareRequest(const http::RequestHead& req, http::BodyFraming framing,
                      std::optional<uint32_t> maxRequests);
  // The exchange closes this connection when it is cancelled.
  void closeOnCancel(http::Exchange& ex);

  // --- response steps (the coroutine's and startBodyless()'s) ---
  enum class HeadStep { kMore, kHead, kMalformed };
  // Parses what `in` holds; interim 1xx responses other than 101 are dropped.
  HeadStep parseHead(bool headRequest);
  // The head is parsed: discards it for a retry, or hands it to the
  // exchange. Returns the end if the exchange is over at the head (retry,
  // cancelled, an unasked 101), else nullopt: the body follows (or, for an
  // asked-for 101, the tunnel: ex.tunnel is set).
  std::optional<Http1ReadEnd> takeHead(http::Exchange& ex, Http1SendState& state);
  enum class BodyStep { kMore, kDone, kMalformed };
  // Relays what `in` holds of the body into the response pipe.
  BodyStep relayBody(http::BodyPipe& pipe);
  // The read for more of the body failed (`eof`: the server closed the
  // connection): ends an EOF-delimited body, or fails the pipe.
  void endBodyAtEof(http::Exchange& ex, bool eof);
  // The end after the body's last byte.
  Http1ReadEnd bodyDone(http::Exchange& ex);
  // The end before a response head, for a failure of kind `why`.
  static Http1ReadEnd beforeHead(const http::Exchange& ex, const Http1SendState& state, ProxyError why);

  // --- a request without a body, without a coroutine ---
  // The connection was just taken (takeIdle(), or connected: reused false)
  // and prepareRequest() was called. `observer` is told once.
  void startBodyless(std::shared_ptr<http::Exchange> ex, std::shared_ptr<http::SendObserver> observer,
                     bool reused, bool last);

  boost::asio::ip::tcp::socket socket;
  net::ByteBuffer in;
  http::Http1ResponseParser parser;
  boost::asio::steady_timer readTimer;  // tunnel reads only
  net::Deadline writeDeadline;
  net::Deadline idleDeadline;
  net::Deadline watchDeadline;  // starts the idle watch after kIdleWatchDelay
  std::weak_ptr<Http1PoolShared> shared;
  Gauge* gauge;
  std::string head;  // serialized request head, kept for its capacity
  uint32_t requests = 0;
  uint64_t idleGeneration = 0;
  bool idle = false;
  bool watching = false;
  bool closed = false;

 private:
  void onHeadWritten(boost::system::error_code ec);
  void readResponse();
  void onResponseRead(boost::system::error_code ec, size_t want, size_t got);
  // Parses what arrived; false when more must be read.
  bool advance();
  void bodyWritable() override;
  void endExchange(Http1ReadEnd end);

  // The exchange startBodyless() drives (null otherwise).
  std::shared_ptr<http::Exchange> ex_;
  std::shared_ptr<http::SendObserver> observer_;
  Http1SendState state_;
  bool last_ = false;
  bool headRequest_ = false;
  bool inBody_ = false;
  // While the response pipe is full (listenWritable()), a wait on this
  // timer (never due; bodyWritable() cancels it) is what holds the
  // connection, so that a worker shutting down releases it as it releases
  // every other pending operation. Made on first use: a timer looks its
  // service up under the context's lock.
  std::optional<boost::asio::steady_timer> roomWait_;
  bool awaitingRoom_ = false;
};

}  // namespace weft::upstream
