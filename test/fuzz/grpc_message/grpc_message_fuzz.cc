// Fuzzes the gRPC length-prefixed message reader the sample server runs on
// every request body a peer sends (src/cli/grpc_message.h). Beyond "does not
// crash", each result is checked against the framing itself: kOk only for
// exactly one uncompressed message that re-encodes to the input, and every
// rejection must be the one the bytes call for.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "cli/grpc_message.h"

namespace {
void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "grpc_message invariant broken: %s\n", what);
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  constexpr size_t kLimit = 4096;
  std::string_view message;
  auto r = weft::cli::parseGrpcUnary(body, kLimit, message);
  if (size == 0) {
    check(r == weft::cli::GrpcUnaryParse::kNoMessage, "empty body is kNoMessage");
    return 0;
  }
  if (size < 5) {
    check(r == weft::cli::GrpcUnaryParse::kTruncated, "short prefix is kTruncated");
    return 0;
  }
  uint8_t flag = data[0];
  uint64_t n = (uint64_t{data[1]} << 24) | (uint64_t{data[2]} << 16) | (uint64_t{data[3]} << 8) | data[4];
  if (flag > 1) check(r == weft::cli::GrpcUnaryParse::kBadFlag, "flag > 1 is kBadFlag");
  else if (n > kLimit) check(r == weft::cli::GrpcUnaryParse::kTooLarge, "length over the limit is kTooLarge");
  else if (size - 5 < n) check(r == weft::cli::GrpcUnaryParse::kTruncated, "cut message is kTruncated");
  else if (flag == 1) check(r == weft::cli::GrpcUnaryParse::kCompressed, "flag 1 is kCompressed");
  else if (size - 5 > n) check(r == weft::cli::GrpcUnaryParse::kTrailingData, "extra bytes are kTrailingData");
  else check(r == weft::cli::GrpcUnaryParse::kOk, "one exact message is kOk");
  if (r == weft::cli::GrpcUnaryParse::kOk) {
    check(message.size() == n, "message length");
    check(weft::cli::encodeGrpcMessage(message) == body, "re-encodes to the input");
  }
  return 0;
}
