#include "net/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace weft::net {

boost::asio::ip::tcp::acceptor openReusePortAcceptor(boost::asio::any_io_executor ex,
                                                     const boost::asio::ip::tcp::endpoint& ep, int backlog) {
  boost::asio::ip::tcp::acceptor a(ex);
  a.open(ep.protocol());
  a.set_option(boost::asio::socket_base::reuse_address(true));
  int one = 1;
  if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
    throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
  a.bind(ep);
  a.listen(backlog);
  return a;
}

void tuneSocket(boost::asio::ip::tcp::socket& s) {
  boost::system::error_code ec;
  s.set_option(boost::asio::ip::tcp::no_delay(true), ec);
}

}  // namespace weft::net
