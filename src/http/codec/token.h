#pragma once
// RFC 9110 §5.6.2 tchar — the bytes of a token (a method, a field name, a
// connection option) — as a table: the HTTP/1 parser and serializer look up
// every byte of every field name. And the word-at-a-time control-byte test
// both use on every field value.
#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace weft::http {

inline constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

inline bool isTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

// Whether `s` has a control byte (below 0x20) or DEL, eight bytes at a time:
// with none, a head line has no bare CR and a value is clean, so neither
// needs a per-byte check. Exact as a yes/no answer (the classic "has a byte
// less than n" word test, n <= 128; bytes of 0x80 and up are never flagged).
inline bool hasControlOrDel(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  auto hasByteBelow = [](uint64_t w, uint64_t n) { return ((w - kOnes * n) & ~w & kHighs) != 0; };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (hasByteBelow(w, 0x20) || hasByteBelow(w ^ (kOnes * 0x7f), 1)) return true;
  }
  for (; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace weft::http
