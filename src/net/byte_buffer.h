#pragma once
// A flat receive buffer for one connection direction: bytes are read into
// uninitialised spare space (no zero-fill per read, unlike std::string::resize)
// and consumed from the front without moving the rest (the gap is reclaimed
// when more space is prepared). Storage is allocated on the first prepare()
// and can be given back with release() when the connection goes idle, so an
// idle keep-alive connection holds no buffer.
//
// Single-threaded; no suspension. prepare() may move the bytes (invalidates
// views and the pointers it returned before). While a read into prepared
// space is outstanding only view() and consume() may be used: they never move
// the end that commit() extends.
#include <cstddef>
#include <memory>
#include <string_view>

namespace weft::net {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(std::string_view initial) { append(initial); }
  ByteBuffer(ByteBuffer&&) noexcept = default;
  ByteBuffer& operator=(ByteBuffer&&) noexcept = default;

  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return end_ == begin_; }
  size_t capacity() const { return capacity_; }

  // At least `n` writable bytes after the readable ones; fill then commit().
  char* prepare(size_t n);
  void commit(size_t n) { end_ += n; }
  void consume(size_t n);
  void append(std::string_view bytes);
  void clear() { begin_ = end_ = 0; }
  // Frees the storage (only when empty: never drops unread bytes).
  void release();

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace weft::net
