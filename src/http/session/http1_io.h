#pragma once
// Socket helpers shared by the HTTP/1 server session and the HTTP/1 upstream
// pool: reads and writes with an inactivity deadline, as status values (no
// exceptions for I/O errors). Worker thread only; every function suspends.
// Cancellation: when the calling coroutine is cancelled (an awaitable `||`
// lost), the pending operation is cancelled and Asio throws on the next
// co_await of that coroutine, as everywhere else.
//
// The hot path uses the variants without a timer: they never race anything
// (no `||`, so no coroutine spawned per I/O and no exception when a race is
// lost); a net::Deadline owned by the session bounds them by cancelling the
// socket, and an operation cancelled that way returns kError (the caller asks
// its Deadline whether it was a timeout).
#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/byte_buffer.h"

namespace weft::http::h1io {

enum class IoStatus { kOk, kEof, kError, kTimeout };

// Appends up to `maxBytes` read bytes to `buf`. No deadline when `timeout` is
// empty (the caller bounds the wait some other way, e.g. by cancellation).
boost::asio::awaitable<IoStatus> readSome(boost::asio::ip::tcp::socket& socket, std::string& buf,
                                          boost::asio::steady_timer& timer,
                                          std::optional<std::chrono::milliseconds> timeout,
                                          size_t maxBytes = 16 * 1024);

// Reads at most `maxBytes` into uninitialised spare space of `buf`.
boost::asio::awaitable<IoStatus> readSome(boost::asio::ip::tcp::socket& socket, net::ByteBuffer& buf,
                                          size_t maxBytes = 16 * 1024);

// Writes every byte of `buffers`, without a deadline of its own.
template <class Buffers>
boost::asio::awaitable<IoStatus> writeAll(boost::asio::ip::tcp::socket& socket, const Buffers& buffers);

// Writes every byte of `buffers` (a buffer sequence); `timeout` bounds the
// whole write (a peer that stops reading).
template <class Buffers>
boost::asio::awaitable<IoStatus> writeAll(boost::asio::ip::tcp::socket& socket, const Buffers& buffers,
                                          boost::asio::steady_timer& timer, std::chrono::milliseconds timeout);

boost::asio::awaitable<IoStatus> writeAll(boost::asio::ip::tcp::socket& socket, std::string_view data,
                                          boost::asio::steady_timer& timer, std::chrono::milliseconds timeout);

// Suspends until cancelled (the losing side of an awaitable `||`).
boost::asio::awaitable<void> sleepForever();

// Best-effort close that never throws.
void closeSocket(boost::asio::ip::tcp::socket& socket);

}  // namespace weft::http::h1io

#include "http/session/http1_io_impl.h"
