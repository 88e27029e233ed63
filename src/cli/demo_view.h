#pragma once
// What the demo reads from each proxy's admin API (/debug/endpoints and
// /metrics) and how it draws the live view. Pure: parsing and rendering only,
// no I/O; any thread.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::cli {

struct EndpointView {
  std::string state;  // as /debug/endpoints says (every worker's, joined by '/' when they differ)
  double ewmaMs = 0;
  int64_t inFlight = 0;
  double weight = 1;
};

struct MetricSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

struct ProxySnapshot {
  bool ok = false;
  std::string error;
  // cluster → address → view
  std::map<std::string, std::map<std::string, EndpointView>> clusters;
  std::vector<MetricSample> metrics;
  // Sum of every sample of `name` whose labels include all of `match`.
  double sum(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> match = {}) const;
};

// Parses GET /debug/endpoints JSON; false (with `error`) when it is not the documented shape.
bool parseEndpointsJson(std::string_view json, ProxySnapshot& out, std::string& error);
// Parses Prometheus text (comments skipped, malformed lines ignored).
std::vector<MetricSample> parsePrometheus(std::string_view text);

// One row of the endpoint table.
struct ViewRow {
  std::string service;
  std::string instance;
  std::string address;
  std::string status;                   // running | stopped | dark | ...
  std::vector<std::string> proxyStates; // one per proxy ("-": not in its set)
  uint64_t perSecond = 0;
  uint64_t total = 0;
  double ewmaMs = 0;                    // the proxies' mean latency estimate (0: in no set)
};

struct ViewProtocolLine {
  std::string name;
  uint64_t ok = 0, failed = 0, windowOk = 0, windowFailed = 0;
  double p50Ms = 0, p99Ms = 0;  // over the last window
  std::string extra;
};

struct ViewModel {
  double elapsed = 0, duration = 0;
  std::string step;
  std::vector<ViewRow> rows;
  std::vector<ViewProtocolLine> protocols;
  std::string proxies;                 // retries / errors summary line
  std::vector<std::string> story;      // most recent narration lines
  std::vector<std::string> failures;   // most recent failed requests
};

// The full-screen view (ANSI: home + clear, bold headers, red errors).
std::string renderTty(const ViewModel& m);
// One plain line for logs and pipes.
std::string renderPlain(const ViewModel& m);

}  // namespace weft::cli
