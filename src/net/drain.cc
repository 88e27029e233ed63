#include "net/drain.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace weft::net {

boost::asio::awaitable<void> DrainSignal::wait() {
  while (!draining_) co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

}  // namespace weft::net
