#include "http/session/http2_transport.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "core/coarse_clock.h"
#include "core/logging.h"
#include "net/read_readiness.h"

namespace weft::http {

namespace asio = boost::asio;

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
      loopsEnded_(executor_),
      timer_(executor_),
      readWant_(kIdleRead),
      lastReceived_(Clock::now()) {
  // Frames are batched per turn already; Nagle would only add delayed-ACK
  // stalls to small frames (WINDOW_UPDATE, HEADERS).
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
}

Http2Transport::~Http2Transport() = default;

void Http2Transport::begin(std::string prefix) {
  codec_.start();
  if (!prefix.empty() && !codec_.receive(prefix)) closeAfterFlush_ = true;
  noteHeaderBlock();
  loopsRunning_ = 3;
  readTurn(shared_from_this());
  writeTurn(shared_from_this());
  timerTurn(shared_from_this());
}

asio::awaitable<void> Http2Transport::ended() {
  while (loopsRunning_ > 0) co_await loopsEnded_.wait();
}

void Http2Transport::loopEnded() {
  if (--loopsRunning_ == 0) loopsEnded_.notify();
}

void Http2Transport::kick() {
  if (!writerWaiting_) return;
  // Empty only while the transport is being destroyed (the io_context shut
  // down with the writer waiting): nothing is left to write then.
  Self self = weak_from_this().lock();
  if (!self) return;
  writerWaiting_ = false;
  asio::post(executor_, [self = std::move(self)]() mutable {
    auto* transport = self.get();
    transport->writeTurn(std::move(self));
  });
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
  kick();  // a waiting writer ends
  timer_.cancel();
  onClosed();
}

size_t Http2Transport::nextReadSize(size_t asked, size_t got) const {
  if (got == asked) return kReadChunk;
  return hasOpenStreams() ? asked : kIdleRead;
}

void Http2Transport::readTurn(Self self) {
  if (closed_ || closeAfterFlush_) return loopEnded();
  // The codec takes every byte at once, so the buffer is only storage:
  // nothing is ever committed to it, and a smaller size means a release.
  if (readBuf_.capacity() > readWant_) readBuf_.release();
  char* into = readBuf_.prepare(readWant_);
  socket_.async_read_some(asio::buffer(into, readWant_),
                          [this, self = std::move(self), into](boost::system::error_code ec, size_t n) mutable {
                            onRead(std::move(self), into, ec, n);
                          });
}

void Http2Transport::onRead(Self self, const char* into, boost::system::error_code ec, size_t n) {
  if (closed_) return loopEnded();
  if (ec) {
    closeNow();
    return loopEnded();
  }
  lastReceived_ = Clock::now();
  net::noteShortRead(socket_, readWant_, n);
  if (!codec_.receive(std::string_view(into, n))) {
    WEFT_LOG_DEBUG("http2: connection error: {}", codec_.failure());
    closeAfterFlush();
    return loopEnded();
  }
  noteHeaderBlock();
  kick();
  readWant_ = nextReadSize(readWant_, n);
  readTurn(std::move(self));
}

void Http2Transport::writeTurn(Self self) {
  writeBuf_.clear();
  if (!closed_) codec_.drainOutput(writeBuf_, kWriteBatch);
  if (writeBuf_.empty()) {
    if (closed_) return loopEnded();
    if (closeAfterFlush_ || codec_.failed() || (!codec_.wantsRead() && !codec_.wantsWrite())) {
      closeNow();
      return loopEnded();
    }
    if (writeBuf_.capacity() > kIdleWriteCapacity && !hasOpenStreams()) std::string().swap(writeBuf_);
    // Waits for kick(), which posts the next turn with a fresh reference:
    // until the socket is closed the reader and the timer hold theirs, and
    // closeNow() kicks.
    writerWaiting_ = true;
    return;
  }
  writing_ = true;
  writeStart_ = coarseNow();
  if (writeStart_ + kWriteStallTimeout < timer_.expiry()) rearmTimer();
  asio::async_write(socket_, asio::buffer(writeBuf_),
                    [this, self = std::move(self)](boost::system::error_code ec, size_t) mutable {
                      writing_ = false;
                      if (ec) {
                        closeNow();
                        return loopEnded();
                      }
                      writeTurn(std::move(self));
                    });
}

void Http2Transport::timerTurn(Self self) {
  if (closed_) return loopEnded();
  auto now = Clock::now();
  if (writing_ && now - writeStart_ >= kWriteStallTimeout) {
    WEFT_LOG_DEBUG("http2: write stalled for {}s, closing", kWriteStallTimeout.count());
    closeNow();
    return loopEnded();
  }
  auto next = onTimer(now);
  if (closed_) return loopEnded();
  if (writing_) next = std::min(next, writeStart_ + kWriteStallTimeout);
  timer_.expires_at(next);
  // Fires at `next`, or early when rearmTimer() or closeNow() cancels it:
  // either way the next turn re-reads the deadlines.
  timer_.async_wait([this, self = std::move(self)](boost::system::error_code) mutable { timerTurn(std::move(self)); });
}

}  // namespace weft::http
