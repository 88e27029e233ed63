// Fuzzes the header handling every proxied request goes through:
// HeaderList::removeHopByHop (RFC 9110 §7.6.1) and isGrpcContentType, with
// header lists a peer controls. The input is one field per line, "name:value"
// (a line without ':' is a name with an empty value), bytes as given.
//
// Beyond "does not crash", each input is checked against a deliberately
// different reference model (lower-cased copies and a set of hop-by-hop
// names), so a wrong removal or a lost repeat aborts the run too.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "http/codec/header_list.h"
#include "http/codec/message.h"

namespace {

using weft::http::HeaderField;
using weft::http::HeaderList;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trimOws(std::string_view s) {
  // Optional whitespace of RFC 9110 §5.6.3: spaces and horizontal tabs only.
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "header_list_fuzz: invariant violated: %s\n", what);
    std::abort();
  }
}

std::vector<HeaderField> referenceRemoveHopByHop(const std::vector<HeaderField>& in) {
  std::set<std::string> hop = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};
  for (const auto& f : in) {
    if (lower(f.name) != "connection") continue;
    size_t start = 0;
    const std::string& v = f.value;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      auto token = trimOws(std::string_view(v).substr(start, comma - start));
      if (!token.empty()) hop.insert(lower(token));
      start = comma + 1;
    }
  }
  std::vector<HeaderField> out;
  for (const auto& f : in) {
    auto name = lower(f.name);
    // "TE: trailers" survives even when Connection names TE: RFC 9110 §10.1.4
    // makes a sender of TE also send "Connection: TE", and gRPC needs
    // "te: trailers" to reach an HTTP/2 upstream.
    if (name == "te") {
      if (lower(trimOws(f.value)) == "trailers") out.push_back(f);
      continue;
    }
    if (hop.count(name)) continue;
    out.push_back(f);
  }
  return out;
}

bool referenceIsGrpc(std::string_view ct) {
  std::string l = lower(ct);
  if (l.rfind("application/grpc", 0) != 0) return false;
  return l.size() == 16 || l[16] == '+' || l[16] == ';';
}

bool sameFields(const HeaderList& list, const std::vector<HeaderField>& expected) {
  if (list.size() != expected.size()) return false;
  for (size_t i = 0; i < expected.size(); ++i)
    if (list[i].name != expected[i].name || list[i].value != expected[i].value) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<HeaderField> fields;
  HeaderList list;
  while (!in.empty()) {
    auto nl = in.find('\n');
    auto line = in.substr(0, nl);
    auto colon = line.find(':');
    HeaderField f{std::string(line.substr(0, colon)),
                  colon == std::string_view::npos ? std::string() : std::string(line.substr(colon + 1))};
    list.add(f.name, f.value);
    fields.push_back(std::move(f));
    if (nl == std::string_view::npos) break;
    in.remove_prefix(nl + 1);
  }

  // Lookups agree with a scan of the fields as added (repeats and order kept).
  std::vector<std::string> lowered;
  lowered.reserve(fields.size());
  for (const auto& f : fields) lowered.push_back(lower(f.name));
  size_t bytes = 0;
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& f = fields[i];
    bytes += f.name.size() + f.value.size();
    size_t n = 0;
    const std::string* first = nullptr;
    for (size_t j = 0; j < fields.size(); ++j)
      if (lowered[j] == lowered[i]) {
        ++n;
        if (!first) first = &fields[j].value;
      }
    check(list.count(f.name) == n, "count() disagrees with the fields added");
    check(list.has(f.name), "has() misses a field that was added");
    check(list.get(f.name) == *first, "get() is not the first value");
    check(weft::http::isGrpcContentType(f.value) == referenceIsGrpc(f.value), "isGrpcContentType disagrees");
  }
  check(list.byteSize() == bytes, "byteSize() disagrees");

  HeaderList stripped = list;
  stripped.removeHopByHop();
  check(sameFields(stripped, referenceRemoveHopByHop(fields)), "removeHopByHop disagrees with the reference");
  HeaderList twice = stripped;
  twice.removeHopByHop();
  check(sameFields(twice, referenceRemoveHopByHop(fields)), "removeHopByHop is not idempotent");

  // remove() then set() leave exactly one field of that name, at the end.
  if (!fields.empty()) {
    const std::string name = fields.front().name;
    size_t before = list.size(), n = list.count(name);
    check(list.remove(name) == n && list.size() == before - n && !list.has(name), "remove() is inconsistent");
    list.set(name, "v");
    check(list.count(name) == 1 && list[list.size() - 1].value == "v", "set() is inconsistent");
  }
  return 0;
}
