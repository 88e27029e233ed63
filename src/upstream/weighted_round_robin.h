#pragma once
// Smooth weighted round-robin (the nginx algorithm): over any window of
// sum(weights) picks, endpoint i is chosen weight_i times, interleaved rather
// than in bursts. The stage-1 balancer; the P2C / peak-EWMA balancer replaces
// it behind the same pick() seam. Worker thread only; no allocation per pick.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft::upstream {

class WeightedRoundRobin {
 public:
  void reset(const std::vector<uint32_t>& weights);
  // Index of the next endpoint; size() must be > 0.
  size_t pick();
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int64_t weight;
    int64_t current;
  };
  std::vector<Entry> entries_;
  int64_t total_ = 0;
};

}  // namespace weft::upstream
