#include "cli/prometheus.h"

#include <cmath>

#include <gtest/gtest.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/mesh_view.h"

namespace weft::cli {
namespace {

constexpr std::string_view kText = R"(# HELP weft_x_total x
# TYPE weft_x_total counter
weft_x_total{cluster="a",outcome="success"} 10
weft_x_total{cluster="a",outcome="failure"} 2
weft_x_total{cluster="b\"q",outcome="success"} 5
garbage line {{{
weft_h_bucket{cluster="a",le="0.001"} 0
weft_h_bucket{cluster="a",le="0.01"} 50
weft_h_bucket{cluster="a",le="0.1"} 100
weft_h_bucket{cluster="a",le="+Inf"} 100
)";

TEST(Scrape, SumsByLabelSubset) {
  auto s = Scrape::parse(kText);
  EXPECT_EQ(s.sum("weft_x_total"), 17);
  EXPECT_EQ(s.sum("weft_x_total", {{"cluster", "a"}}), 12);
  EXPECT_EQ(s.sum("weft_x_total", {{"outcome", "success"}}), 15);
  EXPECT_EQ(s.values("weft_x_total", "cluster"), (std::vector<std::string>{"a", "b\"q"}));
}

TEST(Scrape, HistogramQuantileInterpolates) {
  auto s = Scrape::parse(kText);
  auto b = s.buckets("weft_h", {{"cluster", "a"}});
  ASSERT_EQ(b.size(), 4u);
  EXPECT_NEAR(*histogramQuantile(b, 0.5), 0.01, 1e-9);
  EXPECT_NEAR(*histogramQuantile(b, 0.25), 0.001 + 0.009 * 0.5, 1e-9);
  EXPECT_NEAR(*histogramQuantile(b, 0.99), 0.01 + 0.09 * 0.98, 1e-9);
  EXPECT_FALSE(histogramQuantile({}, 0.5));
  // Everything in +Inf: the largest finite bound.
  EXPECT_EQ(*histogramQuantile({{0.1, 0}, {INFINITY, 5}}, 0.5), 0.1);
}

TEST(Scrape, BucketDeltaAndReset) {
  std::vector<std::pair<double, double>> before{{0.1, 10}, {INFINITY, 10}}, after{{0.1, 15}, {INFINITY, 20}};
  auto d = bucketDelta(after, before);
  EXPECT_EQ(d[0].second, 5);
  EXPECT_EQ(d[1].second, 10);
  // A restarted proxy: counters went down, the later scrape stands alone.
  auto r = bucketDelta(before, after);
  EXPECT_EQ(r[1].second, 10);
}

TEST(Scrape, MalformedInputNeverThrows) {
  for (std::string_view t : {"{", "a{b=\"", "a{b=\"c\"", "a 1e999999", "a{=\"x\"} 1", "\n\n#", "a{b=\"\\"})
    EXPECT_NO_THROW(Scrape::parse(t));
}

TEST(Duration, Parses) {
  EXPECT_EQ(parseDuration("250ms")->count(), 250);
  EXPECT_EQ(parseDuration("2s")->count(), 2000);
  EXPECT_EQ(parseDuration("1.5")->count(), 1500);
  EXPECT_EQ(parseDuration("2m")->count(), 120000);
  EXPECT_FALSE(parseDuration("soon"));
  EXPECT_FALSE(parseDuration("-1s"));
  EXPECT_FALSE(parseDuration(""));
}

TEST(MeshView, CompareFlagsVersionMissingAndExtraButNotDraining) {
  auto ep = [](std::string address, std::string state = {}) {
    EndpointView e;
    e.address = std::move(address);
    e.state = std::move(state);
    return e;
  };
  ClusterView served;
  served.version = "v2";
  served.endpoints = {ep("127.0.0.1:1"), ep("127.0.0.1:3")};
  ClusterView applied;
  applied.version = "v1";
  applied.endpoints = {ep("127.0.0.1:1", "ready"), ep("127.0.0.1:2", "ready"), ep("127.0.0.1:4", "draining")};
  auto d = compare(served, applied);
  EXPECT_TRUE(d.diverged);
  EXPECT_TRUE(d.versionDiffers);
  EXPECT_EQ(d.missing, std::vector<std::string>{"127.0.0.1:3"});
  EXPECT_EQ(d.extra, std::vector<std::string>{"127.0.0.1:2"});
  applied.version = "v2";
  applied.endpoints = {ep("127.0.0.1:1", "ready"), ep("127.0.0.1:3", "pending"), ep("127.0.0.1:4", "draining")};
  EXPECT_FALSE(compare(served, applied).diverged);
  EXPECT_EQ(normalizeAuthorityArg("API.test"), "api.test:80");
  EXPECT_EQ(normalizeAuthorityArg("[::1]"), "[::1]:80");
  EXPECT_EQ(normalizeAuthorityArg("[::1]:8080"), "[::1]:8080");
}

TEST(AdminAddress, Normalizes) {
  EXPECT_EQ(*normalizeAdminAddress("4191"), "127.0.0.1:4191");
  EXPECT_EQ(*normalizeAdminAddress("localhost:4191"), "127.0.0.1:4191");
  EXPECT_EQ(*normalizeAdminAddress("http://127.0.0.1:4191/"), "127.0.0.1:4191");
  EXPECT_FALSE(normalizeAdminAddress("nope"));
  AdminClient bad("not an address");
  auto r = bad.get("/live");
  EXPECT_FALSE(r.reached());
  EXPECT_NE(r.error.find("not an admin address"), std::string::npos);
}

}  // namespace
}  // namespace weft::cli
