#include "controller/services_file.h"

#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "net/address.h"

namespace weft::controller {

namespace {

constexpr uint64_t kMaxWeight = kMaxEndpointWeight;

// Thrown inside the parser only; parseServicesYaml turns it into a value.
struct Reject {
  std::string key, what;
};

[[noreturn]] void fail(std::string key, std::string what) { throw Reject{std::move(key), std::move(what)}; }

void onlyKeys(const YAML::Node& map, const std::string& where, std::initializer_list<const char*> allowed) {
  if (!map.IsMap()) fail(where, "must be a mapping");
  for (const auto& kv : map) {
    auto k = kv.first.as<std::string>();
    bool ok = false;
    for (auto* a : allowed) ok = ok || k == a;
    if (!ok) {
      std::string list;
      for (auto* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(where == "(document)" ? k : where + "." + k, fmt::format("unknown key (known keys: {})", list));
    }
  }
}

std::string scalar(const YAML::Node& n, const std::string& key, std::string_view what) {
  if (!n || !n.IsScalar()) fail(key, fmt::format("must be {}", what));
  return n.as<std::string>();
}

uint64_t number(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max) {
  auto s = scalar(n, key, "a whole number");
  uint64_t v = 0;
  size_t used = 0;
  try {
    v = std::stoull(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size() || s[0] == '-') fail(key, fmt::format("'{}' is not a whole number", s));
  if (v < min || v > max) fail(key, fmt::format("must be between {} and {}", min, max));
  return v;
}

std::string serviceName(const YAML::Node& n, const std::string& key) {
  auto s = scalar(n, key, "a service authority host:port");
  std::string why;
  auto name = normalizeServiceName(s, &why);
  if (!name) fail(key, why);
  return *name;
}

Protocol protocol(const YAML::Node& n, const std::string& key) {
  if (!n) return Protocol::kUnspecified;
  auto s = scalar(n, key, "http1 or http2");
  if (auto p = parseProtocol(s)) return *p;
  fail(key, fmt::format("'{}' is not a protocol (http1 | http2)", s));
}

model::Endpoint endpoint(const YAML::Node& n, const std::string& key) {
  model::Endpoint ep;
  // (No YAML::Node re-assignment here: assigning to a Node writes through to the document.)
  if (n.IsMap()) {
    onlyKeys(n, key, {"address", "weight"});
    if (!n["address"]) fail(key + ".address", "is required");
    if (n["weight"]) ep.weight = static_cast<uint32_t>(number(n["weight"], key + ".weight", 1, kMaxWeight));
  }
  const std::string akey = n.IsMap() ? key + ".address" : key;
  ep.address = scalar(n.IsMap() ? n["address"] : n, akey, "an address ip:port");
  std::string why;
  auto canonical = canonicalEndpointAddress(ep.address, &why);
  if (!canonical) fail(akey, why);
  ep.address = std::move(*canonical);
  return ep;
}

SourceState parse(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    fail("(document)", fmt::format("not valid YAML: {}", e.what()));
  }
  SourceState out;
  if (!root || root.IsNull()) return out;  // an empty file: no services
  onlyKeys(root, "(document)", {"services", "splits"});
  std::set<std::string> names;

  if (auto list = root["services"]; list && !list.IsNull()) {
    if (!list.IsSequence()) fail("services", "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      auto key = fmt::format("services[{}]", i);
      const auto& n = list[i];
      onlyKeys(n, key, {"name", "endpoints", "protocol"});
      ServiceSpec s;
      s.name = serviceName(n["name"], key + ".name");
      if (!names.insert(s.name).second) fail(key + ".name", fmt::format("'{}' is defined twice", s.name));
      s.protocol = protocol(n["protocol"], key + ".protocol");
      if (auto eps = n["endpoints"]; eps && !eps.IsNull()) {
        if (!eps.IsSequence()) fail(key + ".endpoints", "must be a list of addresses");
        std::set<std::string> seen;
        for (size_t j = 0; j < eps.size(); ++j) {
          auto ekey = fmt::format("{}.endpoints[{}]", key, j);
          auto ep = endpoint(eps[j], ekey);
          if (!seen.insert(ep.address).second) fail(ekey, fmt::format("'{}' is listed twice", ep.address));
          s.endpoints.push_back(std::move(ep));
        }
      }
      out.services.push_back(std::move(s));
    }
  }

  if (auto list = root["splits"]; list && !list.IsNull()) {
    if (!list.IsSequence()) fail("splits", "must be a list");
    for (size_t i = 0; i < list.size(); ++i) {
      auto key = fmt::format("splits[{}]", i);
      const auto& n = list[i];
      onlyKeys(n, key, {"name", "backends", "protocol"});
      SplitSpec sp;
      sp.name = serviceName(n["name"], key + ".name");
      if (!names.insert(sp.name).second) fail(key + ".name", fmt::format("'{}' is defined twice", sp.name));
      sp.protocol = protocol(n["protocol"], key + ".protocol");
      auto backends = n["backends"];
      if (!backends || !backends.IsSequence() || backends.size() == 0) {
        fail(key + ".backends", "must be a non-empty list of {service, weight}");
      }
      uint64_t total = 0;
      std::set<std::string> seen;
      for (size_t j = 0; j < backends.size(); ++j) {
        auto bkey = fmt::format("{}.backends[{}]", key, j);
        onlyKeys(backends[j], bkey, {"service", "weight"});
        SplitBackend b;
        b.service = serviceName(backends[j]["service"], bkey + ".service");
        if (!backends[j]["weight"]) fail(bkey + ".weight", "is required");
        b.weight = static_cast<uint32_t>(number(backends[j]["weight"], bkey + ".weight", 0, kMaxWeight));
        if (!seen.insert(b.service).second) fail(bkey + ".service", fmt::format("'{}' is listed twice", b.service));
        total += b.weight;
        sp.backends.push_back(std::move(b));
      }
      if (total == 0) fail(key + ".backends", "at least one backend needs a weight above 0");
      out.splits.push_back(std::move(sp));
    }
  }

  // Backends are checked once every service is known, so order in the file does not matter.
  std::set<std::string> services;
  for (const auto& s : out.services) services.insert(s.name);
  for (size_t i = 0; i < out.splits.size(); ++i) {
    for (size_t j = 0; j < out.splits[i].backends.size(); ++j) {
      const auto& b = out.splits[i].backends[j];
      if (!services.count(b.service)) {
        fail(fmt::format("splits[{}].backends[{}].service", i, j),
             fmt::format("'{}' is not a service of this file (a backend must be a service, not a split)", b.service));
      }
    }
  }
  return out;
}

}  // namespace

ParseResult parseServicesYaml(std::string_view text) {
  ParseResult r;
  try {
    r.state = parse(text);
  } catch (const Reject& e) {
    r.error = {e.key, e.what};
  } catch (const YAML::Exception& e) {
    r.error = {"(document)", e.what()};
  }
  return r;
}

}  // namespace weft::controller
