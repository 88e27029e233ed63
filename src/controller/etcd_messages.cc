#include "controller/etcd_messages.h"

#include <charconv>

#include <boost/json.hpp>

#include "controller/json_reading.h"

namespace weft::controller::etcd {

namespace json = boost::json;

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int decodeChar(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// int64 fields: a string of digits (proto3 JSON) or a JSON integer.
std::optional<int64_t> int64Of(const json::value* v) {
  if (!v) return 0;  // omitted = default
  if (auto* i = v->if_int64()) return *i;
  if (auto* u = v->if_uint64()) return *u <= uint64_t(INT64_MAX) ? std::optional<int64_t>(int64_t(*u)) : std::nullopt;
  if (auto* s = v->if_string()) {
    int64_t out = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec != std::errc() || p != s->data() + s->size() || s->empty()) return std::nullopt;
    return out;
  }
  return std::nullopt;
}

std::optional<std::string> bytesOf(const json::value* v) {
  if (!v) return std::string();
  auto* s = v->if_string();
  if (!s) return std::nullopt;
  return base64Decode(*s);
}

using json_reading::fail;
using json_reading::parseObject;

std::optional<KeyValue> keyValueOf(const json::value& v, std::string* why) {
  auto* o = v.if_object();
  if (!o) return fail<KeyValue>(why, "kv is not an object");
  KeyValue kv;
  auto key = bytesOf(o->if_contains("key"));
  auto value = bytesOf(o->if_contains("value"));
  auto mod = int64Of(o->if_contains("mod_revision"));
  auto lease = int64Of(o->if_contains("lease"));
  if (!key || !value) return fail<KeyValue>(why, "kv key/value is not base64");
  if (!mod || !lease) return fail<KeyValue>(why, "kv revision/lease is not an integer");
  if (key->empty()) return fail<KeyValue>(why, "kv has an empty key");
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.modRevision = *mod;
  kv.lease = *lease;
  return kv;
}

std::optional<int64_t> headerRevision(const json::object& o) {
  auto* h = o.if_contains("header");
  if (!h) return 0;
  auto* ho = h->if_object();
  if (!ho) return std::nullopt;
  return int64Of(ho->if_contains("revision"));
}

}  // namespace

std::string base64Encode(std::string_view raw) {
  std::string out;
  out.reserve((raw.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(raw[k])); };
  for (; i + 3 <= raw.size(); i += 3) {
    uint32_t n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (size_t rest = raw.size() - i; rest > 0) {
    uint32_t n = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int c[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char ch = text[i + k];
      if (ch == '=' && last && k >= 2) {
        c[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return std::nullopt;  // data after padding
      c[k] = decodeChar(ch);
      if (c[k] < 0) return std::nullopt;
    }
    uint32_t n = uint32_t(c[0]) << 18 | uint32_t(c[1]) << 12 | uint32_t(c[2]) << 6 | uint32_t(c[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::string prefixRangeEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string rangeRequest(std::string_view key, std::string_view rangeEnd, int64_t revision, int64_t limit) {
  json::object o{{"key", base64Encode(key)}, {"range_end", base64Encode(rangeEnd)}};
  if (revision > 0) o["revision"] = std::to_string(revision);
  if (limit > 0) o["limit"] = std::to_string(limit);
  return json::serialize(o);
}

std::string watchCreateRequest(std::string_view key, std::string_view rangeEnd, int64_t startRevision) {
  // progress_notify: the server sends an empty response now and then on a
  // quiet watch, which proves the stream is alive.
  json::object create{{"key", base64Encode(key)},
                      {"range_end", base64Encode(rangeEnd)},
                      {"start_revision", std::to_string(startRevision)},
                      {"progress_notify", true}};
  return json::serialize(json::object{{"create_request", std::move(create)}});
}

std::optional<RangeResponse> parseRangeResponse(std::string_view text, std::string* why) {
  auto o = parseObject(text, why);
  if (!o) return std::nullopt;
  RangeResponse r;
  auto rev = headerRevision(*o);
  if (!rev || *rev <= 0) return fail<RangeResponse>(why, "range response without a header revision");
  r.revision = *rev;
  if (auto* kvs = o->if_contains("kvs")) {
    auto* arr = kvs->if_array();
    if (!arr) return fail<RangeResponse>(why, "kvs is not an array");
    r.kvs.reserve(arr->size());
    for (const auto& v : *arr) {
      auto kv = keyValueOf(v, why);
      if (!kv) return std::nullopt;
      r.kvs.push_back(std::move(*kv));
    }
  }
  if (auto* more = o->if_contains("more")) {
    auto* b = more->if_bool();
    if (!b) return fail<RangeResponse>(why, "more is not a boolean");
    r.more = *b;
  }
  return r;
}

std::optional<WatchMessage> parseWatchMessage(std::string_view text, std::string* why) {
  auto o = parseObject(text, why);
  if (!o) return std::nullopt;
  WatchMessage m;
  if (auto* err = o->if_contains("error")) {
    m.isError = true;
    if (auto* eo = err->if_object()) {
      if (auto* msg = eo->if_contains("message"); msg && msg->is_string()) m.errorMessage = msg->get_string();
    } else if (auto* s = err->if_string()) {
      m.errorMessage = *s;
    }
    if (m.errorMessage.empty()) m.errorMessage = "watch error";
    return m;
  }
  auto* result = o->if_contains("result");
  auto* ro = result ? result->if_object() : nullptr;
  if (!ro) return fail<WatchMessage>(why, "watch message without result");
  auto rev = headerRevision(*ro);
  if (!rev) return fail<WatchMessage>(why, "watch header revision is not an integer");
  m.revision = *rev;
  auto flag = [&](const char* name, bool& out) {
    auto* v = ro->if_contains(name);
    if (!v) return true;
    auto* b = v->if_bool();
    if (!b) return false;
    out = *b;
    return true;
  };
  if (!flag("created", m.created) || !flag("canceled", m.canceled)) {
    return fail<WatchMessage>(why, "created/canceled is not a boolean");
  }
  auto compact = int64Of(ro->if_contains("compact_revision"));
  if (!compact) return fail<WatchMessage>(why, "compact_revision is not an integer");
  m.compactRevision = *compact;
  if (auto* reason = ro->if_contains("cancel_reason"); reason && reason->is_string()) {
    m.cancelReason = reason->get_string();
  }
  if (auto* evs = ro->if_contains("events")) {
    auto* arr = evs->if_array();
    if (!arr) return fail<WatchMessage>(why, "events is not an array");
    m.events.reserve(arr->size());
    for (const auto& ev : *arr) {
      auto* eo = ev.if_object();
      if (!eo) return fail<WatchMessage>(why, "event is not an object");
      WatchEvent e;
      if (auto* type = eo->if_contains("type")) {
        auto* ts = type->if_string();
        if (ts && *ts == "DELETE") {
          e.isDelete = true;
        } else if (!ts || *ts != "PUT") {
          return fail<WatchMessage>(why, "event type is neither PUT nor DELETE");
        }
      }
      auto* kv = eo->if_contains("kv");
      if (!kv) return fail<WatchMessage>(why, "event without kv");
      auto parsed = keyValueOf(*kv, why);
      if (!parsed) return std::nullopt;
      e.kv = std::move(*parsed);
      m.events.push_back(std::move(e));
    }
  }
  return m;
}

std::string errorBodyMessage(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (!ec) {
    if (auto* o = v.if_object()) {
      for (const char* k : {"message", "error"}) {
        if (auto* m = o->if_contains(k); m && m->is_string()) return std::string(m->get_string());
      }
    }
  }
  return std::string(text.substr(0, 200));
}

}  // namespace weft::controller::etcd
