#pragma once
// gRPC-over-HTTP/2 helpers that need no I/O. Pure; any thread.
#include <chrono>
#include <optional>
#include <string_view>

namespace weft::http {

// Parses a `grpc-timeout` value (1–8 digits followed by H, M, S, m, u or n).
// Returns nullopt for anything malformed (the header is then ignored, as
// gRPC servers do).
std::optional<std::chrono::microseconds> parseGrpcTimeout(std::string_view value);

}  // namespace weft::http
