#pragma once
// Listening sockets. Each worker opens its own acceptor on the same address
// with SO_REUSEPORT so the kernel spreads connections across workers with no
// shared accept queue. Port 0 is resolved by the first bind; the others then
// bind the port it got.
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace weft::net {

// Throws boost::system::system_error on failure (start-up path only).
boost::asio::ip::tcp::acceptor openReusePortAcceptor(boost::asio::any_io_executor ex,
                                                     const boost::asio::ip::tcp::endpoint& ep, int backlog = 4096);

// TCP_NODELAY etc. for proxied connections; errors are ignored (best effort).
void tuneSocket(boost::asio::ip::tcp::socket& s);

}  // namespace weft::net
