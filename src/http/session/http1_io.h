#pragma once
// Socket helpers shared by the HTTP/1 server session and the HTTP/1 upstream
// pool: reads and writes with an inactivity deadline, as status values (no
// exceptions for I/O errors). Worker thread only; every function suspends.
// Cancellation: when the calling coroutine is cancelled (an awaitable `||`
// lost), the pending operation is cancelled and Asio throws on the next
// co_await of that coroutine, as everywhere else.
#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace weft::http::h1io {

enum class IoStatus { kOk, kEof, kError, kTimeout };

// Appends up to `maxBytes` read bytes to `buf`. No deadline when `timeout` is
// empty (the caller bounds the wait some other way, e.g. by cancellation).
boost::asio::awaitable<IoStatus> readSome(boost::asio::ip::tcp::socket& socket, std::string& buf,
                                          boost::asio::steady_timer& timer,
                                          std::optional<std::chrono::milliseconds> timeout,
                                          size_t maxBytes = 16 * 1024);

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
