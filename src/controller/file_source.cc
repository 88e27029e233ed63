#include "controller/file_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/logging.h"
#include "core/metrics.h"

namespace weft::controller {

FileSource::FileSource(std::string path, StateStore& store) : path_(std::move(path)), store_(store) {}

FileSource::Outcome FileSource::poll() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    auto reason = std::string("cannot stat: ") + std::strerror(errno);
    if (reason != lastError_) {
      WEFT_LOG_WARN("source {}: {}; keeping the last good state", path_, reason);
      threadCounter("weft_controller_source_rejected_total", "Source updates rejected", labelPair("reason", "unreadable"))
          .inc();
      lastError_ = reason;
    }
    seen_ = false;  // read again as soon as it is back
    return Outcome::kUnreadable;
  }
  Stat now{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
           int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
           int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec};
  auto wallNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  bool recent = wallNs - now.mtimeNs < 2'000'000'000;
  if (seen_ && now == stat_ && !recent) return Outcome::kUnchanged;

  std::ifstream in(path_, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (!in && !in.eof()) {
    seen_ = false;
    return Outcome::kUnreadable;
  }
  stat_ = now;
  std::string content = buf.str();
  if (seen_ && content == content_) return Outcome::kUnchanged;
  seen_ = true;
  content_ = std::move(content);

  auto parsed = parseServicesYaml(content_);
  if (!parsed.state) {
    lastError_ = parsed.error.describe();
    WEFT_LOG_WARN("source {}: rejected: {}; keeping the last good state", path_, lastError_);
    threadCounter("weft_controller_source_rejected_total", "Source updates rejected", labelPair("reason", "invalid"))
        .inc();
    return Outcome::kRejected;
  }
  lastError_.clear();
  bool changed = store_.apply(*parsed.state);
  threadCounter("weft_controller_source_updates_total", "Valid source documents read", "").inc();
  if (changed) {
    WEFT_LOG_INFO("source {}: applied generation {} ({} services, {} splits)", path_, store_.current()->generation,
                  parsed.state->services.size(), parsed.state->splits.size());
  }
  return changed ? Outcome::kApplied : Outcome::kUnchanged;
}

}  // namespace weft::controller
