// libFuzzer target for the HTTP/1 response parser (DESIGN.md §8 rule 11): an
// upstream server is a peer too, and its heads are parsed by weft's own code.
//
// The first input byte picks a split size (so the same response is also
// parsed in arbitrary pieces, the way a socket delivers it) and two flags:
// whether the response answers a HEAD request, and whether the server closes
// after the last byte. Properties checked: no crash, no hang (every call
// either consumes bytes, ends the message or asks for more), the parser never
// consumes more than it was given, an error always names its reason, and a
// parsed head's framing is consistent (never a length and chunked at once,
// never a body for HEAD, 1xx, 204 or 304, no framing field left in the list).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/codec/http1_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t step = static_cast<size_t>(data[0] % 64) + 1;
  bool headRequest = (data[0] & 0x40) != 0;
  bool closeAtEnd = (data[0] & 0x80) != 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  using weft::http::Http1Event;

  weft::http::Http1ResponseParser parser(4096);
  parser.reset(headRequest);
  std::string buf;
  size_t fed = 0;
  // Every iteration consumes, completes or feeds, so this bound is never the
  // reason the loop ends for a correct parser.
  for (size_t guard = 0; guard < 4 * size + 64; ++guard) {
    size_t consumed = 0;
    auto ev = parser.parse(buf, consumed);
    if (consumed > buf.size()) std::abort();
    buf.erase(0, consumed);
    parser.body().clear();
    if (ev == Http1Event::kError) {
      if (parser.error() == weft::http::Http1Error::kNone) std::abort();
      return 0;
    }
    if (ev == Http1Event::kHead) {
      const auto& head = parser.responseHead();
      if (head.contentLength && parser.chunked()) std::abort();
      if (head.headers.has("transfer-encoding") || head.headers.has("content-length")) std::abort();
      bool noBody = headRequest || head.status < 200 || head.status == 204 || head.status == 304;
      if (noBody && (head.hasBody || !parser.done())) std::abort();
      if (parser.untilEof() && head.keepAlive) std::abort();
      if (!parser.done()) continue;
      ev = Http1Event::kDone;
    }
    if (ev == Http1Event::kDone) {
      if (parser.responseHead().status == 101) return 0;  // the rest would be tunnel bytes
      parser.reset(headRequest);
      continue;
    }
    if (ev == Http1Event::kBody) {
      if (consumed == 0) std::abort();  // kBody must make progress
      continue;
    }
    if (fed == input.size()) {
      if (closeAtEnd) {
        auto end = parser.finishOnEof();
        if (end == Http1Event::kError && parser.error() == weft::http::Http1Error::kNone) std::abort();
        if (end != Http1Event::kError && end != Http1Event::kDone) std::abort();
      }
      return 0;
    }
    size_t n = std::min(step, input.size() - fed);
    buf.append(input.substr(fed, n));
    fed += n;
  }
  if (fed < input.size()) std::abort();  // stalled: a hang in a real session
  return 0;
}
