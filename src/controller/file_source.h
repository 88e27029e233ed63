#pragma once
// The file source: services.yaml (services_file.h), watched by polling.
//
// poll() checks the file's identity (inode, size, mtime, ctime) and re-reads
// it when that changed, or when the file was modified within the last two
// seconds (a same-size rewrite within one timestamp tick would otherwise go
// unseen). A changed document is parsed and, when valid, applied to the
// StateStore; an invalid one is rejected with its reason logged and counted
// (weft_controller_source_rejected_total) while the last good state keeps
// serving. The same bad content is reported once, not at every poll.
//
// Single-threaded: call poll() from one thread (the controller's main loop
// polls every 200 ms).
#include <cstdint>
#include <string>

#include "controller/services_file.h"
#include "controller/state_store.h"

namespace weft::controller {

class FileSource {
 public:
  enum class Outcome { kUnchanged, kApplied, kRejected, kUnreadable };

  FileSource(std::string path, StateStore& store);

  Outcome poll();
  const std::string& path() const { return path_; }
  // The reason of the last rejection ("" after a good document).
  const std::string& lastError() const { return lastError_; }

 private:
  std::string path_;
  StateStore& store_;
  struct Stat {
    uint64_t ino = 0, size = 0;
    int64_t mtimeNs = -1, ctimeNs = -1;
    bool operator==(const Stat&) const = default;
  } stat_;
  std::string content_;  // last content seen (good or bad)
  bool seen_ = false;
  std::string lastError_;
};

}  // namespace weft::controller
