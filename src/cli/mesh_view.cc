#include "cli/mesh_view.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "cli/json_util.h"

namespace weft::cli {

namespace {
std::string urlEncodeQuery(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}
}  // namespace

EndpointsDoc fetchEndpoints(const AdminClient& client, const std::string& cluster) {
  EndpointsDoc doc;
  auto res = client.get(cluster.empty() ? std::string("/debug/endpoints")
                                        : "/debug/endpoints?cluster=" + urlEncodeQuery(cluster));
  if (!res.reached()) {
    doc.error = res.error;
    return doc;
  }
  if (res.status == 404 && !cluster.empty() && res.body.find("unknown cluster") != std::string::npos) {
    doc.unknownCluster = true;
    return doc;
  }
  if (!res.ok()) {
    doc.error = fmt::format("{}: /debug/endpoints answered {}", client.address(), res.status);
    return doc;
  }
  auto v = parseJson(res.body);
  const boost::json::array* clusters = v ? jsonArray(*v, "clusters") : nullptr;
  if (!clusters) {
    doc.error = fmt::format("{}: /debug/endpoints is not the expected JSON", client.address());
    return doc;
  }
  for (auto& c : *clusters) {
    ClusterView cv;
    cv.name = jsonString(c, "name");
    cv.version = jsonString(c, "version");
    cv.direction = jsonString(c, "direction");
    cv.worker = static_cast<int>(jsonNumber(c, "worker", -1));
    cv.ageSeconds = jsonNumber(c, "age_seconds", -1);
    if (auto* eps = jsonArray(c, "endpoints"))
      for (auto& e : *eps) {
        EndpointView ev;
        ev.address = jsonString(e, "address");
        ev.state = jsonString(e, "state");
        ev.weight = jsonNumber(e, "weight", 1);
        ev.ewmaMs = jsonNumber(e, "ewma_ms");
        ev.inFlight = jsonNumber(e, "in_flight");
        ev.consecutiveFailures = jsonNumber(e, "consecutive_failures");
        ev.lastError = jsonString(e, "last_error");
        cv.endpoints.push_back(std::move(ev));
      }
    std::sort(cv.endpoints.begin(), cv.endpoints.end(),
              [](const EndpointView& a, const EndpointView& b) { return a.address < b.address; });
    doc.clusters.push_back(std::move(cv));
  }
  doc.ok = true;
  return doc;
}

Divergence compare(const ClusterView& controller, const ClusterView& proxy) {
  Divergence d;
  d.versionDiffers = controller.version != proxy.version;
  for (auto& e : controller.endpoints) {
    bool present = std::any_of(proxy.endpoints.begin(), proxy.endpoints.end(),
                               [&](const EndpointView& p) { return p.address == e.address && p.state != "draining"; });
    if (!present) d.missing.push_back(e.address);
  }
  for (auto& p : proxy.endpoints) {
    if (p.state == "draining") continue;  // removed, finishing in-flight requests: expected
    bool served = std::any_of(controller.endpoints.begin(), controller.endpoints.end(),
                              [&](const EndpointView& e) { return e.address == p.address; });
    if (!served) d.extra.push_back(p.address);
  }
  d.diverged = d.versionDiffers || !d.missing.empty() || !d.extra.empty();
  return d;
}

std::string Divergence::summary() const {
  std::string out;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (versionDiffers) out += "version differs";
  if (!missing.empty()) out += fmt::format("{}missing {}", out.empty() ? "" : "; ", join(missing));
  if (!extra.empty()) out += fmt::format("{}extra {}", out.empty() ? "" : "; ", join(extra));
  return out;
}

std::string normalizeAuthorityArg(std::string a) {
  for (auto& c : a) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto bracket = a.rfind(']');
  auto colon = a.rfind(':');
  bool hasPort = colon != std::string::npos && (bracket == std::string::npos || colon > bracket);
  if (!a.empty() && !hasPort) a += ":80";
  return a;
}

}  // namespace weft::cli
