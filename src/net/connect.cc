#include "net/connect.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "net/listener.h"

namespace weft::net {

using namespace boost::asio::experimental::awaitable_operators;

boost::asio::awaitable<ConnectResult> connectWithDeadline(const boost::asio::ip::tcp::endpoint& ep,
                                                          std::chrono::milliseconds timeout) {
  auto ex = co_await boost::asio::this_coro::executor;
  boost::asio::ip::tcp::socket sock(ex);
  boost::asio::steady_timer timer(ex, timeout);
  auto result = co_await (sock.async_connect(ep, boost::asio::as_tuple(boost::asio::use_awaitable)) ||
                          timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable)));
  if (result.index() == 1) {
    boost::system::error_code ignored;
    sock.close(ignored);
    co_return ConnectResult{boost::asio::error::timed_out, boost::asio::ip::tcp::socket(ex)};
  }
  auto [ec] = std::get<0>(result);
  if (ec) co_return ConnectResult{ec, boost::asio::ip::tcp::socket(ex)};
  tuneSocket(sock);
  co_return ConnectResult{{}, std::move(sock)};
}

}  // namespace weft::net
