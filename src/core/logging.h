#pragma once
// Process-wide logging on spdlog. The level can be changed at run time from the
// admin thread (/proxy-log-level); spdlog's level is atomic, so the data path
// reads it without locks.
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace weft {

void initLogging(std::string_view level);
// Returns false when `level` is not one of trace|debug|info|warn|error|off.
bool setLogLevel(std::string_view level);
std::string logLevel();

}  // namespace weft

#define WEFT_LOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define WEFT_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define WEFT_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define WEFT_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define WEFT_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
