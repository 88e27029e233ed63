#pragma once
// Shared by the watch-stream fuzz targets (etcd_watch, kube_watch): the lines
// a LineBuffer yields for `data` fed in two pieces, split at `split` (clamped
// to the size). Fed whole and fed split must give the same lines.
#include <string>
#include <string_view>
#include <vector>

#include "controller/ndjson.h"

namespace weft::controller::fuzz {

inline std::vector<std::string> lines(std::string_view data, size_t split) {
  LineBuffer buf(1 << 20);
  std::vector<std::string> out;
  auto take = [&](std::string_view l) { out.emplace_back(l); };
  split = split > data.size() ? data.size() : split;
  buf.feed(data.substr(0, split), take);
  buf.feed(data.substr(split), take);
  return out;
}

}  // namespace weft::controller::fuzz
