#include <cstdlib>
#include <string>

#include "cli/commands.h"

namespace weft::cli {

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  double scale = 1000;  // seconds
  if (text.ends_with("ms")) {
    scale = 1;
    text.remove_suffix(2);
  } else if (text.ends_with("s")) {
    text.remove_suffix(1);
  } else if (text.ends_with("m")) {
    scale = 60'000;
    text.remove_suffix(1);
  } else if (text.ends_with("h")) {
    scale = 3'600'000;
    text.remove_suffix(1);
  }
  if (text.empty() || text.size() > 32) return std::nullopt;
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !(v >= 0) || v * scale > 1e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(v * scale));
}

}  // namespace weft::cli
