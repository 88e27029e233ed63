#include "controller/kube_objects.h"

#include <boost/json.hpp>

#include "controller/json_reading.h"

namespace weft::controller::kube {

namespace json = boost::json;

namespace {

using json_reading::fail;
using json_reading::parseObject;

const json::object* objectAt(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

// A string field: absent → "", present but not a string → nullopt.
std::optional<std::string> stringAt(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::string();
  auto* s = v->if_string();
  if (!s) return std::nullopt;
  return std::string(*s);
}

std::optional<int32_t> int32At(const json::object& o, std::string_view key, bool& present) {
  auto* v = o.if_contains(key);
  present = v && !v->is_null();
  if (!present) return 0;
  int64_t x = 0;
  if (auto* i = v->if_int64()) {
    x = *i;
  } else if (auto* u = v->if_uint64()) {
    if (*u > uint64_t(INT32_MAX)) return std::nullopt;
    x = int64_t(*u);
  } else {
    return std::nullopt;
  }
  if (x < INT32_MIN || x > INT32_MAX) return std::nullopt;
  return static_cast<int32_t>(x);
}

// Tri-state condition: absent or null → `dflt`.
std::optional<bool> conditionAt(const json::object* conditions, std::string_view key, bool dflt) {
  if (!conditions) return dflt;
  auto* v = conditions->if_contains(key);
  if (!v || v->is_null()) return dflt;
  auto* b = v->if_bool();
  if (!b) return std::nullopt;
  return *b;
}

struct Meta {
  std::string ns, name, resourceVersion;
  const json::object* labels = nullptr;
};

std::optional<Meta> metaOf(const json::object& o, bool requireName, std::string* why) {
  auto* m = objectAt(o, "metadata");
  if (!m) return fail<Meta>(why, "object without metadata");
  Meta meta;
  auto ns = stringAt(*m, "namespace");
  auto name = stringAt(*m, "name");
  auto rv = stringAt(*m, "resourceVersion");
  if (!ns || !name || !rv) return fail<Meta>(why, "metadata fields are not strings");
  if (requireName && name->empty()) return fail<Meta>(why, "object without metadata.name");
  meta.ns = std::move(*ns);
  meta.name = std::move(*name);
  meta.resourceVersion = std::move(*rv);
  meta.labels = objectAt(*m, "labels");
  return meta;
}

std::optional<Service> serviceOf(const json::object& o, std::string* why) {
  auto meta = metaOf(o, true, why);
  if (!meta) return std::nullopt;
  Service s{meta->ns, meta->name, meta->resourceVersion, "", {}};
  auto* spec = objectAt(o, "spec");
  if (!spec) return s;  // a service without spec serves nothing
  auto type = stringAt(*spec, "type");
  if (!type) return fail<Service>(why, "spec.type is not a string");
  s.type = type->empty() ? "ClusterIP" : *type;
  if (auto* ports = spec->if_contains("ports"); ports && !ports->is_null()) {
    auto* arr = ports->if_array();
    if (!arr) return fail<Service>(why, "spec.ports is not a list");
    for (const auto& p : *arr) {
      auto* po = p.if_object();
      if (!po) return fail<Service>(why, "spec.ports[] is not an object");
      ServicePort sp;
      bool present = false;
      auto name = stringAt(*po, "name");
      auto port = int32At(*po, "port", present);
      auto proto = stringAt(*po, "protocol");
      auto app = stringAt(*po, "appProtocol");
      if (!name || !port || !proto || !app) return fail<Service>(why, "spec.ports[] has fields of the wrong type");
      if (!present || *port < 1 || *port > 65535) return fail<Service>(why, "spec.ports[].port is not 1..65535");
      sp.name = std::move(*name);
      sp.port = *port;
      sp.protocol = proto->empty() ? "TCP" : *proto;
      sp.appProtocol = std::move(*app);
      s.ports.push_back(std::move(sp));
    }
  }
  return s;
}

std::optional<EndpointSlice> sliceOf(const json::object& o, std::string* why) {
  auto meta = metaOf(o, true, why);
  if (!meta) return std::nullopt;
  EndpointSlice s;
  s.ns = meta->ns;
  s.name = meta->name;
  s.resourceVersion = meta->resourceVersion;
  if (meta->labels) {
    auto svc = stringAt(*meta->labels, "kubernetes.io/service-name");
    if (!svc) return fail<EndpointSlice>(why, "label kubernetes.io/service-name is not a string");
    s.serviceName = std::move(*svc);
  }
  auto at = stringAt(o, "addressType");
  if (!at) return fail<EndpointSlice>(why, "addressType is not a string");
  s.addressType = std::move(*at);
  if (auto* ports = o.if_contains("ports"); ports && !ports->is_null()) {
    auto* arr = ports->if_array();
    if (!arr) return fail<EndpointSlice>(why, "ports is not a list");
    for (const auto& p : *arr) {
      auto* po = p.if_object();
      if (!po) return fail<EndpointSlice>(why, "ports[] is not an object");
      SlicePort sp;
      bool present = false;
      auto port = int32At(*po, "port", present);
      auto proto = stringAt(*po, "protocol");
      if (!port || !proto) return fail<EndpointSlice>(why, "ports[] has fields of the wrong type");
      if (present) {
        if (*port < 1 || *port > 65535) return fail<EndpointSlice>(why, "ports[].port is not 1..65535");
        sp.port = *port;
      }
      if (auto* n = po->if_contains("name"); n && !n->is_null()) {
        auto* ns = n->if_string();
        if (!ns) return fail<EndpointSlice>(why, "ports[].name is not a string");
        sp.name = std::string(*ns);
      }
      sp.protocol = proto->empty() ? "TCP" : *proto;
      s.ports.push_back(std::move(sp));
    }
  }
  if (auto* eps = o.if_contains("endpoints"); eps && !eps->is_null()) {
    auto* arr = eps->if_array();
    if (!arr) return fail<EndpointSlice>(why, "endpoints is not a list");
    for (const auto& e : *arr) {
      auto* eo = e.if_object();
      if (!eo) return fail<EndpointSlice>(why, "endpoints[] is not an object");
      SliceEndpoint ep;
      auto* addrs = eo->if_contains("addresses");
      auto* aarr = addrs ? addrs->if_array() : nullptr;
      if (!aarr) return fail<EndpointSlice>(why, "endpoints[].addresses is not a list");
      for (const auto& a : *aarr) {
        auto* as = a.if_string();
        if (!as) return fail<EndpointSlice>(why, "endpoints[].addresses[] is not a string");
        ep.addresses.emplace_back(*as);
      }
      auto* cond = objectAt(*eo, "conditions");
      auto ready = conditionAt(cond, "ready", true);
      if (!ready) return fail<EndpointSlice>(why, "conditions.ready is not a boolean");
      auto serving = conditionAt(cond, "serving", *ready);
      auto terminating = conditionAt(cond, "terminating", false);
      if (!serving || !terminating) return fail<EndpointSlice>(why, "conditions are not booleans");
      ep.ready = *ready;
      ep.serving = *serving;
      ep.terminating = *terminating;
      s.endpoints.push_back(std::move(ep));
    }
  }
  return s;
}

std::optional<Object> objectOf(Resource r, const json::object& o, std::string* why) {
  Object out;
  out.resource = r;
  if (r == Resource::kService) {
    auto s = serviceOf(o, why);
    if (!s) return std::nullopt;
    out.service = std::move(*s);
  } else {
    auto s = sliceOf(o, why);
    if (!s) return std::nullopt;
    out.slice = std::move(*s);
  }
  return out;
}

}  // namespace

std::string_view watchEventTypeName(WatchEvent::Type t) {
  switch (t) {
    case WatchEvent::Type::kAdded:
      return "added";
    case WatchEvent::Type::kModified:
      return "modified";
    case WatchEvent::Type::kDeleted:
      return "deleted";
    case WatchEvent::Type::kBookmark:
      return "bookmark";
    case WatchEvent::Type::kError:
      return "error";
  }
  return "other";
}

std::optional<List> parseList(Resource r, std::string_view text, std::string* why) {
  auto o = parseObject(text, why);
  if (!o) return std::nullopt;
  List l;
  auto* meta = objectAt(*o, "metadata");
  if (!meta) return fail<List>(why, "list without metadata");
  auto rv = stringAt(*meta, "resourceVersion");
  auto cont = stringAt(*meta, "continue");
  if (!rv || !cont || rv->empty()) return fail<List>(why, "list without metadata.resourceVersion");
  l.resourceVersion = std::move(*rv);
  l.continueToken = std::move(*cont);
  if (auto* items = o->if_contains("items"); items && !items->is_null()) {
    auto* arr = items->if_array();
    if (!arr) return fail<List>(why, "items is not a list");
    l.items.reserve(arr->size());
    for (const auto& it : *arr) {
      auto* io = it.if_object();
      if (!io) return fail<List>(why, "items[] is not an object");
      auto obj = objectOf(r, *io, why);
      if (!obj) return std::nullopt;
      l.items.push_back(std::move(*obj));
    }
  }
  return l;
}

std::optional<WatchEvent> parseWatchEvent(Resource r, std::string_view text, std::string* why) {
  auto o = parseObject(text, why);
  if (!o) return std::nullopt;
  auto type = stringAt(*o, "type");
  auto* obj = objectAt(*o, "object");
  if (!type || !obj) return fail<WatchEvent>(why, "event without type or object");
  WatchEvent ev;
  if (*type == "ADDED") {
    ev.type = WatchEvent::Type::kAdded;
  } else if (*type == "MODIFIED") {
    ev.type = WatchEvent::Type::kModified;
  } else if (*type == "DELETED") {
    ev.type = WatchEvent::Type::kDeleted;
  } else if (*type == "BOOKMARK") {
    ev.type = WatchEvent::Type::kBookmark;
  } else if (*type == "ERROR") {
    ev.type = WatchEvent::Type::kError;
    bool present = false;
    auto code = int32At(*obj, "code", present);
    auto msg = stringAt(*obj, "message");
    ev.errorCode = code.value_or(0);
    ev.errorMessage = msg.value_or("");
    return ev;
  } else {
    return fail<WatchEvent>(why, "unknown event type");
  }
  if (ev.type == WatchEvent::Type::kBookmark) {
    auto meta = metaOf(*obj, false, why);
    if (!meta) return std::nullopt;
    if (meta->resourceVersion.empty()) return fail<WatchEvent>(why, "bookmark without resourceVersion");
    ev.resourceVersion = std::move(meta->resourceVersion);
    return ev;
  }
  auto parsed = objectOf(r, *obj, why);
  if (!parsed) return std::nullopt;
  ev.object = std::move(*parsed);
  ev.resourceVersion = r == Resource::kService ? ev.object.service.resourceVersion : ev.object.slice.resourceVersion;
  return ev;
}

int32_t statusCode(std::string_view text, std::string* message) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  auto* o = ec ? nullptr : v.if_object();
  if (!o) return 0;
  auto kind = stringAt(*o, "kind");
  if (!kind || *kind != "Status") return 0;
  bool present = false;
  auto code = int32At(*o, "code", present);
  if (message) *message = stringAt(*o, "message").value_or("");
  return code.value_or(0);
}

}  // namespace weft::controller::kube
