#pragma once
// Small helpers shared by the decoders of what etcd's JSON gateway and the
// Kubernetes API send (etcd_messages.cc, kube_objects.cc): a failure that
// records why, and "parse this text as one JSON object".
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

namespace weft::controller::json_reading {

// Sets *why (when given) and returns an empty optional.
template <class T>
std::optional<T> fail(std::string* why, std::string w) {
  if (why) *why = std::move(w);
  return std::nullopt;
}

inline std::optional<boost::json::object> parseObject(std::string_view text, std::string* why) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return fail<boost::json::object>(why, "not JSON: " + ec.message());
  auto* o = v.if_object();
  if (!o) return fail<boost::json::object>(why, "not a JSON object");
  return std::move(*o);
}

}  // namespace weft::controller::json_reading
