#pragma once
// RFC 9110 §5.6.2 tchar — the bytes of a token (a method, a field name, a
// connection option) — as a table: the HTTP/1 parser and serializer look up
// every byte of every field name.
#include <array>
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

}  // namespace weft::http
