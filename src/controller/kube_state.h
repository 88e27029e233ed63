#pragma once
// Kubernetes Services + EndpointSlices → the controller's SourceState
// (docs/controller.md "The Kubernetes source").
//
// - Every TCP port of every Service (not ExternalName) is one cluster named
//   `<service>.<namespace>.svc.<cluster-domain>:<port>`, the authority a pod
//   dials. A Service without endpoints is a cluster with an empty set (it
//   exists: proxies answer "no endpoints", not "unknown service").
// - Its endpoints come from the EndpointSlices labelled
//   kubernetes.io/service-name=<service> in the same namespace (addressType
//   IPv4 or IPv6): for the slice port whose name equals the Service port's
//   name (so named target ports resolve per pod), each endpoint's first
//   address at that slice port's number. Weight 1.
// - Conditions: endpoints with `ready` are served. Only when a port has no
//   ready endpoint at all are the `serving` + `terminating` ones served
//   instead (as kube-proxy does since Kubernetes 1.26, KEP-1669, and Envoy
//   Gateway / Istio in their graceful-drain modes): a rollout whose old pods
//   are all terminating but still serving keeps working until they stop.
//   Not-serving endpoints are never served.
// - Protocol from the port's appProtocol: "kubernetes.io/h2c", "h2c",
//   "http2", "grpc" → http2; "http1", "http/1.1" → http1; else unspecified.
//
// Pure, any thread.
#include <map>
#include <string>
#include <vector>

#include "controller/kube_objects.h"
#include "controller/services_file.h"

namespace weft::controller::kube {

// Keyed by "namespace/name".
using ServiceMap = std::map<std::string, Service>;
using SliceMap = std::map<std::string, EndpointSlice>;

// `rejected` receives a reason per endpoint address that is not a numeric IP.
SourceState sourceStateOf(const ServiceMap& services, const SliceMap& slices, const std::string& clusterDomain,
                          std::vector<std::string>* rejected);

}  // namespace weft::controller::kube
