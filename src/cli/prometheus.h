#pragma once
// Parsing the Prometheus text format (what GET /metrics serves) for the CLI,
// and the arithmetic `weft stat` needs on it: sums over label subsets,
// counter deltas between two scrapes, and quantiles from histogram buckets.
// Pure; any thread. The input comes from a peer: malformed lines are skipped,
// never fatal (test/fuzz/prometheus_text).
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::cli {

using LabelSet = std::map<std::string, std::string, std::less<>>;

struct Sample {
  std::string name;
  LabelSet labels;
  double value = 0;
};

class Scrape {
 public:
  static Scrape parse(std::string_view text);

  const std::vector<Sample>& samples() const { return samples_; }
  // Sum of every sample of `name` whose labels include all of `match`.
  double sum(std::string_view name, const LabelSet& match = {}) const;
  // Distinct values of label `key` among samples of `name` matching `match`.
  std::vector<std::string> values(std::string_view name, std::string_view key, const LabelSet& match = {}) const;
  // Cumulative histogram buckets of `base` (the _bucket series) matching
  // `match`, summed over the other labels: (upper bound, count), sorted, +Inf last.
  std::vector<std::pair<double, double>> buckets(std::string_view base, const LabelSet& match = {}) const;

 private:
  std::vector<Sample> samples_;
};

// `later - earlier` per bucket (counters reset by a restart clamp to `later`).
std::vector<std::pair<double, double>> bucketDelta(const std::vector<std::pair<double, double>>& later,
                                                   const std::vector<std::pair<double, double>>& earlier);
// The q-quantile (0..1) by linear interpolation within the bucket, as
// Prometheus's histogram_quantile does; nullopt with no observations. A
// quantile in the +Inf bucket is reported as the largest finite bound.
std::optional<double> histogramQuantile(const std::vector<std::pair<double, double>>& cumulative, double q);

}  // namespace weft::cli
