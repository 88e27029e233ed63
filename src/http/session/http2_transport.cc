#include "http/session/http2_transport.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "core/coarse_clock.h"
#include "core/logging.h"
#include "net/read_readiness.h"

namespace weft::http {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {
// One read is at most this much; one write batch at most kWriteBatch (beyond
// it the rest waits for the next turn, so one connection cannot build an
// unbounded buffer).
constexpr size_t kReadChunk = 32 * 1024;
constexpr size_t kWriteBatch = 256 * 1024;
// What a connection reads into until a read fills it: a client's preface,
// SETTINGS and first requests fit, and so do a sequential client's requests
// and a backend's small answers. A full read means more is waiting; the next
// reads take kReadChunk while streams are open, and the first read that
// finds none open goes back to this. An idle connection holds this much for
// reading instead of kReadChunk (28 of the 62 KiB an idle h2c client
// connection cost; docs/benchmarks.md "Idle HTTP/2 connections").
constexpr size_t kIdleRead = 2 * 1024;
// A write buffer grown beyond this by a large batch is given back when the
// connection has no stream open, instead of being kept (up to kWriteBatch)
// for the connection's life.
constexpr size_t kIdleWriteCapacity = 16 * 1024;
}  // namespace

Http2Transport::Http2Transport(asio::ip::tcp::socket socket, Http2Mode mode, Http2CodecOptions options)
    : codec_(mode, *this, std::move(options)),
      executor_(socket.get_executor()),
      socket_(std::move(socket)),
      writeReady_(executor_),
      timer_(executor_),
      lastReceived_(Clock::now()) {
  // Frames are batched per turn already; Nagle would only add delayed-ACK
  // stalls to small frames (WINDOW_UPDATE, HEADERS).
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
}

Http2Transport::~Http2Transport() = default;

asio::awaitable<void> Http2Transport::run(std::string prefix) {
  auto self = shared_from_this();
  codec_.start();
  if (!prefix.empty() && !codec_.receive(prefix)) closeAfterFlush_ = true;
  std::string().swap(prefix);  // this frame lives as long as the connection
  noteHeaderBlock();
  co_await (readLoop() && writeLoop() && timerLoop());
}

void Http2Transport::noteHeaderBlock() {
  if (!codec_.headerBlockOpen()) {
    headerBlockSince_ = Clock::time_point::max();
  } else if (codec_.headerBlocksBegun() != headerBlockSeen_) {
    headerBlockSeen_ = codec_.headerBlocksBegun();
    headerBlockSince_ = Clock::now();
    rearmTimer();
  }
}

void Http2Transport::closeAfterFlush() {
  closeAfterFlush_ = true;
  kick();
}

void Http2Transport::closeNow() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  writeReady_.notify();
  timer_.cancel();
  onClosed();
}

size_t Http2Transport::nextReadSize(size_t asked, size_t got) const {
  if (got == asked) return kReadChunk;
  return hasOpenStreams() ? asked : kIdleRead;
}

asio::awaitable<void> Http2Transport::readLoop() {
  size_t want = kIdleRead;
  while (!closed_ && !closeAfterFlush_) {
    // The codec takes every byte at once, so the buffer is only storage:
    // nothing is ever committed to it, and a smaller size means a release.
    if (readBuf_.capacity() > want) readBuf_.release();
    char* into = readBuf_.prepare(want);
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(into, want), kTuple);
    if (closed_) break;
    if (ec) {
      closeNow();
      break;
    }
    lastReceived_ = Clock::now();
    net::noteShortRead(socket_, want, n);
    if (!codec_.receive(std::string_view(into, n))) {
      WEFT_LOG_DEBUG("http2: connection error: {}", codec_.failure());
      closeAfterFlush();
      break;
    }
    noteHeaderBlock();
    kick();
    want = nextReadSize(want, n);
  }
}

asio::awaitable<void> Http2Transport::writeLoop() {
  for (;;) {
    writeBuf_.clear();
    if (!closed_) codec_.drainOutput(writeBuf_, kWriteBatch);
    if (writeBuf_.empty()) {
      if (closed_) break;
      if (closeAfterFlush_ || codec_.failed() || (!codec_.wantsRead() && !codec_.wantsWrite())) {
        closeNow();
        break;
      }
      if (writeBuf_.capacity() > kIdleWriteCapacity && !hasOpenStreams()) std::string().swap(writeBuf_);
      co_await writeReady_.wait();
      continue;
    }
    writing_ = true;
    writeStart_ = coarseNow();
    if (writeStart_ + kWriteStallTimeout < timer_.expiry()) rearmTimer();
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(writeBuf_), kTuple);
    writing_ = false;
    if (ec) {
      closeNow();
      break;
    }
  }
}

asio::awaitable<void> Http2Transport::timerLoop() {
  while (!closed_) {
    auto now = Clock::now();
    if (writing_ && now - writeStart_ >= kWriteStallTimeout) {
      WEFT_LOG_DEBUG("http2: write stalled for {}s, closing", kWriteStallTimeout.count());
      closeNow();
      break;
    }
    auto next = onTimer(now);
    if (closed_) break;
    if (writing_) next = std::min(next, writeStart_ + kWriteStallTimeout);
    timer_.expires_at(next);
    co_await timer_.async_wait(kTuple);
  }
}

}  // namespace weft::http
