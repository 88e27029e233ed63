#include "proxy/endpoint_metrics.h"

namespace weft::proxy {

EndpointMetrics::EndpointMetrics(std::string_view direction, std::string_view cluster)
    : base_(labels({labelPair("direction", direction), labelPair("cluster", cluster)})) {}

EndpointMetrics::Cells EndpointMetrics::make(std::string_view endpoint) {
  auto& reg = MetricsRegistry::global();
  auto ep = labels({base_, labelPair("endpoint", endpoint)});
  static constexpr std::string_view kHelp =
      "Requests by the endpoint that answered (none: reached no endpoint) and outcome (failure: no response, 5xx, "
      "a proxy error or a non-OK grpc-status)";
  Cells c;
  c.success = &reg.counter("weft_endpoint_requests_total", kHelp, labels({ep, labelPair("outcome", "success")}));
  c.failure = &reg.counter("weft_endpoint_requests_total", kHelp, labels({ep, labelPair("outcome", "failure")}));
  c.latency = &reg.histogram("weft_endpoint_request_duration_seconds",
                             "Time from request head to the end of the response, by endpoint", ep);
  return c;
}

EndpointMetrics::Cells& EndpointMetrics::cellsFor(std::string_view endpoint) {
  if (endpoint.empty()) endpoint = "none";
  if (auto it = cells_.find(endpoint); it != cells_.end()) return it->second;
  if (cells_.size() >= kMaxEndpoints) {
    if (!other_.success) other_ = make("other");
    return other_;
  }
  return cells_.emplace(std::string(endpoint), make(endpoint)).first->second;
}

void EndpointMetrics::record(std::string_view endpoint, bool success, uint64_t latencyMicros) {
  auto& c = cellsFor(endpoint);
  (success ? c.success : c.failure)->inc();
  c.latency->observeMicros(latencyMicros);
}

}  // namespace weft::proxy
