#include "proxy/protocol_detect.h"

namespace weft::proxy {
namespace {

bool isTokenChar(char c) {
  if (c >= 'a' && c <= 'z') return true;
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Checks as much of "METHOD SP TARGET SP HTTP/1.x" as `s` holds. Returns
// kNeedMore while every byte so far fits that shape.
DetectedProtocol classifyRequestLine(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && isTokenChar(s[i])) ++i;
  if (i == s.size()) return i > 0 && i < 32 ? DetectedProtocol::kNeedMore : DetectedProtocol::kOpaque;
  if (i == 0 || s[i] != ' ') return DetectedProtocol::kOpaque;
  ++i;
  size_t targetStart = i;
  while (i < s.size() && s[i] != ' ' && s[i] != '\r' && s[i] != '\n' && static_cast<unsigned char>(s[i]) > 0x20 &&
         static_cast<unsigned char>(s[i]) < 0x7f)
    ++i;
  if (i == s.size()) return DetectedProtocol::kNeedMore;
  if (i == targetStart || s[i] != ' ') return DetectedProtocol::kOpaque;
  ++i;
  constexpr std::string_view kVersion = "HTTP/1.";
  std::string_view rest = s.substr(i);
  size_t n = std::min(rest.size(), kVersion.size());
  if (rest.substr(0, n) != kVersion.substr(0, n)) return DetectedProtocol::kOpaque;
  if (rest.size() <= kVersion.size()) return DetectedProtocol::kNeedMore;
  char minor = rest[kVersion.size()];
  if (minor != '0' && minor != '1') return DetectedProtocol::kOpaque;
  if (rest.size() == kVersion.size() + 1) return DetectedProtocol::kNeedMore;
  char after = rest[kVersion.size() + 1];
  if (after == '\r' || after == '\n') return DetectedProtocol::kHttp1;
  return DetectedProtocol::kOpaque;
}

}  // namespace

DetectedProtocol detectProtocol(std::string_view s) {
  if (s.empty()) return DetectedProtocol::kNeedMore;
  size_t n = std::min(s.size(), kHttp2Preface.size());
  if (s.substr(0, n) == kHttp2Preface.substr(0, n))
    return s.size() >= kHttp2Preface.size() ? DetectedProtocol::kHttp2 : DetectedProtocol::kNeedMore;
  auto r = classifyRequestLine(s);
  if (r == DetectedProtocol::kNeedMore && s.size() >= kMaxDetectBytes) return DetectedProtocol::kOpaque;
  return r;
}

}  // namespace weft::proxy
