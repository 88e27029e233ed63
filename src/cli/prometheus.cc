#include "cli/prometheus.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace weft::cli {
namespace {

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':';
}

std::optional<double> parseValue(std::string_view s) {
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s.empty() || s.size() > 64) return std::nullopt;
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size()) return std::nullopt;
  return v;
}

// `name{a="x",b="y"} value [timestamp]`
std::optional<Sample> parseLine(std::string_view line) {
  Sample s;
  size_t i = 0;
  while (i < line.size() && isNameChar(line[i])) ++i;
  if (i == 0) return std::nullopt;
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i >= line.size()) return std::nullopt;
      if (line[i] == '}') {
        ++i;
        break;
      }
      size_t k = i;
      while (i < line.size() && isNameChar(line[i])) ++i;
      if (i == k || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') return std::nullopt;
      std::string key(line.substr(k, i - k));
      i += 2;
      std::string value;
      for (;;) {
        if (i >= line.size()) return std::nullopt;
        char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= line.size()) return std::nullopt;
          char e = line[i++];
          value += e == 'n' ? '\n' : e;
        } else {
          value += c;
        }
      }
      s.labels[std::move(key)] = std::move(value);
    }
  }
  while (i < line.size() && line[i] == ' ') ++i;
  auto rest = line.substr(i);
  auto sp = rest.find(' ');
  auto v = parseValue(rest.substr(0, sp));
  if (!v) return std::nullopt;
  s.value = *v;
  return s;
}

bool includes(const LabelSet& labels, const LabelSet& match) {
  for (auto& [k, v] : match) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

Scrape Scrape::parse(std::string_view text) {
  Scrape out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    if (auto s = parseLine(line)) out.samples_.push_back(std::move(*s));
  }
  return out;
}

double Scrape::sum(std::string_view name, const LabelSet& match) const {
  double total = 0;
  for (auto& s : samples_)
    if (s.name == name && includes(s.labels, match) && std::isfinite(s.value)) total += s.value;
  return total;
}

std::vector<std::string> Scrape::values(std::string_view name, std::string_view key, const LabelSet& match) const {
  std::vector<std::string> out;
  for (auto& s : samples_) {
    if (s.name != name || !includes(s.labels, match)) continue;
    auto it = s.labels.find(key);
    if (it != s.labels.end() && std::find(out.begin(), out.end(), it->second) == out.end()) out.push_back(it->second);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<double, double>> Scrape::buckets(std::string_view base, const LabelSet& match) const {
  std::map<double, double> byBound;
  std::string name = std::string(base) + "_bucket";
  for (auto& s : samples_) {
    if (s.name != name || !includes(s.labels, match)) continue;
    auto le = s.labels.find("le");
    if (le == s.labels.end()) continue;
    auto bound = parseValue(le->second);
    if (!bound || std::isnan(*bound) || !std::isfinite(s.value)) continue;
    byBound[*bound] += s.value;
  }
  return {byBound.begin(), byBound.end()};
}

std::vector<std::pair<double, double>> bucketDelta(const std::vector<std::pair<double, double>>& later,
                                                   const std::vector<std::pair<double, double>>& earlier) {
  std::vector<std::pair<double, double>> out = later;
  bool reset = false;
  for (auto& [bound, count] : out) {
    auto it = std::find_if(earlier.begin(), earlier.end(), [&](auto& p) { return p.first == bound; });
    double before = it == earlier.end() ? 0 : it->second;
    if (before > count) reset = true;
  }
  if (reset) return later;
  for (auto& [bound, count] : out) {
    auto it = std::find_if(earlier.begin(), earlier.end(), [&](auto& p) { return p.first == bound; });
    if (it != earlier.end()) count -= it->second;
  }
  return out;
}

std::optional<double> histogramQuantile(const std::vector<std::pair<double, double>>& cumulative, double q) {
  if (cumulative.empty()) return std::nullopt;
  double total = cumulative.back().second;
  if (!(total > 0)) return std::nullopt;
  double rank = std::clamp(q, 0.0, 1.0) * total;
  double prevBound = 0, prevCount = 0;
  double lastFinite = 0;
  for (auto& [bound, count] : cumulative) {
    if (std::isfinite(bound)) lastFinite = bound;
    if (count >= rank) {
      if (!std::isfinite(bound)) return lastFinite;
      double inBucket = count - prevCount;
      if (inBucket <= 0) return bound;
      return prevBound + (bound - prevBound) * ((rank - prevCount) / inBucket);
    }
    prevBound = std::isfinite(bound) ? bound : prevBound;
    prevCount = count;
  }
  return lastFinite;
}

}  // namespace weft::cli
