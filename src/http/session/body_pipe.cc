#include "http/session/body_pipe.h"

#include <utility>

namespace weft::http {

BodyPipe::BodyPipe(const boost::asio::any_io_executor& ex, size_t highWater)
    : BodyPipe(boost::asio::query(ex, boost::asio::execution::context), highWater) {}

BodyPipe::BodyPipe(boost::asio::execution_context& context, size_t highWater)
    : highWater_(highWater), readable_(context), writable_(context) {}

void BodyPipe::push(std::string_view data) {
  if (ended_ || abandoned_ || data.empty()) return;
  // Appending to buf_ may reallocate it: only when nothing unconsumed is in
  // it, so no view the consumer holds can point into it.
  if (head_ == buf_.size() && incoming_.empty())
    buf_.append(data);
  else
    incoming_.append(data);
  pushed_ += data.size();
  signalReadable();
}

void BodyPipe::finish(HeaderList trailers) {
  if (ended_) return;
  ended_ = true;
  trailers_ = std::move(trailers);
  signalReadable();
  signalWritable();
}

void BodyPipe::fail(ProxyError why) {
  if (ended_) return;
  ended_ = true;
  error_ = why;
  signalReadable();
  signalWritable();
}

boost::asio::awaitable<bool> BodyPipe::waitWritable() {
  while (full()) co_await writable_.wait();
  co_return !abandoned_ && !ended_;
}

void BodyPipe::listenWritable(WritableListener* listener) {
  writableListener_ = listener;
  if (listener && !full()) signalWritable();
}

void BodyPipe::signalWritable() {
  writable_.notify();
  if (!writableListener_ || full()) return;
  std::exchange(writableListener_, nullptr)->bodyWritable();
}

void BodyPipe::runFirstRead() {
  if (!onFirstRead) return;
  auto hook = std::move(onFirstRead);
  onFirstRead = nullptr;
  hook();
}

boost::asio::awaitable<void> BodyPipe::waitReadable() {
  runFirstRead();
  while (!readable()) co_await readable_.wait();
}

void BodyPipe::listenReadable(ReadableListener* listener) {
  readableListener_ = listener;
  if (!listener) return;
  runFirstRead();
  if (readable()) signalReadable();
}

void BodyPipe::signalReadable() {
  readable_.notify();
  if (auto* listener = std::exchange(readableListener_, nullptr)) listener->bodyReadable();
}

std::string_view BodyPipe::data() {
  // The consumer asks for a new view, so it holds no older one: join what
  // arrived meanwhile.
  if (!incoming_.empty()) {
    if (head_ == buf_.size() && !(retainLimit_ && !retainOverflow_)) {
      buf_.clear();
      head_ = 0;
      buf_.swap(incoming_);
    } else {
      buf_.append(incoming_);
      incoming_.clear();
    }
  }
  return std::string_view(buf_).substr(head_);
}

void BodyPipe::consume(size_t n) {
  // Consuming past the view (discarding unseen bytes): join first; no view
  // survives a consume anyway.
  if (n > buf_.size() - head_) data();
  n = std::min(n, buf_.size() - head_);
  head_ += n;
  consumed_ += n;
  if (retainLimit_ && head_ > retainLimit_) retainOverflow_ = true;
  compact();
  signalWritable();
  if (onConsumed && n) onConsumed(n);
}

void BodyPipe::abandon() {
  abandoned_ = true;
  buf_.clear();
  incoming_.clear();
  head_ = 0;
  signalReadable();
  signalWritable();
}

void BodyPipe::retainForReplay(size_t limit) {
  compact();
  retainLimit_ = limit;
  retainOverflow_ = false;
  // Bytes already consumed before retaining started are gone.
  if (consumed_ > 0) retainOverflow_ = true;
}

bool BodyPipe::rewind() {
  if (retainOverflow_ || !retainLimit_) return consumed_ == 0;
  consumed_ -= head_;
  head_ = 0;
  signalReadable();
  return true;
}

void BodyPipe::stopRetaining() {
  retainLimit_ = 0;
  compact();
}

void BodyPipe::compact() {
  // While retaining, consumed bytes stay in front of head_ for rewind().
  if (retainLimit_ && !retainOverflow_) return;
  if (head_ == buf_.size()) {
    buf_.clear();
    head_ = 0;
    buf_.swap(incoming_);  // no copy: what arrived meanwhile becomes the front
  } else if (head_ > 16 * 1024 && head_ * 2 > buf_.size()) {
    buf_.erase(0, head_);
    head_ = 0;
  }
}

}  // namespace weft::http
