#include "net/read_readiness.h"

#include <boost/asio/version.hpp>

// What this reaches into is Boost 1.81's Asio (1.26, Debian 12) with its
// default epoll reactor (WEFT_READ_READINESS, read_readiness.h); anywhere
// else noteShortRead() does nothing.
#if WEFT_READ_READINESS
#include <sys/epoll.h>
#endif

namespace weft::net {

#if WEFT_READ_READINESS
namespace {

using Socket = boost::asio::basic_socket<boost::asio::ip::tcp, boost::asio::any_io_executor>;
using Reactor = boost::asio::detail::epoll_reactor;
using State = Reactor::descriptor_state;

// basic_socket::impl_ is protected: a derived class may name it.
struct SocketImpl : Socket {
  static auto& of(Socket& s) { return s.*(&SocketImpl::impl_); }
};

// The reactor's members used here are private (or protected in a base).
// Naming one in an explicit instantiation is allowed ([temp.spec.general]/6);
// each tag's friend function hands out the pointer to its member.
template <class Tag, typename Tag::type Member>
struct MemberOf {
  friend typename Tag::type memberOf(Tag) { return Member; }
};
// Per operation type: try the operation before waiting for epoll.
struct TrySpeculative {
  using type = bool (State::*)[Reactor::max_ops];
  friend type memberOf(TrySpeculative);
};
// The events the socket is registered with (kept in step with epoll).
struct RegisteredEvents {
  using type = uint32_t State::*;
  friend type memberOf(RegisteredEvents);
};
// The events epoll reported for the socket last.
struct ReportedEvents {
  using type = unsigned int boost::asio::detail::scheduler_operation::*;
  friend type memberOf(ReportedEvents);
};
struct OwningReactor {
  using type = Reactor* State::*;
  friend type memberOf(OwningReactor);
};
struct EpollFd {
  using type = int Reactor::*;
  friend type memberOf(EpollFd);
};
template struct MemberOf<TrySpeculative, &State::try_speculative_>;
template struct MemberOf<RegisteredEvents, &State::registered_events_>;
template struct MemberOf<ReportedEvents, &boost::asio::detail::scheduler_operation::task_result_>;
template struct MemberOf<OwningReactor, &State::reactor_>;
template struct MemberOf<EpollFd, &Reactor::epoll_fd_>;

State* stateOf(boost::asio::ip::tcp::socket& socket) {
  return SocketImpl::of(socket).get_implementation().reactor_data_;
}

}  // namespace

void noteShortRead(boost::asio::ip::tcp::socket& socket, size_t asked, size_t got) {
  if (got == 0 || got >= asked) return;
  State* state = stateOf(socket);
  if (!state) return;
  uint32_t& registered = state->*memberOf(RegisteredEvents{});
  if (registered == 0) return;  // not in epoll at all
  if (!(registered & EPOLLRDHUP)) {
    // First short read on this socket: ask epoll to report the peer's FIN as
    // well (one epoll_ctl per connection). Not marked this time: a FIN that is
    // already queued was reported before that. From here on, every report
    // made after the FIN arrived carries EPOLLRDHUP, and one is always made.
    epoll_event ev{};
    ev.events = registered | EPOLLRDHUP;
    ev.data.ptr = state;
    int epollFd = (state->*memberOf(OwningReactor{}))->*memberOf(EpollFd{});
    if (epoll_ctl(epollFd, EPOLL_CTL_MOD, socket.native_handle(), &ev) == 0) registered = ev.events;
    return;
  }
  // The read was short because the peer's FIN ends the data, and that FIN
  // raises no further edge: the next read must try at once, and find EOF.
  // (descriptor_state derives privately from the operation that holds the
  // events; only a C-style cast may name an inaccessible base, [expr.cast]/4.)
  auto* op = (boost::asio::detail::scheduler_operation*)state;  // NOLINT(google-readability-casting)
  if ((op->*memberOf(ReportedEvents{})) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) return;
  (state->*memberOf(TrySpeculative{}))[Reactor::read_op] = false;
}

bool shortReadNoted(boost::asio::ip::tcp::socket& socket) {
  auto* state = stateOf(socket);
  return state && !(state->*memberOf(TrySpeculative{}))[Reactor::read_op];
}

namespace detail {
Reactor::per_descriptor_data markedEmpty(boost::asio::ip::tcp::socket& socket, int& descriptor) {
  State* state = stateOf(socket);
  if (!state || (state->*memberOf(RegisteredEvents{})) == 0) return nullptr;
  (state->*memberOf(TrySpeculative{}))[Reactor::read_op] = false;
  descriptor = socket.native_handle();
  return state;
}
}  // namespace detail

#else

void noteShortRead(boost::asio::ip::tcp::socket&, size_t, size_t) {}
bool shortReadNoted(boost::asio::ip::tcp::socket&) { return false; }

#endif

}  // namespace weft::net
