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

#include <boost/asio/ip/tcp.hpp>

namespace weft::net {

// A read into `asked` bytes of room returned `got`: when 0 < got < asked,
// the next read on `socket` waits for readiness first.
void noteShortRead(boost::asio::ip::tcp::socket& socket, size_t asked, size_t got);

// Whether the next read on `socket` would wait for readiness first (false
// where noteShortRead() cannot set the mark). For tests.
bool shortReadNoted(boost::asio::ip::tcp::socket& socket);

}  // namespace weft::net
