#pragma once
// An ordered list of header fields that keeps repeats and order exactly as
// received (DESIGN.md §6 "Headers"). Names keep the case they arrived with;
// comparisons are case-insensitive. The HTTP/2 side lowercases on output.
// Not thread-safe; owned by one request on one worker.
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace weft::http {

// How many fields a decoder reserves room for before a head arrives: enough
// for most requests and responses, so the list grows at most once.
inline constexpr size_t kExpectedFields = 12;

bool iequals(std::string_view a, std::string_view b);

// The fields the proxy treats specially, recognised by name (case-insensitive)
// with one switch on the length and at most one comparison, instead of one
// iequals() per candidate name for every field of every message.
enum class FieldKind : unsigned char {
  kOther,
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTransferEncoding,
  kUpgrade,
  kTe,
  kContentLength,
  kHost,
};
FieldKind fieldKind(std::string_view name);
// Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade: the
// fixed hop-by-hop fields of RFC 9110 §7.6.1 (TE is hop-by-hop except "trailers").
constexpr bool isConnectionSpecific(FieldKind k) {
  return k == FieldKind::kConnection || k == FieldKind::kKeepAlive || k == FieldKind::kProxyConnection ||
         k == FieldKind::kTransferEncoding || k == FieldKind::kUpgrade;
}

struct HeaderField {
  std::string name;
  std::string value;

  // fieldKind(name), worked out once per field: the HTTP/1 parser, hop-by-hop
  // removal and both serializers each ask for every field (it was ~18
  // fieldKind() calls per proxied HTTP/1.1 request). Set by add() when the
  // caller already knows it, else on first use.
  FieldKind kind() const {
    if (kind_ == kKindUnknown) kind_ = static_cast<unsigned char>(fieldKind(name));
    return static_cast<FieldKind>(kind_);
  }

  static constexpr unsigned char kKindUnknown = 0xff;
  mutable unsigned char kind_ = kKindUnknown;
};

class HeaderList {
 public:
  using const_iterator = std::vector<HeaderField>::const_iterator;

  void add(std::string_view name, std::string_view value) { fields_.push_back({std::string(name), std::string(value)}); }
  // The same, for a caller that has worked out fieldKind(name) already.
  void add(std::string_view name, std::string_view value, FieldKind kind) {
    fields_.push_back({std::string(name), std::string(value), static_cast<unsigned char>(kind)});
  }
  // First value of `name` or empty.
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const;
  size_t count(std::string_view name) const;
  // Removes every field named `name`; returns how many.
  size_t remove(std::string_view name);
  // Replaces every field named `name` by one field (appended if absent).
  void set(std::string_view name, std::string_view value);
  // Removes the hop-by-hop fields of RFC 9110 §7.6.1: Connection and the
  // fields it names, Keep-Alive, Proxy-Connection, TE (except "trailers"),
  // Transfer-Encoding, Upgrade. Fields of the kinds in `alsoDrop` go in the
  // same pass (a parser drops Host and Content-Length it has taken into the
  // typed head: one scan, not one per name).
  void removeHopByHop(std::initializer_list<FieldKind> alsoDrop = {});

  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  void clear() { fields_.clear(); }
  void reserve(size_t n) { fields_.reserve(n); }
  const_iterator begin() const { return fields_.begin(); }
  const_iterator end() const { return fields_.end(); }
  const HeaderField& operator[](size_t i) const { return fields_[i]; }
  // Sum of name and value lengths (for header-list size limits).
  size_t byteSize() const;

 private:
  std::vector<HeaderField> fields_;
};

}  // namespace weft::http
