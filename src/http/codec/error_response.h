#pragma once
// Builds the responses the proxy synthesizes for its own errors
// (docs/errors.md): HTTP status + text body, or a gRPC trailers-only response;
// always with `weft-proxy-error: <code>`. Pure functions; any thread.
#include <string>

#include "core/proxy_error.h"
#include "http/codec/message.h"

namespace weft::http {

inline constexpr std::string_view kProxyErrorHeader = "weft-proxy-error";

struct SynthesizedResponse {
  ResponseHead head;
  std::string body;  // empty for gRPC (trailers-only)
};

SynthesizedResponse makeErrorResponse(const RequestHead& request, ProxyError error);
// Trailers that end a gRPC response whose stream broke after the head was sent.
HeaderList grpcErrorTrailers(ProxyError error);

}  // namespace weft::http
