#pragma once
// Protocol detection on an accepted connection (DESIGN.md §2): the HTTP/2
// client preface → HTTP/2; an HTTP/1 request line → HTTP/1; anything else →
// opaque TCP. Pure function over the bytes read so far; the caller reads more
// while it answers kNeedMore, up to kMaxDetectBytes or the detect timeout.
#include <cstddef>
#include <string_view>

namespace weft::proxy {

enum class DetectedProtocol { kNeedMore, kHttp1, kHttp2, kOpaque };

inline constexpr size_t kMaxDetectBytes = 1024;
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

DetectedProtocol detectProtocol(std::string_view firstBytes);

}  // namespace weft::proxy
