#include "http/codec/header_list.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>

namespace weft::http {

namespace {
// ASCII case folding (field names are tokens; no locale, no libc call per byte).
constexpr unsigned char asciiLower(unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c | 0x20) : c; }

// Eight bytes at a time: each byte in 'A'..'Z' gets 0x20 added, every other
// byte (0x80 and above included) stays as it is.
uint64_t lowerEight(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  uint64_t low7 = x & (0x7f * kOnes);
  uint64_t atLeastA = low7 + (0x80 - 'A') * kOnes;     // high bit set where byte >= 'A'
  uint64_t aboveZ = low7 + (0x80 - 'Z' - 1) * kOnes;   // high bit set where byte > 'Z'
  uint64_t upper = (atLeastA ^ aboveZ) & ~x & (0x80 * kOnes);
  return x | (upper >> 2);
}

uint64_t loadEight(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// `x` equals `lower` (eight bytes of lowercase letters and '-') ignoring
// ASCII case: a letter of `lower` has bit 0x40 set, so OR-ing 0x20 into
// `x` at those bytes folds exactly 'A'..'Z' onto it; a '-' byte (0x2d,
// without 0x40) must match exactly.
bool foldedEqualsLower(uint64_t x, uint64_t lower) {
  constexpr uint64_t kLetterBits = 0x4040404040404040ull;
  return (x | ((lower & kLetterBits) >> 1)) == lower;
}

// `n` equals `lower` (lowercase letters and '-' only: the names fieldKind()
// knows) ignoring ASCII case, a word at a time: fieldKind() runs on every
// field of every head, and iequals() folded both sides byte by byte past
// the first word.
bool equalsLowerName(std::string_view n, std::string_view lower) {
  size_t len = lower.size();
  if (n.size() != len) return false;
  if (len < 8) {
    uint64_t x = 0, y = 0;
    std::memcpy(&x, n.data(), len);
    std::memcpy(&y, lower.data(), len);
    return foldedEqualsLower(x, y);
  }
  size_t i = 0;
  for (; i + 8 <= len; i += 8)
    if (!foldedEqualsLower(loadEight(n.data() + i), loadEight(lower.data() + i))) return false;
  // The tail as the last eight bytes, overlapping what was compared.
  return i == len || foldedEqualsLower(loadEight(n.data() + len - 8), loadEight(lower.data() + len - 8));
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // HTTP/1 names come mixed-case ("Content-Length"): folding eight bytes at
  // a time (~3 % of an HTTP/1.1 request's instructions were spent here
  // byte by byte). Equal bytes need no folding.
  size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t x = loadEight(a.data() + i), y = loadEight(b.data() + i);
    if (x != y && lowerEight(x) != lowerEight(y)) return false;
  }
  for (; i < a.size(); ++i)
    if (a[i] != b[i] && asciiLower(static_cast<unsigned char>(a[i])) != asciiLower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

FieldKind fieldKind(std::string_view n) {
  auto is = [n](std::string_view name, FieldKind k) { return equalsLowerName(n, name) ? k : FieldKind::kOther; };
  switch (n.size()) {
    case 2: return is("te", FieldKind::kTe);
    case 4: return is("host", FieldKind::kHost);
    case 7: return is("upgrade", FieldKind::kUpgrade);
    case 10:
      return asciiLower(static_cast<unsigned char>(n[0])) == 'c' ? is("connection", FieldKind::kConnection)
                                                                 : is("keep-alive", FieldKind::kKeepAlive);
    case 14: return is("content-length", FieldKind::kContentLength);
    case 16: return is("proxy-connection", FieldKind::kProxyConnection);
    case 17: return is("transfer-encoding", FieldKind::kTransferEncoding);
    default: return FieldKind::kOther;
  }
}

std::string_view HeaderList::get(std::string_view name) const {
  for (const auto& f : fields_)
    if (iequals(f.name, name)) return f.value;
  return {};
}

bool HeaderList::has(std::string_view name) const {
  return std::any_of(fields_.begin(), fields_.end(), [&](const HeaderField& f) { return iequals(f.name, name); });
}

size_t HeaderList::count(std::string_view name) const {
  return std::count_if(fields_.begin(), fields_.end(), [&](const HeaderField& f) { return iequals(f.name, name); });
}

size_t HeaderList::remove(std::string_view name) {
  auto n = fields_.size();
  std::erase_if(fields_, [&](const HeaderField& f) { return iequals(f.name, name); });
  return n - fields_.size();
}

void HeaderList::set(std::string_view name, std::string_view value) {
  remove(name);
  add(name, value);
}

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
}  // namespace

void HeaderList::removeHopByHop(std::initializer_list<FieldKind> alsoDrop) {
  // Collect the names listed in Connection first: they are hop-by-hop too.
  std::vector<std::string> named;
  for (const auto& f : fields_) {
    if (f.kind() != FieldKind::kConnection) continue;
    std::string_view v = f.value;
    while (!v.empty()) {
      auto comma = v.find(',');
      auto token = trim(v.substr(0, comma));
      // A token naming a field that goes anyway (the usual "keep-alive",
      // "upgrade") needs no entry: no list to allocate for it.
      if (!token.empty() && !isConnectionSpecific(fieldKind(token))) named.emplace_back(token);
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  std::erase_if(fields_, [&](const HeaderField& f) {
    FieldKind kind = f.kind();
    if (isConnectionSpecific(kind)) return true;
    if (kind != FieldKind::kOther && std::find(alsoDrop.begin(), alsoDrop.end(), kind) != alsoDrop.end()) return true;
    if (kind == FieldKind::kTe) return !iequals(trim(f.value), "trailers");
    for (const auto& n : named)
      if (iequals(f.name, n)) return true;
    return false;
  });
}

size_t HeaderList::byteSize() const {
  size_t n = 0;
  for (const auto& f : fields_) n += f.name.size() + f.value.size();
  return n;
}

}  // namespace weft::http
