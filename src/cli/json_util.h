#pragma once
// Small helpers over Boost.JSON for the CLI's reading of admin documents.
// Pure; any thread; never throws (a missing or mistyped field reads as the default).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace weft::cli {

// Parses `text`; nullopt when it is not JSON.
std::optional<boost::json::value> parseJson(std::string_view text);
std::string jsonString(const boost::json::value& v, std::string_view key, std::string_view fallback = "");
double jsonNumber(const boost::json::value& v, std::string_view key, double fallback = 0);
const boost::json::array* jsonArray(const boost::json::value& v, std::string_view key);
// `"..."` with JSON escapes, for hand-built output.
std::string quote(std::string_view s);

}  // namespace weft::cli
