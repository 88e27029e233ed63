#pragma once
// The discovered or configured endpoints of a logical service. Shared by the
// proxy and the controller. Plain values; any thread.
#include <cstdint>
#include <string>
#include <vector>

namespace weft::model {

struct Endpoint {
  std::string address;  // "ip:port" or "[v6]:port"
  uint32_t weight = 1;
  bool operator==(const Endpoint&) const = default;
};

// Authority normalisation: a missing port means 80 ("api.test" -> "api.test:80");
// host part lowercased.
std::string normalizeAuthority(std::string_view authority, uint16_t defaultPort = 80);

}  // namespace weft::model
