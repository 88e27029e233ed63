#pragma once
// gRPC length-prefixed messages (gRPC over HTTP/2, "Length-Prefixed-Message"):
// 1 byte compressed flag, 4 bytes big-endian length, then the message. Used by
// the sample server (to answer) and the demo's gRPC load client (to check the
// echo). Pure and header-only (so the fuzz target needs no library); any
// thread; no allocation beyond the returned strings.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft::cli {

inline std::string encodeGrpcMessage(std::string_view message) {
  std::string out;
  out.reserve(5 + message.size());
  out.push_back('\0');  // not compressed
  auto n = static_cast<uint32_t>(message.size());
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.append(message);
  return out;
}

enum class GrpcUnaryParse : uint8_t {
  kOk,           // exactly one uncompressed message, nothing after it
  kNoMessage,    // empty body
  kTruncated,    // a prefix or message cut short
  kCompressed,   // compressed flag set (we advertise no grpc-encoding)
  kBadFlag,      // flag byte other than 0 or 1
  kTooLarge,     // longer than the caller's limit
  kTrailingData, // more than one message (a unary call carries one)
};

inline std::string_view grpcUnaryParseName(GrpcUnaryParse p) {
  switch (p) {
    case GrpcUnaryParse::kOk: return "ok";
    case GrpcUnaryParse::kNoMessage: return "no message";
    case GrpcUnaryParse::kTruncated: return "truncated message";
    case GrpcUnaryParse::kCompressed: return "compressed message (no grpc-encoding is accepted)";
    case GrpcUnaryParse::kBadFlag: return "invalid compressed-flag byte";
    case GrpcUnaryParse::kTooLarge: return "message too large";
    case GrpcUnaryParse::kTrailingData: return "more than one message in a unary call";
  }
  return "?";
}

// Parses the whole body of a unary call (request or response). On kOk,
// `message` views into `body`.
inline GrpcUnaryParse parseGrpcUnary(std::string_view body, size_t maxMessageBytes, std::string_view& message) {
  if (body.empty()) return GrpcUnaryParse::kNoMessage;
  if (body.size() < 5) return GrpcUnaryParse::kTruncated;
  auto flag = static_cast<uint8_t>(body[0]);
  if (flag > 1) return GrpcUnaryParse::kBadFlag;
  uint32_t n = (uint32_t{static_cast<uint8_t>(body[1])} << 24) | (uint32_t{static_cast<uint8_t>(body[2])} << 16) |
               (uint32_t{static_cast<uint8_t>(body[3])} << 8) | uint32_t{static_cast<uint8_t>(body[4])};
  if (n > maxMessageBytes) return GrpcUnaryParse::kTooLarge;
  if (body.size() - 5 < n) return GrpcUnaryParse::kTruncated;
  if (flag == 1) return GrpcUnaryParse::kCompressed;
  if (body.size() - 5 > n) return GrpcUnaryParse::kTrailingData;
  message = body.substr(5, n);
  return GrpcUnaryParse::kOk;
}

// A protobuf message whose field 1 is the string `text` (weft.demo /
// weft.test EchoRequest{message}). Enough for the demo's client to build an
// echo request without a protobuf dependency.
inline std::string protoStringField1(std::string_view text) {
  std::string out;
  out.push_back('\x0a');  // field 1, wire type 2 (length-delimited)
  size_t n = text.size();
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out.push_back(static_cast<char>(n ? (b | 0x80) : b));
  } while (n);
  out.append(text);
  return out;
}

}  // namespace weft::cli
