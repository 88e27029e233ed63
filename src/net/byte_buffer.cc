#include "net/byte_buffer.h"

#include <algorithm>
#include <cstring>

namespace weft::net {

char* ByteBuffer::prepare(size_t n) {
  if (begin_ == end_) begin_ = end_ = 0;
  if (capacity_ - end_ >= n) return data_.get() + end_;
  size_t used = size();
  if (capacity_ >= used + n && begin_ > 0) {
    // Enough room once the consumed front is reclaimed.
    std::memmove(data_.get(), data_.get() + begin_, used);
  } else {
    size_t cap = std::max(used + n, capacity_ * 2);
    auto bigger = std::make_unique_for_overwrite<char[]>(cap);
    if (used) std::memcpy(bigger.get(), data_.get() + begin_, used);
    data_ = std::move(bigger);
    capacity_ = cap;
  }
  begin_ = 0;
  end_ = used;
  return data_.get() + end_;
}

void ByteBuffer::consume(size_t n) { begin_ += std::min(n, size()); }

void ByteBuffer::append(std::string_view bytes) {
  if (bytes.empty()) return;
  std::memcpy(prepare(bytes.size()), bytes.data(), bytes.size());
  commit(bytes.size());
}

void ByteBuffer::release() {
  if (!empty()) return;
  data_.reset();
  capacity_ = 0;
  begin_ = end_ = 0;
}

}  // namespace weft::net
