#pragma once
// A scripted HTTP/2 upstream for unit tests: the real server-side codec on a
// loopback socket, each test deciding how it answers (onRequest). Used by
// the Http2Pool tests and by the forwarder's tests of its coroutine-free path.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "http/codec/http2_codec.h"

namespace weft::scripted {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using http::Http2BodyChunk;
using http::Http2Codec;
using http::Http2HeadersKind;
using http::Http2Mode;
inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

inline asio::awaitable<void> sleepFor(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(kTuple);
}

// One upstream connection speaking through the server-side codec.
struct ScriptedConn : http::Http2Events {
  explicit ScriptedConn(tcp::socket s) : sock(std::move(s)), codec(Http2Mode::kServer, *this) { codec.start(); }

  void onHeadersBegin(int32_t id, Http2HeadersKind kind) override { kinds[id] = kind; }
  void onPseudoHeader(int32_t id, std::string_view n, std::string_view v) override {
    if (n == ":path") paths[id] = v;
  }
  void onHeader(int32_t id, std::string_view n, std::string_view v) override {
    if (kinds[id] == Http2HeadersKind::kTrailers) trailers[id].add(n, v);
  }
  void onHeadersEnd(int32_t id, bool) override {
    if (kinds[id] != Http2HeadersKind::kRequest) return;
    requests.push_back(id);
    if (onRequest) onRequest(*this, id);
  }
  void onData(int32_t id, std::string_view d) override {
    bodies[id].append(d);
    codec.consumeStream(id, d.size());
  }
  void onStreamEnd(int32_t id) override { ended.insert(id); }
  void onRstStream(int32_t id, uint32_t code) override { resets[id] = code; }
  Http2BodyChunk readData(int32_t id, uint8_t* buf, size_t len) override {
    auto& o = out[id];
    size_t n = std::min(len, o.size() - sent[id]);
    if (n == 0 && !outEnd[id]) return {Http2BodyChunk::Kind::kDeferred};
    std::copy_n(o.data() + sent[id], n, buf);
    sent[id] += n;
    Http2BodyChunk c;
    c.length = n;
    c.end = outEnd[id] && sent[id] == o.size();
    c.trailers = &outTrailers[id];
    return c;
  }

  void respond(int32_t id, std::string body, bool end = true, http::HeaderList trailers = {}) {
    out[id] = std::move(body);
    outEnd[id] = end;
    outTrailers[id] = std::move(trailers);
    http::ResponseHead head;
    head.status = 200;
    head.headers.add("x-upstream", "scripted");
    codec.submitResponse(id, head, true);
  }

  asio::awaitable<void> run() {
    std::vector<char> buf(65536);
    co_await flush();
    for (;;) {
      auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), kTuple);
      if (ec) break;
      if (silent) continue;  // blackholed: reads vanish, nothing comes back (no RST, no PING ack)
      codec.receive(std::string_view(buf.data(), n));
      co_await flush();
      if (closeNow) {
        sock.close();
        break;
      }
    }
  }
  asio::awaitable<void> flush() {
    std::string o;
    codec.drainOutput(o);
    if (!o.empty()) {
      bytesSent += o.size();
      co_await asio::async_write(sock, asio::buffer(o), kTuple);
    }
  }

  tcp::socket sock;
  Http2Codec codec;
  std::function<void(ScriptedConn&, int32_t)> onRequest;
  std::map<int32_t, Http2HeadersKind> kinds;
  std::map<int32_t, std::string> paths, bodies, out;
  std::map<int32_t, size_t> sent;
  std::map<int32_t, bool> outEnd;
  std::map<int32_t, http::HeaderList> outTrailers, trailers;
  std::map<int32_t, uint32_t> resets;
  std::set<int32_t> ended;
  std::vector<int32_t> requests;
  bool closeNow = false;
  bool silent = false;
  size_t bytesSent = 0;
};

// Accepts on a loopback port; each connection is a ScriptedConn answering
// with onRequest (read when the connection is accepted).
class ScriptedUpstream {
 public:
  explicit ScriptedUpstream(asio::io_context& io) : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    asio::co_spawn(io_, acceptLoop(), asio::detached);
  }
  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(endpoint().port()); }

  std::function<void(ScriptedConn&, int32_t)> onRequest;
  std::vector<std::shared_ptr<ScriptedConn>> conns;

 private:
  asio::awaitable<void> acceptLoop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(kTuple);
      if (ec) co_return;
      auto conn = std::make_shared<ScriptedConn>(std::move(sock));
      conn->onRequest = onRequest;
      conns.push_back(conn);
      asio::co_spawn(io_, [conn]() -> asio::awaitable<void> { co_await conn->run(); }, asio::detached);
    }
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
};

}  // namespace weft::scripted
