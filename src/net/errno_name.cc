#include "net/errno_name.h"

#include <cerrno>
#include <cstring>

#include <boost/asio/error.hpp>

namespace weft::net {

std::string errnoName(int err) {
  if (err == 0) return "none";
  if (const char* n = strerrorname_np(err)) return n;
  return "E" + std::to_string(err);
}

int errnoOf(const boost::system::error_code& ec) {
  if (!ec) return 0;
  if (ec == boost::asio::error::timed_out) return ETIMEDOUT;
  if (ec.category() == boost::system::system_category() || ec.category() == boost::system::generic_category())
    return ec.value();
  return EIO;
}

}  // namespace weft::net
