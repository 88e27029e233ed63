// Fuzzes what the Kubernetes source reads from an API server: watch streams
// of newline-delimited events (split at arbitrary points by the network),
// list bodies and Status bodies, for both resources, and the mapping of the
// parsed objects to clusters.
//
// Beyond "does not crash": split and whole feeds yield the same lines; every
// rejection has a reason; every endpoint the mapping produces is a canonical
// numeric address with a port.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "controller/kube_objects.h"
#include "controller/kube_state.h"
#include "../ndjson_fuzz_lines.h"

namespace {

using namespace weft::controller;
using fuzz::lines;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t split = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto whole = lines(in, in.size());
  if (whole != lines(in, split)) std::abort();

  kube::ServiceMap services;
  kube::SliceMap slices;
  for (const auto& line : whole) {
    for (auto r : {kube::Resource::kService, kube::Resource::kEndpointSlice}) {
      std::string why;
      auto ev = kube::parseWatchEvent(r, line, &why);
      if (!ev && why.empty()) std::abort();
      if (ev && ev->type != kube::WatchEvent::Type::kError && ev->type != kube::WatchEvent::Type::kBookmark) {
        if (r == kube::Resource::kService) {
          services[ev->object.service.ns + "/" + ev->object.service.name] = ev->object.service;
        } else {
          slices[ev->object.slice.ns + "/" + ev->object.slice.name] = ev->object.slice;
        }
      }
      (void)kube::parseList(r, line, &why);
    }
    std::string message;
    (void)kube::statusCode(line, &message);
  }
  std::vector<std::string> rejected;
  auto state = kube::sourceStateOf(services, slices, "cluster.local", &rejected);
  for (const auto& s : state.services) {
    for (const auto& e : s.endpoints) {
      std::string why;
      auto canonical = canonicalEndpointAddress(e.address, &why);
      if (!canonical || *canonical != e.address) std::abort();
    }
  }
  return 0;
}
