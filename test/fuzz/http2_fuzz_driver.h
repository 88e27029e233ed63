#pragma once
// Shared by the HTTP/2 codec fuzz targets (http2_server, http2_client).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/codec/http2_codec.h"

namespace weft::http::fuzz {

// One outgoing body with trailers, handed to the codec in DATA-sized pieces;
// deferred once (after `deferAfter` bytes) to exercise DEFERRED + resumeData.
struct FuzzBody {
  std::string body;
  HeaderList trailers;
  size_t sent = 0;
  bool deferredOnce = false;

  Http2BodyChunk read(uint8_t* buf, size_t length, bool deferHere) {
    if (deferHere && !deferredOnce) {
      deferredOnce = true;
      return {Http2BodyChunk::Kind::kDeferred};
    }
    size_t n = std::min(length, body.size() - sent);
    std::copy_n(body.data() + sent, n, buf);
    sent += n;
    Http2BodyChunk c;
    c.length = n;
    c.end = sent == body.size();
    c.trailers = &trailers;
    return c;
  }
};

// Feeds the input to `codec` the way a socket would: byte 0 picks the read
// size (0 = everything at once) so frame boundaries land anywhere; after
// each read `turn()` runs (the events side's between-reads work) and the
// output is drained with the real writer's batch cap. Stops once the codec
// gives up on the connection.
template <class Turn>
void feedInReads(Http2Codec& codec, const uint8_t* data, size_t size, Turn turn) {
  std::string out;
  codec.drainOutput(out, 256 * 1024);
  if (size == 0) return;
  size_t chunk = data[0] == 0 ? size : data[0];
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  while (!rest.empty()) {
    auto piece = rest.substr(0, chunk);
    rest.remove_prefix(piece.size());
    bool ok = codec.receive(piece);
    turn();
    out.clear();
    codec.drainOutput(out, 256 * 1024);
    if (!ok || !codec.wantsRead()) break;
  }
  out.clear();
  codec.drainOutput(out, 256 * 1024);
}

}  // namespace weft::http::fuzz
