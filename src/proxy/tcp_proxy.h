#pragma once
// Opaque TCP: relays bytes both ways between an accepted connection and a
// target until either side closes (half-close is propagated) or the
// connection stays idle past the timeout. Runs on the accepting worker.
#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace weft::proxy {

struct TcpProxyOptions {
  std::string direction;
  std::chrono::milliseconds connectTimeout{1000};
  std::chrono::milliseconds idleTimeout{300000};
};

// `prefix`: bytes protocol detection already read from the client.
boost::asio::awaitable<void> proxyTcp(boost::asio::ip::tcp::socket client, std::string prefix,
                                      boost::asio::ip::tcp::endpoint target, TcpProxyOptions options);

}  // namespace weft::proxy
