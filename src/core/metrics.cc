#include "core/metrics.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

namespace weft {

void Histogram::observeMicros(uint64_t us) {
  double s = static_cast<double>(us) / 1e6;
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets_[i].inc();
  count_.inc();
  sum_.inc(us);
}

MetricsRegistry& MetricsRegistry::global() {
  static MetricsRegistry r;
  return r;
}

MetricsRegistry::Cell& MetricsRegistry::add(std::string_view name, std::string_view help, std::string labels,
                                            Kind kind) {
  std::lock_guard lock(mu_);
  Cell& c = cells_.emplace_back();
  c.name = name;
  c.help = help;
  c.labels = std::move(labels);
  c.kind = kind;
  return c;
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, std::string labels) {
  Cell& c = add(name, help, std::move(labels), Kind::kCounter);
  c.counter = std::make_unique<Counter>();
  return *c.counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, std::string labels) {
  Cell& c = add(name, help, std::move(labels), Kind::kGauge);
  c.gauge = std::make_unique<Gauge>();
  return *c.gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help, std::string labels) {
  Cell& c = add(name, help, std::move(labels), Kind::kHistogram);
  c.histogram = std::make_unique<Histogram>();
  return *c.histogram;
}

GaugeTriple& MetricsRegistry::gaugeTriple(std::string_view name, std::string_view help, std::string labels,
                                          std::string_view splitLabel, const std::array<std::string, 3>& names) {
  Cell& c = add(name, help, labels, Kind::kGaugeTriple);
  for (size_t i = 0; i < 3; ++i) {
    c.tripleLabels[i] = labels;
    if (!c.tripleLabels[i].empty()) c.tripleLabels[i] += ',';
    c.tripleLabels[i] += labelPair(splitLabel, names[i]);
  }
  c.triple = std::make_unique<GaugeTriple>();
  return *c.triple;
}

namespace {
std::string withLabels(std::string_view name, std::string_view labels, std::string_view extra = {}) {
  std::string all(labels);
  if (!extra.empty()) {
    if (!all.empty()) all += ',';
    all += extra;
  }
  return all.empty() ? std::string(name) : fmt::format("{}{{{}}}", name, all);
}
}  // namespace

std::string MetricsRegistry::render() const {
  std::lock_guard lock(mu_);
  // name -> (help, kind, labels -> cells)
  struct Family {
    std::string help;
    Kind kind;
    std::map<std::string, std::vector<const Cell*>> series;
    std::map<std::string, int64_t> tripleValues;  // each triple loaded once: its three series agree
  };
  std::map<std::string, Family> families;
  for (const Cell& c : cells_) {
    Family& f = families[c.name];
    f.help = c.help;
    f.kind = c.kind;
    if (c.kind == Kind::kGaugeTriple) {
      auto v = c.triple->load();
      for (size_t i = 0; i < 3; ++i) f.tripleValues[c.tripleLabels[i]] += v[i];
      continue;
    }
    f.series[c.labels].push_back(&c);
  }
  std::string out;
  out.reserve(families.size() * 256);
  for (const auto& [name, f] : families) {
    const char* type = f.kind == Kind::kCounter ? "counter" : f.kind == Kind::kHistogram ? "histogram" : "gauge";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, type);
    for (const auto& [labels, v] : f.tripleValues) out += fmt::format("{} {}\n", withLabels(name, labels), v);
    for (const auto& [labels, cells] : f.series) {
      if (f.kind == Kind::kCounter) {
        uint64_t v = 0;
        for (auto* c : cells) v += c->counter->value();
        out += fmt::format("{} {}\n", withLabels(name, labels), v);
      } else if (f.kind == Kind::kGauge) {
        int64_t v = 0;
        for (auto* c : cells) v += c->gauge->value();
        out += fmt::format("{} {}\n", withLabels(name, labels), v);
      } else {
        uint64_t cumulative = 0, count = 0, sum = 0;
        for (size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
          for (auto* c : cells) cumulative += c->histogram->bucket(i);
          std::string le = i < Histogram::kBounds.size() ? fmt::format("le=\"{}\"", Histogram::kBounds[i])
                                                         : std::string("le=\"+Inf\"");
          out += fmt::format("{} {}\n", withLabels(name + "_bucket", labels, le), cumulative);
        }
        for (auto* c : cells) {
          count += c->histogram->count();
          sum += c->histogram->sumMicros();
        }
        out += fmt::format("{} {}\n", withLabels(name + "_sum", labels), static_cast<double>(sum) / 1e6);
        out += fmt::format("{} {}\n", withLabels(name + "_count", labels), count);
      }
    }
  }
  return out;
}

int64_t MetricsRegistry::valueOf(std::string_view name, std::string_view labels) const {
  std::lock_guard lock(mu_);
  int64_t v = 0;
  for (const Cell& c : cells_) {
    if (c.name != name || c.labels != labels) continue;
    if (c.counter) v += static_cast<int64_t>(c.counter->value());
    if (c.gauge) v += c.gauge->value();
    if (c.histogram) v += static_cast<int64_t>(c.histogram->count());
  }
  for (const Cell& c : cells_) {
    if (c.name != name || !c.triple) continue;
    for (size_t i = 0; i < 3; ++i)
      if (c.tripleLabels[i] == labels) v += c.triple->load()[i];
  }
  return v;
}

Counter& threadCounter(std::string_view name, std::string_view help, const std::string& labels) {
  thread_local std::unordered_map<std::string, Counter*> cache;
  std::string key = std::string(name) + '{' + labels;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  Counter& c = MetricsRegistry::global().counter(name, help, labels);
  cache.emplace(std::move(key), &c);
  return c;
}

Gauge& threadGauge(std::string_view name, std::string_view help, const std::string& labels) {
  thread_local std::unordered_map<std::string, Gauge*> cache;
  std::string key = std::string(name) + '{' + labels;
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  Gauge& g = MetricsRegistry::global().gauge(name, help, labels);
  cache.emplace(std::move(key), &g);
  return g;
}

std::string labelPair(std::string_view name, std::string_view value) {
  std::string out(name);
  out += "=\"";
  for (char ch : value) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  out += '"';
  return out;
}

std::string labels(std::initializer_list<std::string> pairs) {
  std::string out;
  for (const auto& p : pairs) {
    if (p.empty()) continue;
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

}  // namespace weft
