#pragma once
// A bounded byte pipe for one message body between the session that receives
// it and the session that sends it on. One producer, one consumer, one worker
// thread; no locks.
//
// Back-pressure: a socket-driven producer awaits waitWritable() before reading
// more from its peer; an HTTP/2 producer instead relies on flow control and is
// told about consumption through onConsumed (to send WINDOW_UPDATE), so a slow
// reader holds back only its own stream.
//
// End of body: finish() (optionally with trailers) or fail(ProxyError).
// abandon() is the consumer saying it will read no more (its peer is gone).
//
// Replay: with retainForReplay(limit), consumed bytes are kept (up to limit) so
// that rewind() can send them again on a retry.
//
// Views: the view data() returns stays valid until the consumer's next call
// of consume(), data(), rewind() or abandon(), however much the producer
// pushes meanwhile — a consumer writes straight from it to a socket while the
// producer keeps reading. So push() never moves bytes the consumer may be
// looking at: while unconsumed bytes are pending it appends to a second
// buffer, which the next data() (the consumer's own call) joins on.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/proxy_error.h"
#include "http/codec/header_list.h"
#include "http/session/notifier.h"

namespace weft::http {

class BodyPipe {
 public:
  // A consumer that is not a coroutine (an HTTP/2 server stream's data
  // source) is told through this, once per listenReadable(), when
  // waitReadable() would return: bytes pushed, or the body ended.
  class ReadableListener {
   public:
    virtual void bodyReadable() = 0;

   protected:
    ~ReadableListener() = default;
  };

  // A producer that is not a coroutine (an HTTP/1 upstream connection
  // relaying a response) is told through this, once per listenWritable(),
  // when waitWritable() would return: room below the high water, or nobody
  // to read any more (abandoned or ended). Called synchronously from the
  // consumer's consume() or abandon() (or from finish() or fail()), so a
  // listener that does more than note it should post.
  class WritableListener {
   public:
    virtual void bodyWritable() = 0;

   protected:
    ~WritableListener() = default;
  };

  BodyPipe(const boost::asio::any_io_executor& ex, size_t highWater = 64 * 1024);
  BodyPipe(boost::asio::execution_context& context, size_t highWater = 64 * 1024);
  BodyPipe(const BodyPipe&) = delete;
  BodyPipe& operator=(const BodyPipe&) = delete;

  // --- producer ---
  void push(std::string_view data);
  void finish(HeaderList trailers = {});
  void fail(ProxyError why);
  // Until buffered() < highWater, or the consumer abandoned the pipe, or the
  // pipe ended. Returns false when nobody will read what is written.
  boost::asio::awaitable<bool> waitWritable();
  // waitWritable() without a coroutine: `listener` is called once, at once
  // if the pipe is writable now, else when it becomes so. nullptr disarms;
  // the listener must disarm before it goes away.
  void listenWritable(WritableListener* listener);

  // --- consumer ---
  // Until there is data or the body ended.
  boost::asio::awaitable<void> waitReadable();
  // waitReadable() without a coroutine: `listener` is called once, at once if
  // the pipe is readable now (as waitReadable() would return at once), else
  // from the producer's next push(), finish() or fail(). nullptr disarms; the
  // listener must disarm before it goes away.
  void listenReadable(ReadableListener* listener);
  // Every buffered byte, contiguous (see "Views" above for its lifetime).
  std::string_view data();
  void consume(size_t n);
  void abandon();

  // --- state ---
  size_t buffered() const { return buf_.size() - head_ + incoming_.size(); }
  bool ended() const { return ended_; }
  bool drained() const { return ended_ && buffered() == 0; }
  ProxyError error() const { return error_; }
  bool failed() const { return error_ != ProxyError::kNone; }
  bool abandoned() const { return abandoned_; }
  const HeaderList& trailers() const { return trailers_; }
  HeaderList takeTrailers() { return std::move(trailers_); }
  uint64_t totalPushed() const { return pushed_; }
  uint64_t totalConsumed() const { return consumed_; }
  size_t highWater() const { return highWater_; }

  // --- replay ---
  void retainForReplay(size_t limit);
  // Makes every consumed byte readable again. False if more than the limit
  // was consumed (the body cannot be replayed).
  bool rewind();
  // Whether rewind() would succeed now.
  bool canRewind() const { return retainLimit_ ? !retainOverflow_ : consumed_ == 0; }
  void stopRetaining();

  // Called with the number of bytes the consumer just consumed.
  std::function<void(size_t)> onConsumed;
  // Called once, the first time the consumer waits for data (HTTP/1
  // `Expect: 100-continue`: the body is needed now). Cleared after the call.
  std::function<void()> onFirstRead;

 private:
  void compact();
  bool readable() const { return buffered() > 0 || ended_ || abandoned_; }
  // What waitWritable() waits out: someone will read, and there is no room.
  bool full() const { return !abandoned_ && !ended_ && buffered() >= highWater_; }
  void signalReadable();
  void signalWritable();
  void runFirstRead();  // onFirstRead, once

  std::string buf_;        // what data() shows, from head_; retained bytes before it
  std::string incoming_;   // pushed while buf_ had unconsumed bytes (the consumer may hold a view of them)
  size_t head_ = 0;        // first unconsumed byte
  size_t highWater_;
  size_t retainLimit_ = 0; // 0: not retaining
  bool retainOverflow_ = false;
  bool ended_ = false;
  bool abandoned_ = false;
  ProxyError error_ = ProxyError::kNone;
  HeaderList trailers_;
  uint64_t pushed_ = 0;
  uint64_t consumed_ = 0;
  Notifier readable_;
  Notifier writable_;
  ReadableListener* readableListener_ = nullptr;
  WritableListener* writableListener_ = nullptr;
};

}  // namespace weft::http
