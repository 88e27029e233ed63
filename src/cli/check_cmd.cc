// weft check: a checklist of the mesh's health in the style of `linkerd
// check` — each line ✓ or ✗, a failure with its detail and a one-line hint.
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/json_util.h"
#include "cli/mesh_view.h"
#include "cli/prometheus.h"

namespace weft::cli {
namespace {

struct Result {
  std::string section;
  std::string name;
  bool ok = true;
  std::string detail;  // what was seen (failures)
  std::string hint;    // what to do (failures)
};

class Checklist {
 public:
  void pass(std::string section, std::string name) { results_.push_back({std::move(section), std::move(name), true, {}, {}}); }
  void fail(std::string section, std::string name, std::string detail, std::string hint) {
    results_.push_back({std::move(section), std::move(name), false, std::move(detail), std::move(hint)});
  }
  const std::vector<Result>& results() const { return results_; }
  size_t failures() const {
    return static_cast<size_t>(std::count_if(results_.begin(), results_.end(), [](auto& r) { return !r.ok; }));
  }

 private:
  std::vector<Result> results_;
};

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// GET path expecting 200; fills `why` otherwise.
bool expect200(const AdminClient& c, std::string_view path, std::string& why) {
  auto r = c.get(path);
  if (r.status == 200) return true;
  why = r.reached() ? fmt::format("{} answered {}: {}", path, r.status, trimmed(r.body.substr(0, 200))) : r.error;
  return false;
}

void checkConfig(const ConfigFacts& f, Checklist& out) {
  if (f.valid) {
    out.pass("config", fmt::format("proxy config {} is valid", f.path));
    return;
  }
  out.fail("config", fmt::format("proxy config {} is valid", f.path), f.error,
           "fix the file (`weft proxy --config FILE --check-config` prints the same error)");
}

void checkListeners(const ConfigFacts& f, Checklist& out) {
  for (auto& [role, address] : f.listeners) {
    auto err = probeTcp(address);
    if (err.empty())
      out.pass("config", fmt::format("{} listener {} accepts connections", role, address));
    else
      out.fail("config", fmt::format("{} listener {} accepts connections", role, address), err,
               "is the proxy running with this config? another process may hold the port (ss -ltnp)");
  }
}

// The staleness check for one proxy: every discovered cluster it has applied
// must be at the version the controller serves now. A mismatch must persist
// for a second (a push may be on its way) before it counts.
void checkVersions(const AdminClient& proxy, const AdminClient& controller, const EndpointsDoc& served,
                   Checklist& out) {
  std::string section = "proxy " + proxy.address();
  std::string name = fmt::format("proxy {} has the controller's current version of every discovered cluster",
                                 proxy.address());
  auto applied = fetchEndpoints(proxy);
  if (!applied.ok) {
    out.fail(section, name, applied.error, "see the proxy's log; /debug/endpoints must answer for this check");
    return;
  }
  auto findServed = [](const EndpointsDoc& d, const std::string& n) -> const ClusterView* {
    for (auto& c : d.clusters)
      if (c.name == n) return &c;
    return nullptr;
  };
  std::vector<std::string> stale;
  size_t compared = 0;
  for (auto& c : applied.clusters) {
    if (c.isStatic() || c.direction == "inbound") continue;
    const ClusterView* s = findServed(served, c.name);
    ++compared;
    std::string problem;
    if (!s) problem = fmt::format("{} (worker {}) at version {}: the controller no longer serves it", c.name, c.worker,
                                  c.version);
    else if (s->version != c.version)
      problem = fmt::format("{} (worker {}) at version {} applied {:.0f}s ago; the controller serves {}", c.name,
                            c.worker, c.version, c.ageSeconds, s->version);
    if (problem.empty()) continue;
    // Second look, both sides fresh.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto again = fetchEndpoints(proxy, c.name);
    auto servedAgain = fetchEndpoints(controller, c.name);
    bool fixed = false;
    if (again.ok && servedAgain.ok && !servedAgain.clusters.empty())
      for (auto& a : again.clusters)
        if (a.worker == c.worker && a.direction == c.direction) fixed = a.version == servedAgain.clusters[0].version;
    if (!fixed) stale.push_back(problem);
  }
  if (stale.empty()) {
    out.pass(section, compared ? fmt::format("{} ({} discovered cluster view(s) up to date)", name, compared)
                               : fmt::format("{} (none applied yet)", name));
    return;
  }
  std::string detail;
  for (auto& s : stale) detail += (detail.empty() ? "" : "\n") + s;
  out.fail(section, fmt::format("proxy {} is up to date with the controller (it is STALE)", proxy.address()), detail,
           fmt::format("the proxy is not receiving updates: check its controller connection "
                       "(weft_discovery_connected, its log) and compare with `weft endpoints AUTHORITY --controller {} "
                       "--proxy {}`",
                       controller.address(), proxy.address()));
}

void checkDiscoveryConnected(const AdminClient& proxy, Checklist& out) {
  auto r = proxy.get("/metrics");
  if (!r.ok()) return;  // liveness already reported it
  auto scrape = Scrape::parse(r.body);
  bool present = std::any_of(scrape.samples().begin(), scrape.samples().end(),
                             [](const Sample& s) { return s.name == "weft_discovery_connected"; });
  if (!present) return;  // discovery not configured on this proxy
  std::string name = fmt::format("proxy {} is connected to the controller", proxy.address());
  if (scrape.sum("weft_discovery_connected") > 0)
    out.pass("proxy " + proxy.address(), name);
  else
    out.fail("proxy " + proxy.address(), name, "weft_discovery_connected is 0",
             "the proxy keeps serving its last endpoint sets, which go stale; check the `controller:` address in its "
             "config and the network path to the controller's xDS port");
}

void printText(const Checklist& list) {
  std::string section;
  for (auto& r : list.results()) {
    if (r.section != section) {
      section = r.section;
      std::printf("%s\n%s\n", section.c_str(), std::string(section.size(), '-').c_str());
    }
    std::printf("%s %s\n", r.ok ? "✓" : "✗", r.name.c_str());
    if (!r.ok) {
      std::string_view d = r.detail;
      while (!d.empty()) {
        auto nl = d.find('\n');
        std::printf("    %.*s\n", static_cast<int>(d.substr(0, nl).size()), d.data());
        if (nl == std::string_view::npos) break;
        d.remove_prefix(nl + 1);
      }
      std::printf("    hint: %s\n", r.hint.c_str());
    }
  }
  std::printf("\n");
  if (list.failures() == 0)
    std::printf("Status check results are ✓ (%zu checks)\n", list.results().size());
  else
    std::printf("Status check results are ✗ (%zu of %zu checks failed)\n", list.failures(), list.results().size());
}

void printJson(const Checklist& list) {
  std::string out = fmt::format("{{\"ok\":{},\"failures\":{},\"checks\":[", list.failures() == 0 ? "true" : "false",
                                list.failures());
  bool first = true;
  for (auto& r : list.results()) {
    out += fmt::format("{}{{\"section\":{},\"name\":{},\"ok\":{}", first ? "" : ",", quote(r.section), quote(r.name),
                       r.ok ? "true" : "false");
    if (!r.ok) out += fmt::format(",\"detail\":{},\"hint\":{}", quote(r.detail), quote(r.hint));
    out += "}";
    first = false;
  }
  std::printf("%s]}\n", out.c_str());
}

}  // namespace

int runCheck(const CheckOptions& o) {
  Checklist list;
  std::vector<std::string> proxies = o.proxies;
  std::string xds = o.xds;
  if (o.config) {
    checkConfig(*o.config, list);
    if (o.config->valid) {
      checkListeners(*o.config, list);
      auto admin = normalizeAdminAddress(o.config->admin).value_or(o.config->admin);
      bool listed = std::any_of(proxies.begin(), proxies.end(),
                                [&](const std::string& p) { return normalizeAdminAddress(p).value_or(p) == admin; });
      if (!listed) proxies.insert(proxies.begin(), admin);
      if (xds.empty() && o.config->controller) xds = *o.config->controller;
    }
  }
  if (o.controller.empty() && proxies.empty() && !o.config) {
    std::fprintf(stderr, "weft check: nothing to check: give --config, --controller and/or --proxy\n");
    return kExitUsage;
  }

  std::optional<AdminClient> controller;
  std::optional<EndpointsDoc> served;
  if (!o.controller.empty()) {
    controller.emplace(o.controller);
    std::string section = "controller " + controller->address();
    std::string why;
    if (expect200(*controller, "/live", why)) {
      list.pass(section, fmt::format("controller admin {} is reachable", controller->address()));
      if (expect200(*controller, "/ready", why))
        list.pass(section, "controller is ready");
      else
        list.fail(section, "controller is ready", why, "it has not loaded a valid source yet: see its log");
      auto doc = fetchEndpoints(*controller);
      if (doc.ok) {
        served = std::move(doc);
        list.pass(section, fmt::format("controller serves {} cluster(s)", served->clusters.size()));
      } else {
        list.fail(section, "controller answers /debug/endpoints", doc.error,
                  "is this the controller's admin address (default 127.0.0.1:9990)?");
      }
    } else {
      list.fail(section, fmt::format("controller admin {} is reachable", controller->address()), why,
                "is `weft controller` running? its config's `admin:` gives this address");
    }
  }
  if (!xds.empty()) {
    std::string section = controller ? "controller " + controller->address() : "controller";
    auto err = probeTcp(xds);
    if (err.empty())
      list.pass(section, fmt::format("controller xDS port {} accepts connections", xds));
    else
      list.fail(section, fmt::format("controller xDS port {} accepts connections", xds), err,
                "proxies cannot receive endpoint updates: is the controller running with this `xds:` address?");
  }

  for (auto& p : proxies) {
    AdminClient proxy(p);
    std::string section = "proxy " + proxy.address();
    std::string why;
    if (!expect200(proxy, "/live", why)) {
      list.fail(section, fmt::format("proxy {} is live", proxy.address()), why,
                "is `weft proxy` running? its config's `admin:` gives this address");
      continue;
    }
    list.pass(section, fmt::format("proxy {} is live", proxy.address()));
    if (expect200(proxy, "/ready", why))
      list.pass(section, fmt::format("proxy {} is ready", proxy.address()));
    else
      list.fail(section, fmt::format("proxy {} is ready", proxy.address()), why,
                "it is starting or draining (shutting down): see its log");
    checkDiscoveryConnected(proxy, list);
    if (controller && served) checkVersions(proxy, *controller, *served, list);
  }
  if (o.json) printJson(list);
  else printText(list);
  return list.failures() == 0 ? kExitOk : kExitProblem;
}

}  // namespace weft::cli
