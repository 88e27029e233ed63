// weft stat: golden metrics (success rate, requests/s, latency percentiles)
// per authority and per endpoint, from the /metrics of one or more proxies,
// over a sampling interval.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/json_util.h"
#include "cli/mesh_view.h"
#include "cli/prometheus.h"

namespace weft::cli {
namespace {

volatile std::sig_atomic_t gInterrupted = 0;
void onInterrupt(int) { gInterrupted = 1; }

constexpr std::string_view kEndpointRequests = "weft_endpoint_requests_total";
constexpr std::string_view kEndpointLatency = "weft_endpoint_request_duration_seconds";
constexpr std::string_view kClusterLatency = "weft_request_duration_seconds";

struct Golden {
  double success = 0, failure = 0;  // completed in the interval
  double total = 0;                 // completed since start
  std::optional<double> p50, p95, p99;
};

struct Row {
  std::string direction, cluster, endpoint;  // endpoint empty: the authority's row
  Golden g;
};

// One scrape per proxy, in the order given; missing ones stay empty.
struct Round {
  std::vector<std::optional<Scrape>> scrapes;
  std::chrono::steady_clock::time_point at;
};

Round scrapeAll(const std::vector<AdminClient>& clients, std::vector<std::string>& errors) {
  Round r;
  r.at = std::chrono::steady_clock::now();
  for (auto& c : clients) {
    auto res = c.get("/metrics");
    if (!res.ok()) {
      errors.push_back(res.reached() ? fmt::format("{}: /metrics answered {}", c.address(), res.status) : res.error);
      r.scrapes.emplace_back();
      continue;
    }
    r.scrapes.push_back(Scrape::parse(res.body));
  }
  return r;
}

double sumOver(const Round& r, std::string_view name, const LabelSet& match) {
  double t = 0;
  for (auto& s : r.scrapes)
    if (s) t += s->sum(name, match);
  return t;
}

std::vector<std::pair<double, double>> bucketsOver(const Round& r, std::string_view base, const LabelSet& match) {
  std::map<double, double> merged;
  for (auto& s : r.scrapes)
    if (s)
      for (auto& [b, c] : s->buckets(base, match)) merged[b] += c;
  return {merged.begin(), merged.end()};
}

Golden golden(const Round& before, const Round& after, std::string_view latencyName, LabelSet match) {
  Golden g;
  auto delta = [&](std::string_view outcome) {
    LabelSet m = match;
    m["outcome"] = std::string(outcome);
    double a = sumOver(after, kEndpointRequests, m), b = sumOver(before, kEndpointRequests, m);
    return a >= b ? a - b : a;  // a restart resets counters
  };
  g.success = delta("success");
  g.failure = delta("failure");
  {
    LabelSet ms = match, mf = match;
    ms["outcome"] = "success";
    mf["outcome"] = "failure";
    g.total = sumOver(after, kEndpointRequests, ms) + sumOver(after, kEndpointRequests, mf);
  }
  auto buckets = bucketDelta(bucketsOver(after, latencyName, match), bucketsOver(before, latencyName, match));
  g.p50 = histogramQuantile(buckets, 0.50);
  g.p95 = histogramQuantile(buckets, 0.95);
  g.p99 = histogramQuantile(buckets, 0.99);
  return g;
}

std::vector<Row> compute(const Round& before, const Round& after, const std::string& onlyAuthority) {
  std::vector<std::pair<std::string, std::string>> keys;  // (cluster, direction)
  for (auto& s : after.scrapes) {
    if (!s) continue;
    for (auto& sample : s->samples()) {
      if (sample.name != kEndpointRequests) continue;
      auto c = sample.labels.find("cluster");
      auto d = sample.labels.find("direction");
      if (c == sample.labels.end() || d == sample.labels.end()) continue;
      if (!onlyAuthority.empty() && c->second != onlyAuthority) continue;
      std::pair<std::string, std::string> k{c->second, d->second};
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
  }
  std::sort(keys.begin(), keys.end());
  std::vector<Row> rows;
  for (auto& [cluster, direction] : keys) {
    LabelSet m{{"cluster", cluster}, {"direction", direction}};
    rows.push_back({direction, cluster, "", golden(before, after, kClusterLatency, m)});
    std::vector<std::string> endpoints;
    for (auto& s : after.scrapes)
      if (s)
        for (auto& e : s->values(kEndpointRequests, "endpoint", m))
          if (std::find(endpoints.begin(), endpoints.end(), e) == endpoints.end()) endpoints.push_back(e);
    std::sort(endpoints.begin(), endpoints.end());
    for (auto& e : endpoints) {
      LabelSet me = m;
      me["endpoint"] = e;
      rows.push_back({direction, cluster, e, golden(before, after, kEndpointLatency, me)});
    }
  }
  return rows;
}

std::string ms(const std::optional<double>& seconds) {
  if (!seconds) return "-";
  double v = *seconds * 1000;
  return v < 10 ? fmt::format("{:.2f}ms", v) : fmt::format("{:.0f}ms", v);
}

std::string successText(const Golden& g) {
  double n = g.success + g.failure;
  if (n <= 0) return "-";
  return fmt::format("{:.2f}%", 100.0 * g.success / n);
}

void printTable(const std::vector<Row>& rows, double seconds, const std::vector<std::string>& proxies) {
  std::printf("%zu prox%s, %.1fs interval\n", proxies.size(), proxies.size() == 1 ? "y" : "ies", seconds);
  std::printf("%-40s %-4s %9s %9s %9s %9s %9s %10s\n", "AUTHORITY / ENDPOINT", "DIR", "SUCCESS", "RPS", "P50", "P95",
              "P99", "TOTAL");
  if (rows.empty()) std::printf("(no requests recorded yet)\n");
  for (auto& r : rows) {
    double n = r.g.success + r.g.failure;
    std::string name = r.endpoint.empty() ? r.cluster : "  " + r.endpoint;
    std::printf("%-40s %-4s %9s %9.1f %9s %9s %9s %10.0f\n", name.c_str(),
                r.endpoint.empty() ? (r.direction == "inbound" ? "in" : "out") : "", successText(r.g).c_str(),
                n / seconds, ms(r.g.p50).c_str(), ms(r.g.p95).c_str(), ms(r.g.p99).c_str(), r.g.total);
  }
  std::fflush(stdout);
}

std::string jsonNum(const std::optional<double>& v) { return v ? fmt::format("{:.6f}", *v) : "null"; }

void printJson(const std::vector<Row>& rows, double seconds, const std::vector<std::string>& proxies,
               const std::vector<std::string>& errors) {
  std::string out = fmt::format("{{\"interval_seconds\":{:.3f},\"proxies\":[", seconds);
  for (size_t i = 0; i < proxies.size(); ++i) out += (i ? "," : "") + quote(proxies[i]);
  out += "],\"errors\":[";
  for (size_t i = 0; i < errors.size(); ++i) out += (i ? "," : "") + quote(errors[i]);
  out += "],\"authorities\":[";
  bool firstAuthority = true;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto& r = rows[i];
    double n = r.g.success + r.g.failure;
    std::string g = fmt::format(
        "\"requests\":{:.0f},\"failures\":{:.0f},\"success_rate\":{},\"rps\":{:.3f},\"p50_seconds\":{},"
        "\"p95_seconds\":{},\"p99_seconds\":{},\"total\":{:.0f}",
        n, r.g.failure, n > 0 ? fmt::format("{:.6f}", r.g.success / n) : "null", n / seconds, jsonNum(r.g.p50),
        jsonNum(r.g.p95), jsonNum(r.g.p99), r.g.total);
    if (r.endpoint.empty()) {
      if (!firstAuthority) out += "]},";
      firstAuthority = false;
      out += fmt::format("{{\"authority\":{},\"direction\":{},{},\"endpoints\":[", quote(r.cluster), quote(r.direction), g);
      bool any = false;
      for (size_t j = i + 1; j < rows.size() && !rows[j].endpoint.empty(); ++j) {
        auto& e = rows[j];
        double en = e.g.success + e.g.failure;
        out += fmt::format(
            "{}{{\"endpoint\":{},\"requests\":{:.0f},\"failures\":{:.0f},\"success_rate\":{},\"rps\":{:.3f},"
            "\"p50_seconds\":{},\"p95_seconds\":{},\"p99_seconds\":{},\"total\":{:.0f}}}",
            any ? "," : "", quote(e.endpoint), en, e.g.failure, en > 0 ? fmt::format("{:.6f}", e.g.success / en) : "null",
            en / seconds, jsonNum(e.g.p50), jsonNum(e.g.p95), jsonNum(e.g.p99), e.g.total);
        any = true;
      }
    }
  }
  if (!firstAuthority) out += "]}";
  out += "]}";
  std::printf("%s\n", out.c_str());
  std::fflush(stdout);
}

void sleepInterruptible(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (!gInterrupted && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(50),
                                                                             until - std::chrono::steady_clock::now()));
}

}  // namespace

int runStat(const StatOptions& o) {
  std::vector<AdminClient> clients;
  std::vector<std::string> names;
  for (auto& p : o.proxies) {
    clients.emplace_back(p);
    names.push_back(clients.back().address());
  }
  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
  auto only = o.authority.empty() ? std::string() : normalizeAuthorityArg(o.authority);
  std::vector<std::string> errors;
  Round before = scrapeAll(clients, errors);
  if (errors.size() == clients.size()) {
    for (auto& e : errors) std::fprintf(stderr, "weft stat: %s\n", e.c_str());
    return kExitUnreachable;
  }
  const bool tty = ::isatty(STDOUT_FILENO);
  uint64_t shown = 0;
  int rc = kExitOk;
  for (;;) {
    sleepInterruptible(o.interval);
    if (gInterrupted) break;
    errors.clear();
    Round after = scrapeAll(clients, errors);
    double seconds = std::chrono::duration<double>(after.at - before.at).count();
    auto rows = compute(before, after, only);
    if (o.json) {
      printJson(rows, seconds, names, errors);
    } else {
      if (o.watch && tty) std::printf("\033[H\033[2J");
      printTable(rows, seconds, names);
      for (auto& e : errors) std::fprintf(stderr, "weft stat: %s\n", e.c_str());
    }
    rc = errors.empty() ? kExitOk : kExitUnreachable;
    ++shown;
    if (!o.watch || (o.iterations && shown >= o.iterations)) break;
    if (!o.json && !tty) std::printf("\n");
    before = std::move(after);
  }
  return rc;
}

}  // namespace weft::cli
