#include "upstream/weighted_round_robin.h"

namespace weft::upstream {

void WeightedRoundRobin::reset(const std::vector<uint32_t>& weights) {
  entries_.clear();
  total_ = 0;
  for (auto w : weights) {
    int64_t weight = w == 0 ? 1 : w;
    entries_.push_back({weight, 0});
    total_ += weight;
  }
}

size_t WeightedRoundRobin::pick() {
  size_t best = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    entries_[i].current += entries_[i].weight;
    if (entries_[i].current > entries_[best].current) best = i;
  }
  entries_[best].current -= total_;
  return best;
}

}  // namespace weft::upstream
