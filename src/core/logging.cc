#include "core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace weft {
namespace {
std::optional<spdlog::level::level_enum> parseLevel(std::string_view s) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"off", spdlog::level::off},
  };
  for (auto& [name, lvl] : kLevels)
    if (name == s) return lvl;
  return std::nullopt;
}
}  // namespace

void initLogging(std::string_view level) {
  auto logger = spdlog::stderr_color_mt("weft");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ [%t] %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  if (!setLogLevel(level)) spdlog::set_level(spdlog::level::info);
}

bool setLogLevel(std::string_view level) {
  auto lvl = parseLevel(level);
  if (!lvl) return false;
  spdlog::set_level(*lvl);
  return true;
}

std::string logLevel() {
  auto v = spdlog::level::to_string_view(spdlog::get_level());
  std::string s(v.data(), v.size());
  return s == "err" ? "error" : (s == "warning" ? "warn" : s);
}

}  // namespace weft
