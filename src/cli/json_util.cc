#include "cli/json_util.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace weft::cli {

std::optional<boost::json::value> parseJson(std::string_view text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

std::string jsonString(const boost::json::value& v, std::string_view key, std::string_view fallback) {
  if (auto* o = v.if_object())
    if (auto* f = o->if_contains(key)) {
      if (auto* s = f->if_string()) return std::string(*s);
      if (f->is_number()) return boost::json::serialize(*f);
    }
  return std::string(fallback);
}

double jsonNumber(const boost::json::value& v, std::string_view key, double fallback) {
  if (auto* o = v.if_object())
    if (auto* f = o->if_contains(key)) {
      if (auto* d = f->if_double()) return *d;
      if (auto* i = f->if_int64()) return static_cast<double>(*i);
      if (auto* u = f->if_uint64()) return static_cast<double>(*u);
    }
  return fallback;
}

const boost::json::array* jsonArray(const boost::json::value& v, std::string_view key) {
  if (auto* o = v.if_object())
    if (auto* f = o->if_contains(key)) return f->if_array();
  return nullptr;
}

std::string quote(std::string_view s) { return boost::json::serialize(boost::json::value(boost::json::string(s))); }

}  // namespace weft::cli
