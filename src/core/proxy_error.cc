#include "core/proxy_error.h"

namespace weft {
namespace {
struct ErrorInfo {
  std::string_view code;
  int http;
  int grpc;
  std::string_view message;
};

// gRPC codes: 4 DEADLINE_EXCEEDED, 14 UNAVAILABLE, 13 INTERNAL.
// Every transport-level failure is UNAVAILABLE so clients retry (incident 005).
constexpr ErrorInfo kErrors[] = {
    {"none", 200, 0, "ok"},
    {"no-endpoints", 503, 14, "no endpoints for service"},
    {"failfast", 503, 14, "no ready endpoint within failfast timeout"},
    {"load-shed", 503, 14, "request queue full, load shed"},
    {"connect-failed", 502, 14, "could not connect to upstream"},
    {"connect-timeout", 502, 14, "connect to upstream timed out"},
    {"upstream-reset", 502, 14, "upstream connection lost"},
    {"upstream-protocol-error", 502, 14, "upstream sent a malformed response"},
    {"timeout", 504, 4, "request timed out"},
    {"malformed-request", 400, 13, "malformed request"},
    {"unknown-service", 503, 14, "no route for authority"},
    {"downstream-reset", 499, 1, "client cancelled"},
    {"shutting-down", 503, 14, "proxy is shutting down"},
    {"discovery-timeout", 503, 14, "no answer from the controller for this service"},
};
static_assert(sizeof(kErrors) / sizeof(kErrors[0]) == static_cast<size_t>(ProxyError::kCount));

const ErrorInfo& info(ProxyError e) {
  auto i = static_cast<size_t>(e);
  return kErrors[i < static_cast<size_t>(ProxyError::kCount) ? i : 0];
}
}  // namespace

std::string_view proxyErrorCode(ProxyError e) { return info(e).code; }
int proxyErrorHttpStatus(ProxyError e) { return info(e).http; }
int proxyErrorGrpcStatus(ProxyError e) { return info(e).grpc; }
std::string_view proxyErrorMessage(ProxyError e) { return info(e).message; }

}  // namespace weft
