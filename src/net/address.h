#pragma once
// "host:port" parsing for config and discovery. Hosts are numeric IPv4/IPv6
// ("[::1]:80"); names are resolved elsewhere. Pure; any thread.
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace weft::net {

std::optional<boost::asio::ip::tcp::endpoint> parseEndpoint(std::string_view hostPort);
std::string formatEndpoint(const boost::asio::ip::tcp::endpoint& ep);

}  // namespace weft::net
