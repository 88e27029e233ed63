#include "model/endpoint.h"

#include <cctype>

namespace weft::model {

std::string normalizeAuthority(std::string_view a, uint16_t defaultPort) {
  std::string out;
  out.reserve(a.size() + 4);
  for (char c : a) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // "[v6]" without port, "host" without port.
  auto close = out.rfind(']');
  auto colon = out.rfind(':');
  bool hasPort = colon != std::string::npos && (close == std::string::npos || colon > close);
  if (!hasPort) out += ":" + std::to_string(defaultPort);
  return out;
}

}  // namespace weft::model
