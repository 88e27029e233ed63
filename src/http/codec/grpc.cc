#include "http/codec/grpc.h"

#include <cstdint>

namespace weft::http {

std::optional<std::chrono::microseconds> parseGrpcTimeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  uint64_t n = 0;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  using namespace std::chrono;
  switch (v.back()) {
    case 'H': return duration_cast<microseconds>(hours(n));
    case 'M': return duration_cast<microseconds>(minutes(n));
    case 'S': return duration_cast<microseconds>(seconds(n));
    case 'm': return duration_cast<microseconds>(milliseconds(n));
    case 'u': return microseconds(n);
    case 'n': return microseconds((n + 999) / 1000);
    default: return std::nullopt;
  }
}

}  // namespace weft::http
