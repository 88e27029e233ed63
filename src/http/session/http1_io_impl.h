#pragma once
// Template part of http1_io.h; include http1_io.h instead.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace weft::http::h1io {

template <class Buffers>
boost::asio::awaitable<IoStatus> writeAll(boost::asio::ip::tcp::socket& socket, const Buffers& buffers,
                                          boost::asio::steady_timer& timer, std::chrono::milliseconds timeout) {
  using namespace boost::asio::experimental::awaitable_operators;
  constexpr auto tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  timer.expires_after(timeout);
  auto r = co_await (boost::asio::async_write(socket, buffers, tuple) || timer.async_wait(tuple));
  if (r.index() == 1) co_return IoStatus::kTimeout;
  auto [ec, n] = std::get<0>(r);
  co_return ec ? IoStatus::kError : IoStatus::kOk;
}

template <class Buffers>
boost::asio::awaitable<IoStatus> writeAll(boost::asio::ip::tcp::socket& socket, const Buffers& buffers) {
  auto [ec, n] = co_await boost::asio::async_write(socket, buffers, boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return ec ? IoStatus::kError : IoStatus::kOk;
}

}  // namespace weft::http::h1io
