#include "http/codec/error_response.h"

#include <fmt/format.h>

namespace weft::http {

SynthesizedResponse makeErrorResponse(const RequestHead& request, ProxyError error) {
  SynthesizedResponse r;
  r.head.headers.add(kProxyErrorHeader, proxyErrorCode(error));
  // A malformed request is answered in plain HTTP even when it claims to be
  // gRPC (DESIGN.md §6): its framing cannot be trusted.
  if (request.isGrpc() && error != ProxyError::kMalformedRequest) {
    // Trailers-only response (gRPC over HTTP/2 spec): status 200, the grpc
    // status in the single HEADERS frame, no body.
    r.head.status = 200;
    r.head.hasBody = false;
    r.head.headers.add("content-type", "application/grpc");
    r.head.headers.add("grpc-status", fmt::format("{}", proxyErrorGrpcStatus(error)));
    r.head.headers.add("grpc-message", fmt::format("weft: {}", proxyErrorMessage(error)));
    r.head.contentLength = 0;
    return r;
  }
  r.head.status = proxyErrorHttpStatus(error);
  r.body = fmt::format("weft: {} ({})\n", proxyErrorMessage(error), proxyErrorCode(error));
  r.head.headers.add("content-type", "text/plain");
  r.head.contentLength = r.body.size();
  r.head.hasBody = request.method != "HEAD";
  return r;
}

HeaderList grpcErrorTrailers(ProxyError error) {
  HeaderList t;
  t.add("grpc-status", fmt::format("{}", proxyErrorGrpcStatus(error)));
  t.add("grpc-message", fmt::format("weft: {}", proxyErrorMessage(error)));
  t.add(kProxyErrorHeader, proxyErrorCode(error));
  return t;
}

}  // namespace weft::http
