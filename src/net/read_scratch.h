#pragma once
// A per-thread buffer to read into, for readers that hand every byte on
// before the turn that read it returns (the HTTP/2 transport: its codec takes
// a whole read at once). Such a reader needs no buffer of its own between
// reads, so a connection waiting for data holds none: the worker's one
// buffer serves every connection in turn (docs/benchmarks.md "Idle HTTP/2
// connections").
//
// A lease is the buffer for one turn. Leases are meant to be taken from the
// event loop, never nested; if one is taken while the thread's buffer is
// leased (a read started from inside another's processing), it gets storage
// of its own instead of overwriting bytes still being processed.
//
// Thread: each thread has its own buffer; a lease stays on the thread that
// took it.
#include <cstddef>
#include <memory>

namespace weft::net {

class ReadScratch {
 public:
  static constexpr size_t kSize = 32 * 1024;

  ReadScratch();
  ~ReadScratch();
  ReadScratch(const ReadScratch&) = delete;
  ReadScratch& operator=(const ReadScratch&) = delete;

  char* data() const { return data_; }
  static constexpr size_t size() { return kSize; }
  // Whether this lease has the thread's buffer (false for a nested one). For tests.
  bool shared() const { return !own_; }

 private:
  std::unique_ptr<char[]> own_;  // a nested lease's storage
  char* data_;
};

}  // namespace weft::net
