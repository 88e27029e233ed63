#pragma once
// The socket half of an HTTP/2 connection, shared by the server session and
// the upstream client connection: binds an Http2Codec to a TCP socket with
// three loops — a reader (readiness → bytes → codec), a writer (codec → one
// batched async_write per turn) and a timer (write stall and the subclass's
// own deadlines).
//
// The loops are chains of completion handlers, not coroutines: an idle
// connection holds one pending read and one pending timer wait instead of
// three coroutine frames, the `&&` group joining them and its cancellation
// slots (an idle h2c client connection 33.0 → 21.4 KiB; docs/benchmarks.md
// "Idle HTTP/2 connections"), and a read or a write turn resumes no
// coroutine. The reader waits for readiness and then reads into the worker's
// scratch buffer, so a connection waiting for data holds no read buffer.
//
// Thread: one worker; everything runs on the socket's executor. Lifetime: held
// by std::shared_ptr; each loop's pending operation holds a reference, so
// after begin() it needs no owner, and a loop that ends lets go of its
// reference. The loops end once the socket is closed. Subclasses implement
// the codec events and onClosed()/onTimer().
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/codec/http2_codec.h"

namespace weft::http {

class Http2Transport : public Http2Events, public std::enable_shared_from_this<Http2Transport> {
 public:
  using Clock = std::chrono::steady_clock;
  // A write that makes no progress for this long means the peer stopped
  // reading altogether (flow control never lets data pile up this long).
  static constexpr std::chrono::seconds kWriteStallTimeout{30};

  Http2Transport(boost::asio::ip::tcp::socket socket, Http2Mode mode, Http2CodecOptions options);
  ~Http2Transport() override;

  // Starts the codec, feeds `prefix` (bytes already read from the socket),
  // and starts the three loops, which serve until the connection is closed.
  // Not from inside a codec event.
  void begin(std::string prefix);
  // `ended` runs once, from the last loop to end (after the socket closed);
  // never if the io_context is destroyed first. Before begin().
  void onEnded(std::function<void()> ended) { ended_ = std::move(ended); }

  // Output is ready (a submit, a resume, a window update): a waiting writer
  // takes its next turn from the executor (never from inside kick(), which
  // codec events call). Any number of kicks in one turn make one write.
  void kick();
  // Sends what is queued, then closes.
  void closeAfterFlush();
  // Closes at once; onClosed() runs.
  void closeNow();
  bool closed() const { return closed_; }
  const boost::asio::any_io_executor& executor() { return socket_.get_executor(); }

 protected:
  // Whether a stream is open. While none is, a write buffer grown by a large
  // batch is given back (http2_transport.cc).
  virtual bool hasOpenStreams() const = 0;
  // The socket is closed: end every open stream. Runs once.
  virtual void onClosed() = 0;
  // Called whenever the timer fires or is re-armed; returns when to be
  // called next (Clock::time_point::max() for never).
  virtual Clock::time_point onTimer(Clock::time_point now) = 0;
  // A deadline the subclass tracks moved earlier.
  void rearmTimer() { timer_.cancel(); }
  // When the header block now being received began (Clock::time_point::max()
  // when none is open); the timer is re-armed when one begins.
  Clock::time_point headerBlockSince() const { return headerBlockSince_; }
  // When the peer last sent us anything (connection start until it does).
  Clock::time_point lastReceived() const { return lastReceived_; }

  Http2Codec codec_;

 private:
  // A loop's turn owns the reference its pending operation held.
  using Self = std::shared_ptr<Http2Transport>;

  void noteHeaderBlock();
  // Reads what the socket holds (into the worker's net::ReadScratch) and
  // feeds the codec, then waits for readiness. Only from the event loop.
  void readTurn(Self self);
  void writeTurn(Self self);
  void timerTurn(Self self);
  void loopEnded();

  boost::asio::ip::tcp::socket socket_;
  std::function<void()> ended_;
  boost::asio::steady_timer timer_;
  std::string writeBuf_;
  int loopsRunning_ = 0;
  bool closed_ = false;
  bool closeAfterFlush_ = false;
  bool writing_ = false;
  bool writerWaiting_ = false;  // for a kick(); holds no reference meanwhile
  Clock::time_point writeStart_{};
  Clock::time_point headerBlockSince_ = Clock::time_point::max();
  Clock::time_point lastReceived_;
  uint64_t headerBlockSeen_ = 0;
};

}  // namespace weft::http
