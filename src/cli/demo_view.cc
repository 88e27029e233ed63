#include "cli/demo_view.h"

#include <charconv>
#include <cstdlib>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <fmt/format.h>

namespace weft::cli {

double ProxySnapshot::sum(std::string_view name,
                          std::initializer_list<std::pair<std::string_view, std::string_view>> match) const {
  double total = 0;
  for (const auto& m : metrics) {
    if (m.name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) {
      bool found = false;
      for (const auto& [lk, lv] : m.labels) found = found || (lk == k && lv == v);
      all = all && found;
    }
    if (all) total += m.value;
  }
  return total;
}

bool parseEndpointsJson(std::string_view json, ProxySnapshot& out, std::string& error) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(json, ec);
  if (ec || !doc.is_object() || !doc.as_object().contains("clusters") || !doc.at("clusters").is_array()) {
    error = "/debug/endpoints: not {\"clusters\":[...]}";
    return false;
  }
  for (const auto& c : doc.at("clusters").as_array()) {
    if (!c.is_object()) continue;
    const auto& co = c.as_object();
    auto* name = co.if_contains("name");
    auto* eps = co.if_contains("endpoints");
    if (!name || !name->is_string() || !eps || !eps->is_array()) continue;
    auto& cluster = out.clusters[std::string(name->as_string())];
    for (const auto& e : eps->as_array()) {
      if (!e.is_object()) continue;
      const auto& eo = e.as_object();
      auto* addr = eo.if_contains("address");
      auto* state = eo.if_contains("state");
      if (!addr || !addr->is_string()) continue;
      auto& v = cluster[std::string(addr->as_string())];
      std::string st = state && state->is_string() ? std::string(state->as_string()) : "?";
      if (v.state.empty()) v.state = st;
      else if (v.state.find(st) == std::string::npos) v.state += "/" + st;  // workers disagree
      if (auto* ewma = eo.if_contains("ewma_ms"); ewma && ewma->is_number()) v.ewmaMs = ewma->to_number<double>();
      if (auto* w = eo.if_contains("weight"); w && w->is_number()) v.weight = w->to_number<double>();
      if (auto* inf = eo.if_contains("in_flight"); inf && inf->is_number()) v.inFlight += inf->to_number<int64_t>();
    }
  }
  return true;
}

std::vector<MetricSample> parsePrometheus(std::string_view text) {
  std::vector<MetricSample> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || line[0] == '#') continue;
    MetricSample m;
    size_t i = line.find_first_of("{ ");
    if (i == std::string_view::npos) continue;
    m.name = line.substr(0, i);
    if (line[i] == '{') {
      auto close = line.find('}', i);
      if (close == std::string_view::npos) continue;
      auto ls = line.substr(i + 1, close - i - 1);
      // name="value" pairs; the demo's label values contain no quotes or commas.
      while (!ls.empty()) {
        auto eq = ls.find('=');
        if (eq == std::string_view::npos || eq + 1 >= ls.size() || ls[eq + 1] != '"') break;
        auto endq = ls.find('"', eq + 2);
        if (endq == std::string_view::npos) break;
        m.labels.emplace_back(std::string(ls.substr(0, eq)), std::string(ls.substr(eq + 2, endq - eq - 2)));
        ls = ls.substr(endq + 1);
        if (!ls.empty() && ls[0] == ',') ls.remove_prefix(1);
      }
      i = close + 1;
    }
    auto value = line.substr(i);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    auto sp = value.find(' ');  // an optional timestamp follows
    m.value = std::strtod(std::string(value.substr(0, sp)).c_str(), nullptr);
    out.push_back(std::move(m));
  }
  return out;
}

namespace {
constexpr std::string_view kBold = "\x1b[1m", kRed = "\x1b[31m", kGreen = "\x1b[32m", kDim = "\x1b[2m",
                           kReset = "\x1b[0m";

std::string colourState(const std::string& s) {
  if (s == "ready") return fmt::format("{}{:<9}{}", kGreen, s, kReset);
  if (s == "-") return fmt::format("{}{:<9}{}", kDim, s, kReset);
  return fmt::format("{}{:<9}{}", kRed, s, kReset);
}
}  // namespace

std::string renderTty(const ViewModel& m) {
  std::string o = "\x1b[H\x1b[2J";
  o += fmt::format("{}weft demo{}  {:.0f} s / {:.0f} s   {}\n\n", kBold, kReset, m.elapsed, m.duration, m.step);
  o += fmt::format("{}{:<20}{:<12}{:<18}{:<9}", kBold, "service", "instance", "address", "process");
  for (size_t i = 0; i < (m.rows.empty() ? 2 : m.rows[0].proxyStates.size()); ++i)
    o += fmt::format("proxy-{:<3}", static_cast<char>('a' + i));
  o += fmt::format("{:>7}{:>9}{:>9}{}\n", "req/s", "total", "ewma ms", kReset);
  for (const auto& r : m.rows) {
    o += fmt::format("{:<20}{:<12}{:<18}{:<9}", r.service, r.instance, r.address, r.status);
    for (const auto& s : r.proxyStates) o += colourState(s);
    o += fmt::format("{:>7}{:>9}", r.perSecond, r.total);
    o += r.ewmaMs > 0 ? fmt::format("{:>9.1f}\n", r.ewmaMs) : fmt::format("{:>9}\n", "-");
  }
  o += fmt::format("\n{}{:<10}{:>9}{:>8}{:>8}{:>10}{:>10}{}\n", kBold, "traffic", "ok", "errors", "req/s", "p50 ms",
                   "p99 ms", kReset);
  for (const auto& p : m.protocols) {
    auto err = fmt::format("{:>8}", p.failed);
    if (p.failed) err = fmt::format("{}{}{}", kRed, err, kReset);
    o += fmt::format("{:<10}{:>9}{}{:>8}{:>10.2f}{:>10.2f}  {}\n", p.name, p.ok, err, p.windowOk + p.windowFailed,
                     p.p50Ms, p.p99Ms, p.extra);
  }
  o += fmt::format("\n{}\n", m.proxies);
  o += fmt::format("\n{}story{}\n", kBold, kReset);
  for (const auto& s : m.story) o += "  " + s + "\n";
  if (!m.failures.empty()) {
    o += fmt::format("\n{}failed requests (latest){}\n", kRed, kReset);
    for (const auto& f : m.failures) o += "  " + f + "\n";
  }
  return o;
}

std::string renderPlain(const ViewModel& m) {
  std::string o = fmt::format("demo: [{:5.1f}s]", m.elapsed);
  for (const auto& p : m.protocols)
    o += fmt::format(" {} {}/s p99 {:.1f}ms err {}", p.name, p.windowOk + p.windowFailed, p.p99Ms, p.failed);
  o += " |";
  for (const auto& r : m.rows)
    if (r.perSecond) o += fmt::format(" {}={}", r.instance, r.perSecond);
  return o;
}

}  // namespace weft::cli
