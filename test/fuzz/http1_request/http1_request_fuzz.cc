// libFuzzer target for the HTTP/1 request parser (DESIGN.md §8 rule 11).
//
// The first input byte picks a split size so the same request is also parsed
// in arbitrary pieces, the way a socket delivers it. Properties checked: no
// crash, no hang (every call either consumes bytes, ends the message or asks
// for more), and the parser never consumes more than it was given.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/codec/http1_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t step = static_cast<size_t>(data[0] % 64) + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  weft::http::Http1RequestParser parser(4096);
  std::string buf;
  size_t fed = 0;
  size_t bodyBytes = 0;
  int messages = 0;
  // Every iteration consumes, completes or feeds, so this bound is never the
  // reason the loop ends for a correct parser.
  for (size_t guard = 0; guard < 4 * size + 64; ++guard) {
    size_t consumed = 0;
    auto ev = parser.parse(buf, consumed);
    if (consumed > buf.size()) std::abort();
    buf.erase(0, consumed);
    bodyBytes += parser.body().size();
    parser.body().clear();
    if (ev == weft::http::Http1Event::kError) {
      if (parser.error() == weft::http::Http1Error::kNone) std::abort();
      return 0;
    }
    if (ev == weft::http::Http1Event::kHead) {
      auto& head = parser.requestHead();
      // Framing invariants of a parsed head.
      if (head.contentLength && parser.chunked()) std::abort();
      if (head.headers.has("transfer-encoding") || head.headers.has("content-length")) std::abort();
      if (parser.done()) ev = weft::http::Http1Event::kDone;
      else continue;
    }
    if (ev == weft::http::Http1Event::kDone) {
      ++messages;
      if (parser.requestHead().upgrade) return 0;  // the rest would be tunnel bytes
      parser.reset();
      continue;
    }
    if (ev == weft::http::Http1Event::kBody) {
      if (consumed == 0) std::abort();  // kBody must make progress
      continue;
    }
    if (fed == input.size()) return 0;
    size_t n = std::min(step, input.size() - fed);
    buf.append(input.substr(fed, n));
    fed += n;
  }
  if (fed < input.size()) std::abort();  // stalled: a hang in a real session
  (void)bodyBytes;
  (void)messages;
  return 0;
}
