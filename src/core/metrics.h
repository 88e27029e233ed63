#pragma once
// Prometheus-style metrics with per-worker cells.
//
// Every register*() call creates a new cell; cells with the same name and label
// set are summed when scraped. A worker registers its own cells at start-up (or
// when it first meets a cluster) and keeps the reference: updates are a relaxed
// load + store by the single owning thread (no lock prefix, no contention), and
// the admin thread reads them with relaxed loads. Registration and rendering
// take a mutex; neither happens per request. Cells live as long as the process.
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace weft {

class Counter {
 public:
  void inc(uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void add(int64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(int64_t n) { v_.store(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

// Latency histogram with fixed buckets (seconds), values recorded in microseconds.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,    0.25,  0.5,    1,     2.5,   5,    10};
  void observeMicros(uint64_t us);
  uint64_t bucket(size_t i) const { return buckets_[i].value(); }  // i == kBounds.size() is +Inf
  uint64_t count() const { return count_.value(); }
  uint64_t sumMicros() const { return sum_.value(); }

 private:
  std::array<Counter, kBounds.size() + 1> buckets_;
  Counter count_;
  Counter sum_;
};

// Up to three small gauges that must be read together: one 64-bit word holds
// them (21 bits each), so a scrape never sees a half-applied transition such
// as "left pending" without "entered ready" (the endpoint-state invariant
// pending + ready + failed == set size must hold in every sample). Single
// writer (the owning worker); any reader.
class GaugeTriple {
 public:
  static constexpr unsigned kBits = 21;
  using Values = std::array<uint32_t, 3>;
  Values load() const { return unpack(v_.load(std::memory_order_relaxed)); }
  // Applies deltas to the three values in one store.
  void add(int32_t d0, int32_t d1, int32_t d2) {
    Values cur = load();
    cur[0] = static_cast<uint32_t>(static_cast<int64_t>(cur[0]) + d0);
    cur[1] = static_cast<uint32_t>(static_cast<int64_t>(cur[1]) + d1);
    cur[2] = static_cast<uint32_t>(static_cast<int64_t>(cur[2]) + d2);
    v_.store(pack(cur), std::memory_order_relaxed);
  }

 private:
  static constexpr uint64_t kMask = (uint64_t{1} << kBits) - 1;
  static uint64_t pack(const Values& v) {
    return (uint64_t{v[0]} & kMask) | ((uint64_t{v[1]} & kMask) << kBits) | ((uint64_t{v[2]} & kMask) << (2 * kBits));
  }
  static Values unpack(uint64_t w) {
    return {static_cast<uint32_t>(w & kMask), static_cast<uint32_t>((w >> kBits) & kMask),
            static_cast<uint32_t>((w >> (2 * kBits)) & kMask)};
  }
  std::atomic<uint64_t> v_{0};
};

class MetricsRegistry {
 public:
  static MetricsRegistry& global();

  // `labels` is the rendered label set without braces, e.g. `cluster="a",code="b"`
  // (use labelPair to build it); empty for none.
  Counter& counter(std::string_view name, std::string_view help, std::string labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, std::string labels = {});
  Histogram& histogram(std::string_view name, std::string_view help, std::string labels = {});
  // Renders as three gauge series: `labels` plus `splitLabel="<names[i]>"`.
  GaugeTriple& gaugeTriple(std::string_view name, std::string_view help, std::string labels,
                           std::string_view splitLabel, const std::array<std::string, 3>& names);

  // Prometheus text exposition format 0.0.4.
  std::string render() const;
  // Sum of all cells of a counter/gauge with this name and exact label set (tests, CLI).
  int64_t valueOf(std::string_view name, std::string_view labels = {}) const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram, kGaugeTriple };
  struct Cell {
    std::string name, help, labels;
    Kind kind;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
    std::unique_ptr<GaugeTriple> triple;
    std::array<std::string, 3> tripleLabels;  // full label sets of the three series
  };
  Cell& add(std::string_view name, std::string_view help, std::string labels, Kind kind);

  mutable std::mutex mu_;
  std::deque<Cell> cells_;
};

// A cell for the calling thread, created on first use and cached in a
// thread_local map keyed by name and labels. For paths that are not per
// request (errors, connects, rejections); the per-request path keeps direct
// references instead.
Counter& threadCounter(std::string_view name, std::string_view help, const std::string& labels);
Gauge& threadGauge(std::string_view name, std::string_view help, const std::string& labels);

// `name="escaped value"`
std::string labelPair(std::string_view name, std::string_view value);
// Joins label pairs with commas, skipping empty ones.
std::string labels(std::initializer_list<std::string> pairs);

}  // namespace weft
