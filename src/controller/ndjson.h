#pragma once
// Newline-delimited JSON framing, as both watch streams send it (the etcd
// gateway and the Kubernetes API server write one JSON document per line).
// Bytes in, complete lines out; a line longer than `maxLine` is a peer error
// (the buffer never grows without bound). Pure, single-threaded.
#include <string>
#include <string_view>

namespace weft::controller {

class LineBuffer {
 public:
  explicit LineBuffer(size_t maxLine) : maxLine_(maxLine) {}

  // Calls `onLine(std::string_view)` for every complete line in the data fed
  // so far (without its "\n" or "\r\n"; empty lines skipped). Returns false
  // when an unterminated line exceeds the limit.
  template <class F>
  bool feed(std::string_view data, F&& onLine) {
    buf_.append(data);
    size_t start = 0;
    for (;;) {
      auto nl = buf_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(buf_.data() + start, nl - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) onLine(line);
      start = nl + 1;
    }
    buf_.erase(0, start);
    return buf_.size() <= maxLine_;
  }
  void clear() { buf_.clear(); }

 private:
  size_t maxLine_;
  std::string buf_;
};

}  // namespace weft::controller
