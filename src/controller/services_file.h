#pragma once
// The file source's document (DESIGN.md §9, services.yaml): services with
// their endpoints and SMI-style traffic splits. Parsing is pure and strict: a
// document is either accepted whole or rejected with the key at fault, so a
// bad edit never becomes half of a state. Any thread; no I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/service_names.h"
#include "model/endpoint.h"

namespace weft::controller {

struct ServiceSpec {
  std::string name;  // normalised authority "host:port" (= the xDS cluster name)
  std::vector<model::Endpoint> endpoints;
  Protocol protocol = Protocol::kUnspecified;
};

struct SplitBackend {
  std::string service;  // normalised; must name a service of the same document
  uint32_t weight = 0;  // 0 keeps the backend listed but sends it nothing
};

// The apex `name` is served as a cluster whose endpoints are those of the
// backends, weighted by the split (state_store.h computes it).
struct SplitSpec {
  std::string name;
  std::vector<SplitBackend> backends;
  Protocol protocol = Protocol::kUnspecified;
};

struct SourceState {
  std::vector<ServiceSpec> services;
  std::vector<SplitSpec> splits;
};

struct SourceError {
  std::string key;   // e.g. "services[1].endpoints[0]"; "(document)" for syntax errors
  std::string what;
  std::string describe() const { return key + ": " + what; }
};

struct ParseResult {
  std::optional<SourceState> state;  // set on success
  SourceError error;                 // meaningful when !state
};

// Accepts the services.yaml form:
//   services: [{name, endpoints: [addr | {address, weight}], protocol?}]
//   splits:   [{name, backends: [{service, weight}], protocol?}]
// Rejects unknown keys, malformed addresses, weights outside 1..1000000 (0..
// for split backends), duplicate names, a split named like a service, a split
// backend that is not a service of the document (splits of splits included),
// and a split whose backend weights are all 0. Duplicate endpoint addresses
// within one service are rejected too (a weight says the same thing).
ParseResult parseServicesYaml(std::string_view text);

}  // namespace weft::controller
