#pragma once
// Saves the failed recv() that Asio makes before waiting for data.
//
// Asio starts every read by calling recv() at once, in case data is already
// there. When it is not, the call returns EAGAIN and the read waits for epoll.
// Asio skips that first call only after a read that returned 0 bytes.
// A proxy's reads are mostly the other kind: a read that returned fewer bytes
// than it asked for has emptied the socket's receive queue. The next read on
// that socket (the client's next request, the server's next response) almost
// always finds nothing. Counted with perf, that was 1.3 of weft's 3.3 recv()
// calls per HTTP/1.1 request, against 2.0 for haproxy and nginx
// (docs/benchmarks.md).
//
// noteShortRead() tells Asio's epoll reactor that the queue is empty, the way
// nginx keeps a "ready" flag per event, so the next read is queued for epoll
// without a recv() first. That is safe because Asio registers every socket
// edge-triggered: any byte (or FIN) that arrives after the short read raises
// a new edge. Asio then clears the mark and performs the queued read.
//
// Asio has no interface for this. The mark is the reactor's own per-socket
// flag (try_speculative_), reached through Asio's internals. Where those are
// not what this was written against (another Asio version, io_uring as the
// default backend), noteShortRead() does nothing, and shortReadNoted() says so
// (the unit test checks that the mark takes).
//
// Thread: the socket's own (workers run with per-descriptor locks off;
// net/worker_pool.cc).
#include <cstddef>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/version.hpp>

#if BOOST_ASIO_VERSION == 102600 && defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#define WEFT_READ_READINESS 1
#include <boost/asio/detail/epoll_reactor.hpp>
#include <boost/asio/detail/reactive_wait_op.hpp>
#else
#define WEFT_READ_READINESS 0
#endif

namespace weft::net {

// A read into `asked` bytes of room returned `got`: when 0 < got < asked,
// the next read on `socket` waits for readiness first.
void noteShortRead(boost::asio::ip::tcp::socket& socket, size_t asked, size_t got);

// Whether the next read on `socket` would wait for readiness first (false
// where noteShortRead() cannot set the mark). For tests.
bool shortReadNoted(boost::asio::ip::tcp::socket& socket);

// Calls `handler(error_code)` once `socket` is readable, for a reader that
// then reads by itself (read_some on a non-blocking socket) and so needs no
// buffer of its own while it waits. Only when the socket's receive queue is
// known to be empty and the peer's FIN, if any, still to come: the last read
// returned would_block, or was a short read that noteShortRead() marked
// (shortReadNoted()).
//
// Asio's own socket.async_wait() re-registers the socket with epoll
// (EPOLL_CTL_MOD) on every wait, so that a wait started while data is
// already queued still completes: one more syscall per read turn than a
// read. Here the caller knows the queue is empty, so the wait is queued the
// way a marked read is, with no syscall, and any byte or FIN that arrives
// raises the edge that completes it. Where the reactor is not the one this
// was written against, it is Asio's async_wait().
template <class Handler>
void asyncWaitReadable(boost::asio::ip::tcp::socket& socket, Handler handler);

namespace detail {
#if WEFT_READ_READINESS
using Reactor = boost::asio::detail::epoll_reactor;
// The socket's reactor state and descriptor, and marks it as having no data
// (the mark noteShortRead() sets). Null when it is not registered.
Reactor::per_descriptor_data markedEmpty(boost::asio::ip::tcp::socket& socket, int& descriptor);
#endif
}  // namespace detail

template <class Handler>
void asyncWaitReadable(boost::asio::ip::tcp::socket& socket, Handler handler) {
#if WEFT_READ_READINESS
  int descriptor = -1;
  if (auto* state = detail::markedEmpty(socket, descriptor)) {
    using Op = boost::asio::detail::reactive_wait_op<Handler, boost::asio::any_io_executor>;
    typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
    p.p = new (p.v) Op(boost::system::error_code(), handler, socket.get_executor());
    // A read-type operation that may be tried at once: with the socket marked
    // empty the reactor queues it without touching epoll (a wait's perform
    // is "done", so it completes on the next edge).
    auto& reactor = boost::asio::use_service<detail::Reactor>(socket.get_executor().context());
    reactor.start_op(detail::Reactor::read_op, descriptor, state, p.p, false, true);
    p.v = p.p = nullptr;
    return;
  }
#endif
  socket.async_wait(boost::asio::ip::tcp::socket::wait_read, std::move(handler));
}

}  // namespace weft::net
