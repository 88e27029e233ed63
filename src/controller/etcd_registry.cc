#include "controller/etcd_registry.h"

#include <set>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace weft::controller {

namespace json = boost::json;

namespace {

template <class T>
std::optional<T> reject(std::string* why, std::string w) {
  if (why) *why = std::move(w);
  return std::nullopt;
}

bool onlyFields(const json::object& o, std::initializer_list<std::string_view> allowed, std::string* why) {
  for (const auto& kv : o) {
    bool ok = false;
    for (auto a : allowed) ok = ok || kv.key() == a;
    if (!ok) {
      if (why) *why = fmt::format("unknown field '{}'", std::string_view(kv.key()));
      return false;
    }
  }
  return true;
}

std::optional<uint32_t> weightOf(const json::value* v, uint32_t min, uint32_t dflt, std::string* why) {
  if (!v) return dflt;
  int64_t w = -1;
  if (auto* i = v->if_int64()) w = *i;
  if (auto* u = v->if_uint64()) w = *u > kMaxEndpointWeight ? kMaxEndpointWeight + 1 : int64_t(*u);
  if (w < min || w > kMaxEndpointWeight) {
    return reject<uint32_t>(why, fmt::format("weight must be a whole number between {} and {}", min,
                                             kMaxEndpointWeight));
  }
  return static_cast<uint32_t>(w);
}

std::optional<Protocol> protocolOf(const json::object& o, std::string* why) {
  auto* p = o.if_contains("protocol");
  if (!p) return Protocol::kUnspecified;
  auto* s = p->if_string();
  auto proto = s ? parseProtocol(*s) : std::nullopt;
  if (!proto) return reject<Protocol>(why, "protocol must be \"http1\" or \"http2\"");
  return proto;
}

}  // namespace

std::optional<EtcdRegistry::Entry> EtcdRegistry::parse(const std::string& key, std::string_view value,
                                                       std::string* why) const {
  if (!key.starts_with(prefix_)) return reject<Entry>(why, "outside the prefix");
  std::string_view rest = std::string_view(key).substr(prefix_.size());
  enum { kService, kSplit } kind;
  if (rest.starts_with("services/")) {
    kind = kService;
    rest.remove_prefix(9);
  } else if (rest.starts_with("splits/")) {
    kind = kSplit;
    rest.remove_prefix(7);
  } else {
    return reject<Entry>(why, "not a key of the layout (services/<service>[/<instance>] or splits/<apex>)");
  }
  auto slash = rest.find('/');
  std::string_view nameText = rest.substr(0, slash);
  std::string_view instance = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (slash != std::string_view::npos && (kind == kSplit || instance.empty() || instance.find('/') != instance.npos)) {
    return reject<Entry>(why, "not a key of the layout (services/<service>[/<instance>] or splits/<apex>)");
  }
  std::string nameWhy;
  auto name = normalizeServiceName(nameText, &nameWhy);
  if (!name) return reject<Entry>(why, "name: " + nameWhy);

  boost::system::error_code ec;
  json::value v = json::parse(value, ec);
  if (ec) return reject<Entry>(why, "value is not JSON: " + ec.message());
  auto* o = v.if_object();
  if (!o) return reject<Entry>(why, "value is not a JSON object");

  if (kind == kService && slash == std::string_view::npos) {
    if (!onlyFields(*o, {"protocol"}, why)) return std::nullopt;
    auto proto = protocolOf(*o, why);
    if (!proto) return std::nullopt;
    return Entry(Declaration{*name, *proto});
  }
  if (kind == kService) {
    if (!onlyFields(*o, {"address", "weight"}, why)) return std::nullopt;
    auto* a = o->if_contains("address");
    auto* as = a ? a->if_string() : nullptr;
    if (!as) return reject<Entry>(why, "address is required (\"ip:port\")");
    auto address = canonicalEndpointAddress(*as, why);
    if (!address) return std::nullopt;
    auto weight = weightOf(o->if_contains("weight"), 1, 1, why);
    if (!weight) return std::nullopt;
    return Entry(Instance{*name, model::Endpoint{*address, *weight}});
  }
  if (!onlyFields(*o, {"backends", "protocol"}, why)) return std::nullopt;
  Split split;
  split.spec.name = *name;
  auto proto = protocolOf(*o, why);
  if (!proto) return std::nullopt;
  split.spec.protocol = *proto;
  auto* b = o->if_contains("backends");
  auto* arr = b ? b->if_array() : nullptr;
  if (!arr || arr->empty()) return reject<Entry>(why, "backends must be a non-empty list of {service, weight}");
  uint64_t total = 0;
  std::set<std::string> seen;
  for (size_t i = 0; i < arr->size(); ++i) {
    auto* bo = (*arr)[i].if_object();
    auto where = fmt::format("backends[{}]", i);
    if (!bo) return reject<Entry>(why, where + " must be an object {service, weight}");
    std::string fieldWhy;
    if (!onlyFields(*bo, {"service", "weight"}, &fieldWhy)) return reject<Entry>(why, where + ": " + fieldWhy);
    auto* s = bo->if_contains("service");
    auto* ss = s ? s->if_string() : nullptr;
    if (!ss) return reject<Entry>(why, where + ".service is required");
    auto svc = normalizeServiceName(*ss, &fieldWhy);
    if (!svc) return reject<Entry>(why, where + ".service: " + fieldWhy);
    if (!bo->if_contains("weight")) return reject<Entry>(why, where + ".weight is required");
    auto w = weightOf(bo->if_contains("weight"), 0, 0, &fieldWhy);
    if (!w) return reject<Entry>(why, where + ": " + fieldWhy);
    if (!seen.insert(*svc).second) return reject<Entry>(why, where + ".service is listed twice");
    if (*svc == *name) return reject<Entry>(why, where + ".service is the apex itself");
    total += *w;
    split.spec.backends.push_back({*svc, *w});
  }
  if (total == 0) return reject<Entry>(why, "at least one backend needs a weight above 0");
  return Entry(std::move(split));
}

bool EtcdRegistry::put(const std::string& key, std::string_view value, std::string* why) {
  auto e = parse(key, value, why);
  if (!e) return false;
  entries_.insert_or_assign(key, std::move(*e));
  return true;
}

bool EtcdRegistry::remove(const std::string& key) { return entries_.erase(key) > 0; }

void EtcdRegistry::replaceAll(const std::vector<std::pair<std::string, std::string>>& kvs,
                              std::vector<std::string>* rejected) {
  std::map<std::string, Entry> next;
  for (const auto& [key, value] : kvs) {
    std::string why;
    if (auto e = parse(key, value, &why)) {
      next.insert_or_assign(key, std::move(*e));
      continue;
    }
    if (rejected) rejected->push_back(key + ": " + why);
    if (auto old = entries_.find(key); old != entries_.end()) next.insert_or_assign(key, old->second);
  }
  entries_ = std::move(next);
}

SourceState EtcdRegistry::state(std::vector<std::string>* problems) const {
  struct Service {
    Protocol protocol = Protocol::kUnspecified;
    std::map<std::string, uint32_t> endpoints;  // address -> weight (max over instance ids)
  };
  std::map<std::string, Service> services;
  std::map<std::string, const SplitSpec*> splits;
  for (const auto& [key, entry] : entries_) {
    if (auto* d = std::get_if<Declaration>(&entry)) {
      services[d->service].protocol = d->protocol;
    } else if (auto* i = std::get_if<Instance>(&entry)) {
      auto& w = services[i->service].endpoints[i->endpoint.address];
      w = std::max(w, i->endpoint.weight);
    } else {
      const auto& s = std::get<Split>(entry).spec;
      splits[s.name] = &s;  // two keys spelling one apex: the later key wins
    }
  }
  SourceState out;
  out.services.reserve(services.size());
  for (auto& [name, s] : services) {
    ServiceSpec spec{name, {}, s.protocol};
    spec.endpoints.reserve(s.endpoints.size());
    for (const auto& [addr, w] : s.endpoints) spec.endpoints.push_back({addr, w});
    out.services.push_back(std::move(spec));
  }
  for (const auto& [name, sp] : splits) {
    if (services.count(name)) {
      if (problems) problems->push_back(fmt::format("split '{}' has the name of a service; the service wins", name));
      continue;
    }
    out.splits.push_back(*sp);
  }
  return out;
}

}  // namespace weft::controller
