#include "core/metrics.h"

#include <gtest/gtest.h>

namespace weft {
namespace {

TEST(Metrics, CellsWithSameLabelsAreSummedOnRender) {
  MetricsRegistry r;
  auto& a = r.counter("weft_test_total", "help", labelPair("cluster", "a"));
  auto& b = r.counter("weft_test_total", "help", labelPair("cluster", "a"));
  a.inc(2);
  b.inc(3);
  EXPECT_EQ(r.valueOf("weft_test_total", "cluster=\"a\""), 5);
  auto text = r.render();
  EXPECT_NE(text.find("# TYPE weft_test_total counter"), std::string::npos);
  EXPECT_NE(text.find("weft_test_total{cluster=\"a\"} 5\n"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  MetricsRegistry r;
  auto& h = r.histogram("weft_latency_seconds", "help");
  h.observeMicros(400);      // 0.0004 s -> first bucket
  h.observeMicros(3'000);    // 0.003 s
  h.observeMicros(20'000'000);  // 20 s -> +Inf
  auto text = r.render();
  EXPECT_NE(text.find("weft_latency_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("weft_latency_seconds_bucket{le=\"0.005\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("weft_latency_seconds_bucket{le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("weft_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("weft_latency_seconds_count 3\n"), std::string::npos);
}

TEST(Metrics, LabelValuesAreEscaped) {
  EXPECT_EQ(labelPair("k", "a\"b\\c\nd"), "k=\"a\\\"b\\\\c\\nd\"");
  EXPECT_EQ(labels({labelPair("a", "1"), "", labelPair("b", "2")}), "a=\"1\",b=\"2\"");
}

}  // namespace
}  // namespace weft

namespace weft {
namespace {

TEST(Metrics, GaugeTripleRendersThreeConsistentSeries) {
  MetricsRegistry r;
  auto& t = r.gaugeTriple("weft_states", "help", labelPair("cluster", "a"), "state", {"pending", "ready", "failed"});
  t.add(3, 0, 0);
  t.add(-1, 1, 0);  // one moves pending -> ready in a single step
  t.add(0, -1, 1);
  auto text = r.render();
  EXPECT_NE(text.find("# TYPE weft_states gauge"), std::string::npos);
  EXPECT_NE(text.find("weft_states{cluster=\"a\",state=\"pending\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_states{cluster=\"a\",state=\"ready\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("weft_states{cluster=\"a\",state=\"failed\"} 1\n"), std::string::npos) << text;
  EXPECT_EQ(r.valueOf("weft_states", "cluster=\"a\",state=\"pending\""), 2);
  auto v = t.load();
  EXPECT_EQ(v[0] + v[1] + v[2], 3u);
}

}  // namespace
}  // namespace weft
