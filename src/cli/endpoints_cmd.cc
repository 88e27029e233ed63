// weft endpoints AUTHORITY: the controller's version and endpoint set next to
// what each proxy has applied (per worker), divergence flagged.
#include <cstdio>

#include <fmt/format.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/json_util.h"
#include "cli/mesh_view.h"

namespace weft::cli {
namespace {

std::string endpointsJson(const ClusterView& c, bool withState) {
  std::string out = "[";
  for (size_t i = 0; i < c.endpoints.size(); ++i) {
    auto& e = c.endpoints[i];
    out += fmt::format("{}{{\"address\":{},\"weight\":{}", i ? "," : "", quote(e.address), e.weight);
    if (withState)
      out += fmt::format(",\"state\":{},\"ewma_ms\":{:.3f},\"in_flight\":{},\"consecutive_failures\":{},\"last_error\":{}",
                         quote(e.state), e.ewmaMs, e.inFlight, e.consecutiveFailures, quote(e.lastError));
    out += "}";
  }
  return out + "]";
}

std::string listJson(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + quote(v[i]);
  return out + "]";
}

}  // namespace

int runEndpoints(const EndpointsOptions& o) {
  if (o.controller.empty() && o.proxies.empty()) {
    std::fprintf(stderr, "weft endpoints: give --controller ADMIN_ADDR and/or --proxy ADMIN_ADDR\n");
    return kExitUsage;
  }
  const std::string authority = normalizeAuthorityArg(o.authority);
  int rc = kExitOk;
  std::string json = fmt::format("{{\"authority\":{}", quote(authority));
  std::string text = authority + "\n";

  std::optional<ClusterView> served;
  if (!o.controller.empty()) {
    AdminClient ctl(o.controller);
    auto doc = fetchEndpoints(ctl, authority);
    if (!doc.ok && !doc.unknownCluster) {
      std::fprintf(stderr, "weft endpoints: controller %s\n", doc.error.c_str());
      return kExitUnreachable;
    }
    if (doc.ok && !doc.clusters.empty()) served = doc.clusters.front();
    if (served) {
      json += fmt::format(",\"controller\":{{\"address\":{},\"known\":true,\"version\":{},\"endpoints\":{}}}",
                          quote(ctl.address()), quote(served->version), endpointsJson(*served, false));
      text += fmt::format("controller {}  version {}  {} endpoint(s)\n", ctl.address(), served->version,
                          served->endpoints.size());
      for (auto& e : served->endpoints) text += fmt::format("    {:<24} weight {}\n", e.address, e.weight);
    } else {
      json += fmt::format(",\"controller\":{{\"address\":{},\"known\":false}}", quote(ctl.address()));
      text += fmt::format("controller {}  does not serve this authority\n", ctl.address());
    }
  }

  json += ",\"proxies\":[";
  bool anyDiverged = false;
  for (size_t pi = 0; pi < o.proxies.size(); ++pi) {
    AdminClient px(o.proxies[pi]);
    auto doc = fetchEndpoints(px, authority);
    json += pi ? "," : "";
    if (!doc.ok && !doc.unknownCluster) {
      text += fmt::format("proxy {}  ✗ unreachable: {}\n", px.address(), doc.error);
      json += fmt::format("{{\"address\":{},\"error\":{}}}", quote(px.address()), quote(doc.error));
      rc = kExitUnreachable;
      continue;
    }
    std::vector<const ClusterView*> views;
    for (auto& c : doc.clusters)
      if (c.direction != "inbound") views.push_back(&c);
    if (views.empty()) {
      // Proxies subscribe on first use: no request for it yet is not divergence.
      text += fmt::format("proxy {}  has not applied this authority (no request for it yet, or unknown)\n",
                          px.address());
      json += fmt::format("{{\"address\":{},\"applied\":false}}", quote(px.address()));
      continue;
    }
    json += fmt::format("{{\"address\":{},\"applied\":true,\"workers\":[", quote(px.address()));
    for (size_t wi = 0; wi < views.size(); ++wi) {
      auto& v = *views[wi];
      std::optional<Divergence> d;
      if (served && !v.isStatic()) d = compare(*served, v);
      bool diverged = d && d->diverged;
      anyDiverged |= diverged;
      std::string verdict = v.isStatic() ? "static cluster (proxy config), not discovered"
                            : !served    ? (o.controller.empty() ? "" : "✗ DIVERGED: the controller does not serve it")
                            : diverged   ? "✗ DIVERGED: " + d->summary()
                                         : "✓ in sync";
      if (served == std::nullopt && !o.controller.empty() && !v.isStatic()) {
        diverged = true;
        anyDiverged = true;
      }
      text += fmt::format("proxy {} worker {}  version {}  applied {:.1f}s ago  {}\n", px.address(), v.worker,
                          v.version, v.ageSeconds, verdict);
      for (auto& e : v.endpoints)
        text += fmt::format("    {:<24} {:<9} ewma {:.1f}ms  in-flight {}  consecutive failures {}{}\n", e.address,
                            e.state, e.ewmaMs, e.inFlight, e.consecutiveFailures,
                            e.lastError.empty() ? "" : "  last error " + e.lastError);
      json += fmt::format(
          "{}{{\"worker\":{},\"version\":{},\"age_seconds\":{:.3f},\"static\":{},\"diverged\":{},\"missing\":{},"
          "\"extra\":{},\"endpoints\":{}}}",
          wi ? "," : "", v.worker, quote(v.version), v.ageSeconds, v.isStatic() ? "true" : "false",
          diverged ? "true" : "false", listJson(d ? d->missing : std::vector<std::string>{}),
          listJson(d ? d->extra : std::vector<std::string>{}), endpointsJson(v, true));
    }
    json += "]}";
  }
  json += fmt::format("],\"diverged\":{}}}", anyDiverged ? "true" : "false");
  if (anyDiverged && rc == kExitOk) rc = kExitProblem;
  if (o.json) std::printf("%s\n", json.c_str());
  else std::printf("%s%s", text.c_str(), anyDiverged ? "divergence found\n" : "");
  return rc;
}

}  // namespace weft::cli
