#pragma once
// Power of two choices: sample two distinct candidates at random and take the
// one with the lower cost. O(1) per pick, no allocation, and it avoids the herd
// behaviour of always choosing the global minimum. Candidates are indices into
// the caller's ready set. Worker thread only; the random source is injected.
#include <cstddef>
#include <cstdint>

namespace weft::upstream {

// xorshift64*: fast, good enough for load balancing, seedable for tests.
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

 private:
  uint64_t state_;
};

// Returns the chosen index in [0, n). `cost(i)` gives candidate i's cost.
template <typename CostFn>
size_t pickTwoChoices(size_t n, FastRandom& rng, CostFn&& cost) {
  if (n <= 1) return 0;
  size_t a = rng.below(n);
  size_t b = rng.below(n - 1);
  if (b >= a) ++b;  // distinct from a, still uniform
  return cost(b) < cost(a) ? b : a;
}

}  // namespace weft::upstream
