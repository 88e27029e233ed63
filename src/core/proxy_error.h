#pragma once
// The causes of every response the proxy synthesizes itself, and how each one
// is presented to HTTP and gRPC clients (docs/errors.md is the operator's view
// of this table; keep both in step). Pure data: safe on any thread.
#include <cstdint>
#include <string_view>

namespace weft {

enum class ProxyError : uint8_t {
  kNone = 0,
  kNoEndpoints,        // cluster has no endpoints at all
  kFailFast,           // no ready endpoint within the failfast timeout
  kLoadShed,           // balancer queue full
  kConnectFailed,      // could not connect upstream (after retries)
  kConnectTimeout,     // connect attempt timed out
  kUpstreamReset,      // upstream connection lost / stream reset
  kUpstreamProtocol,   // upstream sent something unparseable
  kTimeout,            // request timeout or grpc-timeout elapsed
  kMalformedRequest,   // the client sent something we must reject
  kUnknownService,     // no cluster for the authority
  kDownstreamReset,    // client went away (never sent to a client; counted)
  kShuttingDown,       // proxy is draining
  kDiscoveryTimeout,   // the controller did not answer for a new authority within the failfast timeout
  kCount
};

// Stable, operator-facing code used in `weft-proxy-error` and metric labels.
std::string_view proxyErrorCode(ProxyError e);
// HTTP status the proxy answers with when the error happens before any
// response byte was sent.
int proxyErrorHttpStatus(ProxyError e);
// gRPC status code for application/grpc requests.
int proxyErrorGrpcStatus(ProxyError e);
// Human-readable message used in grpc-message and response bodies.
std::string_view proxyErrorMessage(ProxyError e);

}  // namespace weft
