#include "controller/kube_state.h"

#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "controller/service_names.h"

namespace weft::controller::kube {

namespace {

Protocol protocolOf(std::string_view appProtocol) {
  if (appProtocol == "kubernetes.io/h2c" || appProtocol == "h2c" || appProtocol == "http2" || appProtocol == "grpc") {
    return Protocol::kHttp2;
  }
  if (appProtocol == "http1" || appProtocol == "http/1.1") return Protocol::kHttp1;
  return Protocol::kUnspecified;
}

}  // namespace

SourceState sourceStateOf(const ServiceMap& services, const SliceMap& slices, const std::string& clusterDomain,
                          std::vector<std::string>* rejected) {
  std::unordered_map<std::string, std::vector<const EndpointSlice*>> byService;  // "ns/service"
  for (const auto& [key, s] : slices) {
    if (s.serviceName.empty() || (s.addressType != "IPv4" && s.addressType != "IPv6")) continue;
    byService[s.ns + "/" + s.serviceName].push_back(&s);
  }
  SourceState out;
  for (const auto& [key, svc] : services) {
    if (svc.type == "ExternalName") continue;
    auto it = byService.find(svc.ns + "/" + svc.name);
    for (const auto& port : svc.ports) {
      if (port.protocol != "TCP") continue;
      ServiceSpec spec;
      spec.name = fmt::format("{}.{}.svc.{}:{}", svc.name, svc.ns, clusterDomain, port.port);
      spec.protocol = protocolOf(port.appProtocol);
      std::set<std::string> ready, draining;
      if (it != byService.end()) {
        for (const auto* slice : it->second) {
          for (const auto& sp : slice->ports) {
            if (sp.name.value_or("") != port.name || !sp.port || sp.protocol != "TCP") continue;
            for (const auto& ep : slice->endpoints) {
              if (ep.addresses.empty() || !ep.serving) continue;
              if (!ep.ready && !ep.terminating) continue;
              const auto& ip = ep.addresses.front();
              auto hostPort = slice->addressType == "IPv6" ? fmt::format("[{}]:{}", ip, *sp.port)
                                                           : fmt::format("{}:{}", ip, *sp.port);
              std::string why;
              auto addr = canonicalEndpointAddress(hostPort, &why);
              if (!addr) {
                if (rejected) rejected->push_back(fmt::format("EndpointSlice {}/{}: {}", slice->ns, slice->name, why));
                continue;
              }
              (ep.ready ? ready : draining).insert(std::move(*addr));
            }
          }
        }
      }
      const auto& chosen = ready.empty() ? draining : ready;
      for (const auto& a : chosen) spec.endpoints.push_back({a, 1});
      out.services.push_back(std::move(spec));
    }
  }
  return out;
}

}  // namespace weft::controller::kube
