#include "controller/service_names.h"

#include <fmt/format.h>

#include "model/endpoint.h"
#include "net/address.h"

namespace weft::controller {

std::string_view protocolName(Protocol p) {
  switch (p) {
    case Protocol::kHttp1:
      return "http1";
    case Protocol::kHttp2:
      return "http2";
    case Protocol::kUnspecified:
      break;
  }
  return "";
}

std::optional<std::string> normalizeServiceName(std::string_view s, std::string* why) {
  if (s.empty()) {
    if (why) *why = "must not be empty";
    return std::nullopt;
  }
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '"') {
      if (why) *why = fmt::format("'{}' is not an authority host[:port]", s);
      return std::nullopt;
    }
  }
  return model::normalizeAuthority(s);
}

std::optional<std::string> canonicalEndpointAddress(std::string_view address, std::string* why) {
  auto parsed = net::parseEndpoint(address);
  if (!parsed) {
    if (why) *why = fmt::format("'{}' is not an address of the form ip:port or [ipv6]:port", address);
    return std::nullopt;
  }
  if (parsed->port() == 0) {
    if (why) *why = fmt::format("'{}' has port 0", address);
    return std::nullopt;
  }
  return net::formatEndpoint(*parsed);  // canonical spelling, so versions do not depend on it
}

std::optional<Protocol> parseProtocol(std::string_view name) {
  if (name == "http1") return Protocol::kHttp1;
  if (name == "http2") return Protocol::kHttp2;
  return std::nullopt;
}

}  // namespace weft::controller
