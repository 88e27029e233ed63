#pragma once
// Outbound connect with a deadline. Never binds a source address or port: the
// kernel picks an ephemeral port per connect (incident 004: pinned source
// ports end in EADDRNOTAVAIL). May suspend; runs on the caller's worker.
#include <chrono>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace weft::net {

struct ConnectResult {
  boost::system::error_code error;  // timed_out on deadline
  boost::asio::ip::tcp::socket socket;
};

boost::asio::awaitable<ConnectResult> connectWithDeadline(const boost::asio::ip::tcp::endpoint& ep,
                                                          std::chrono::milliseconds timeout);

}  // namespace weft::net
