#include "http/session/http2_transport.h"

#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "core/coarse_clock.h"
#include "core/logging.h"
#include "core/turn_clock.h"
#include "net/read_readiness.h"
#include "net/read_scratch.h"

namespace weft::http {

namespace asio = boost::asio;

namespace {
// One write batch is at most this much (beyond it the rest waits for the next
// turn, so one connection cannot build an unbounded buffer).
constexpr size_t kWriteBatch = 256 * 1024;
// Reads in one turn before the reader yields to the other connections of the
// worker (each read fills ReadScratch's 32 KiB, or the turn ends anyway).
constexpr int kReadsPerTurn = 8;
// A write buffer grown beyond this by a large batch is given back when the
// connection has no stream open, instead of being kept (up to kWriteBatch)
// for the connection's life.
constexpr size_t kIdleWriteCapacity = 16 * 1024;
}  // namespace

Http2Transport::Http2Transport(asio::ip::tcp::socket socket, Http2Mode mode, Http2CodecOptions options)
    : codec_(mode, *this, std::move(options)),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      lastReceived_(Clock::now()) {
  // Frames are batched per turn already; Nagle would only add delayed-ACK
  // stalls to small frames (WINDOW_UPDATE, HEADERS).
  boost::system::error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  // The reader calls read_some() itself once the socket is readable; it must
  // return would_block, not wait, when the socket is empty.
  socket_.non_blocking(true, ignored);
}

Http2Transport::~Http2Transport() = default;

void Http2Transport::begin(std::string prefix) {
  codec_.start();
  if (!prefix.empty() && !codec_.receive(prefix)) closeAfterFlush_ = true;
  noteHeaderBlock();
  loopsRunning_ = 3;
  // The first read is a turn of its own: begin() may run inside another
  // connection's read turn (an upstream connection opened for a request),
  // whose bytes are still in the worker's ReadScratch.
  asio::post(socket_.get_executor(), [self = shared_from_this()]() mutable {
    auto* transport = self.get();
    transport->readTurn(std::move(self));
  });
  writeTurn(shared_from_this());
  timerTurn(shared_from_this());
}

void Http2Transport::loopEnded() {
  if (--loopsRunning_ == 0 && ended_) std::exchange(ended_, nullptr)();
}

void Http2Transport::kick() {
  if (!writerWaiting_) return;
  // Empty only while the transport is being destroyed (the io_context shut
  // down with the writer waiting): nothing is left to write then.
  Self self = weak_from_this().lock();
  if (!self) return;
  writerWaiting_ = false;
  asio::post(socket_.get_executor(), [self = std::move(self)]() mutable {
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

void Http2Transport::readTurn(Self self) {
  if (closed_ || closeAfterFlush_) return loopEnded();
  // The codec takes every byte at once, so nothing read is kept past this
  // turn: the worker's scratch buffer serves, and a connection waiting for
  // data holds no buffer.
  net::ReadScratch scratch;
  // Whether waiting for a readiness edge is safe: the socket's receive queue
  // is empty, and what arrives next raises a new edge (Asio registers sockets
  // edge-triggered).
  bool waitSafe = false;
  for (int reads = 0; reads < kReadsPerTurn; ++reads) {
    boost::system::error_code ec;
    size_t n = socket_.read_some(asio::buffer(scratch.data(), scratch.size()), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      waitSafe = true;
      break;
    }
    if (ec) {  // the peer closed (eof) or reset
      closeNow();
      return loopEnded();
    }
    lastReceived_ = Clock::now();
    // What these bytes start (requests, responses, their telemetry) reads
    // this time instead of the clock (core/turn_clock.h).
    TurnClock::Scope turn(lastReceived_);
    if (!codec_.receive(std::string_view(scratch.data(), n))) {
      WEFT_LOG_DEBUG("http2: connection error: {}", codec_.failure());
      closeAfterFlush();
      return loopEnded();
    }
    noteHeaderBlock();
    kick();
    if (closed_ || closeAfterFlush_) return loopEnded();
    if (n == scratch.size()) continue;  // more may be waiting
    // A short read emptied the queue, but a FIN that came with these bytes
    // raises no later edge: noteShortRead() tells the two apart
    // (net/read_readiness.h); where it cannot, the next read tries at once
    // and finds EOF or would_block.
    net::noteShortRead(socket_, scratch.size(), n);
    if (net::shortReadNoted(socket_)) {
      waitSafe = true;
      break;
    }
  }
  if (!waitSafe) {
    // The turn's reads are used up with more perhaps waiting, and no new
    // edge would say so: the next turn reads at once, after the worker's
    // other ready handlers had theirs.
    asio::post(socket_.get_executor(), [self = std::move(self)]() mutable {
      auto* transport = self.get();
      transport->readTurn(std::move(self));
    });
    return;
  }
  net::asyncWaitReadable(socket_, [this, self = std::move(self)](boost::system::error_code ec) mutable {
    if (ec && !closed_) {
      closeNow();
      return loopEnded();
    }
    readTurn(std::move(self));
  });
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
