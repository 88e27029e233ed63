// Fuzzes what the etcd source reads from a peer: the gateway's watch stream
// (newline-delimited JSON messages, split at arbitrary points by the
// network) and range responses, plus the base64 codec underneath.
//
// Beyond "does not crash": splitting the stream at a fuzzer-chosen point must
// yield the same lines as feeding it whole, and base64 decode → encode →
// decode must be stable.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "controller/etcd_messages.h"
#include "../ndjson_fuzz_lines.h"

using weft::controller::fuzz::lines;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t split = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

  auto whole = lines(in, in.size());
  auto parts = lines(in, split);
  if (whole != parts) std::abort();

  for (const auto& line : whole) {
    std::string why;
    auto m = weft::controller::etcd::parseWatchMessage(line, &why);
    if (!m && why.empty()) std::abort();  // a rejection always has a reason
    if (m) {
      for (const auto& ev : m->events)
        if (ev.kv.key.empty()) std::abort();  // the parser rejects empty keys
    }
    (void)weft::controller::etcd::parseRangeResponse(line, &why);
    (void)weft::controller::etcd::errorBodyMessage(line);
  }

  if (auto raw = weft::controller::etcd::base64Decode(in)) {
    auto again = weft::controller::etcd::base64Decode(weft::controller::etcd::base64Encode(*raw));
    if (!again || *again != *raw) std::abort();
  }
  return 0;
}
