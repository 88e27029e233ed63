#include "net/read_scratch.h"

namespace weft::net {

namespace {
struct ThreadScratch {
  // Allocated on the first read of the thread, never zero-filled: pages no
  // read reaches stay out of RSS.
  std::unique_ptr<char[]> data;
  bool leased = false;
};
thread_local ThreadScratch threadScratch;
}  // namespace

ReadScratch::ReadScratch() {
  auto& scratch = threadScratch;
  if (scratch.leased) {
    own_ = std::make_unique_for_overwrite<char[]>(kSize);
    data_ = own_.get();
    return;
  }
  if (!scratch.data) scratch.data = std::make_unique_for_overwrite<char[]>(kSize);
  scratch.leased = true;
  data_ = scratch.data.get();
}

ReadScratch::~ReadScratch() {
  if (!own_) threadScratch.leased = false;
}

}  // namespace weft::net
