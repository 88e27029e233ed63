#pragma once
// The Kubernetes API objects the Kubernetes source reads — Services (core/v1)
// and EndpointSlices (discovery.k8s.io/v1) — and the list and watch-event
// envelopes around them, parsed from JSON into the few fields weft uses.
//
// Pure: no I/O, any thread, never throws. A peer's bytes yield a value or a
// reason (fuzzed: test/fuzz/kube_watch/). Fields weft does not use are
// ignored, as every Kubernetes client does (objects grow fields).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::controller::kube {

enum class Resource { kService, kEndpointSlice };

struct ServicePort {
  std::string name;         // "" for a single unnamed port
  int32_t port = 0;
  std::string protocol;     // "TCP" (default) | "UDP" | "SCTP"
  std::string appProtocol;  // optional, e.g. "kubernetes.io/h2c", "http2", "grpc"
};

struct Service {
  std::string ns, name, resourceVersion;
  std::string type;  // "ClusterIP" (default) | "NodePort" | "LoadBalancer" | "ExternalName"
  std::vector<ServicePort> ports;
};

struct SlicePort {
  std::optional<std::string> name;  // matches a Service port's name; absent = ""
  std::optional<int32_t> port;      // absent: the slice's endpoints serve no port for that name
  std::string protocol;             // "TCP" default
};

struct SliceEndpoint {
  std::vector<std::string> addresses;
  // The API's tri-state conditions, resolved as its docs say: ready nil =
  // ready; serving nil = same as ready; terminating nil = false.
  bool ready = true;
  bool serving = true;
  bool terminating = false;
};

struct EndpointSlice {
  std::string ns, name, resourceVersion;
  std::string serviceName;  // label kubernetes.io/service-name ("" when absent)
  std::string addressType;  // "IPv4" | "IPv6" | "FQDN"
  std::vector<SlicePort> ports;
  std::vector<SliceEndpoint> endpoints;
};

struct Object {
  Resource resource = Resource::kService;
  Service service;      // when resource == kService
  EndpointSlice slice;  // when resource == kEndpointSlice
};

struct List {
  std::string resourceVersion;  // metadata.resourceVersion of the list
  std::string continueToken;    // metadata.continue ("" on the last page)
  std::vector<Object> items;
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  std::string resourceVersion;  // the object's (bookmarks: only this is set)
  Object object;                // for ADDED / MODIFIED / DELETED
  int32_t errorCode = 0;        // ERROR: the Status object's code (410: resourceVersion too old)
  std::string errorMessage;
};

std::string_view watchEventTypeName(WatchEvent::Type t);  // "added" ... "error": metric label

// `why` is set on failure.
std::optional<List> parseList(Resource r, std::string_view json, std::string* why);
std::optional<WatchEvent> parseWatchEvent(Resource r, std::string_view json, std::string* why);
// The code and message of a Status body (an HTTP error response), 0 when it is not one.
int32_t statusCode(std::string_view json, std::string* message);

}  // namespace weft::controller::kube
