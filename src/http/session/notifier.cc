#include "http/session/notifier.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace weft::http {

boost::asio::awaitable<void> Notifier::wait() {
  timer_.expires_at(boost::asio::steady_timer::time_point::max());
  co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

}  // namespace weft::http
