#include "http/session/http1_io.h"

#include <boost/asio/this_coro.hpp>

#include "net/read_readiness.h"

namespace weft::http::h1io {

using namespace boost::asio::experimental::awaitable_operators;

boost::asio::awaitable<IoStatus> readSome(boost::asio::ip::tcp::socket& socket, std::string& buf,
                                          boost::asio::steady_timer& timer,
                                          std::optional<std::chrono::milliseconds> timeout, size_t maxBytes) {
  constexpr auto tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  size_t old = buf.size();
  buf.resize(old + maxBytes);
  auto into = boost::asio::buffer(buf.data() + old, maxBytes);
  boost::system::error_code ec;
  size_t n = 0;
  if (timeout) {
    timer.expires_after(*timeout);
    auto r = co_await (socket.async_read_some(into, tuple) || timer.async_wait(tuple));
    if (r.index() == 1) {
      buf.resize(old);
      co_return IoStatus::kTimeout;
    }
    std::tie(ec, n) = std::get<0>(r);
  } else {
    std::tie(ec, n) = co_await socket.async_read_some(into, tuple);
  }
  buf.resize(old + n);
  net::noteShortRead(socket, maxBytes, n);
  if (ec == boost::asio::error::eof) co_return IoStatus::kEof;
  if (ec) co_return IoStatus::kError;
  co_return IoStatus::kOk;
}

boost::asio::awaitable<IoStatus> readSome(boost::asio::ip::tcp::socket& socket, net::ByteBuffer& buf,
                                          size_t maxBytes) {
  char* into = buf.prepare(maxBytes);
  auto [ec, n] =
      co_await socket.async_read_some(boost::asio::buffer(into, maxBytes), boost::asio::as_tuple(boost::asio::use_awaitable));
  buf.commit(n);
  net::noteShortRead(socket, maxBytes, n);
  if (ec == boost::asio::error::eof) co_return IoStatus::kEof;
  if (ec) co_return IoStatus::kError;
  co_return IoStatus::kOk;
}

boost::asio::awaitable<IoStatus> writeAll(boost::asio::ip::tcp::socket& socket, std::string_view data,
                                          boost::asio::steady_timer& timer, std::chrono::milliseconds timeout) {
  co_return co_await writeAll(socket, boost::asio::buffer(data.data(), data.size()), timer, timeout);
}

boost::asio::awaitable<void> sleepForever() {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
  t.expires_at(boost::asio::steady_timer::time_point::max());
  for (;;) co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

void closeSocket(boost::asio::ip::tcp::socket& socket) {
  boost::system::error_code ignored;
  socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

}  // namespace weft::http::h1io
