#include "http/codec/message.h"

namespace weft::http {

bool isGrpcContentType(std::string_view ct) {
  constexpr std::string_view kPrefix = "application/grpc";
  if (ct.size() < kPrefix.size() || !iequals(ct.substr(0, kPrefix.size()), kPrefix)) return false;
  return ct.size() == kPrefix.size() || ct[kPrefix.size()] == '+' || ct[kPrefix.size()] == ';';
}

bool RequestHead::isGrpc() const { return isGrpcContentType(headers.get("content-type")); }

}  // namespace weft::http
