#include "net/address.h"

#include <charconv>

namespace weft::net {

std::optional<boost::asio::ip::tcp::endpoint> parseEndpoint(std::string_view s) {
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  unsigned p = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p > 65535) return std::nullopt;
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code err;
  auto addr = boost::asio::ip::make_address(std::string(host), err);
  if (err) return std::nullopt;
  return boost::asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(p));
}

std::string formatEndpoint(const boost::asio::ip::tcp::endpoint& ep) {
  if (ep.address().is_v6()) return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

}  // namespace weft::net
