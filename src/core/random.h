#pragma once
// xorshift64*: a fast, seedable random source for load balancing and jitter.
// Not for anything security-relevant. One instance per owner (worker or
// cluster); not thread-safe. Seeds are injected so tests are deterministic.
#include <cstddef>
#include <cstdint>

namespace weft {

class FastRandom {
 public:
  explicit FastRandom(uint64_t seed) : state_(seed ? seed : 0x9E3779B97F4A7C15ull) {}
  uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  // Uniform in [0, n) (Lemire's multiply-shift; n > 0).
  size_t below(size_t n) { return static_cast<size_t>((static_cast<__uint128_t>(next()) * n) >> 64); }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace weft
