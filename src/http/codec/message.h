#pragma once
// Protocol-neutral request and response heads: what both codecs produce and
// consume, so the proxy can join any downstream protocol to any upstream one.
// Pseudo-headers are fields of the struct, never entries of `headers`.
#include <cstdint>
#include <optional>
#include <string>

#include "http/codec/header_list.h"

namespace weft::http {

enum class Version : uint8_t { kHttp10, kHttp11, kHttp2 };

struct RequestHead {
  std::string method;
  std::string scheme = "http";
  std::string authority;  // Host for HTTP/1, :authority for HTTP/2
  std::string path;       // request target (origin form), or :path
  Version version = Version::kHttp11;
  HeaderList headers;     // end-to-end headers only (hop-by-hop removed)
  std::optional<uint64_t> contentLength;
  bool hasBody = false;       // a body follows the head (possibly empty when chunked)
  bool expectContinue = false;
  bool upgrade = false;       // HTTP/1 Upgrade (WebSocket): tunnel after 101
  std::string upgradeProtocol;
  bool keepAlive = true;      // HTTP/1: the client wants the connection kept

  bool isGrpc() const;        // content-type application/grpc[+proto|;...]
};

struct ResponseHead {
  int status = 200;
  HeaderList headers;     // end-to-end headers only
  std::optional<uint64_t> contentLength;
  bool hasBody = true;    // false for trailers-only / HEAD / 204 / 304
  bool keepAlive = true;  // HTTP/1: upstream did not say Connection: close
  Version version = Version::kHttp11;
};

// True for `application/grpc`, `application/grpc+proto`, `application/grpc;...`.
bool isGrpcContentType(std::string_view contentType);

}  // namespace weft::http
