#include "cli/demo_view.h"

#include <gtest/gtest.h>

namespace weft::cli {
namespace {

TEST(DemoView, ParsesPrometheusAndSumsByLabels) {
  auto m = parsePrometheus(
      "# HELP weft_retries_total Retries\n"
      "# TYPE weft_retries_total counter\n"
      "weft_retries_total{direction=\"outbound\",reason=\"not-processed\"} 3\n"
      "weft_retries_total{direction=\"outbound\",reason=\"status\"} 4\n"
      "weft_retries_total{direction=\"inbound\",reason=\"status\"} 5\n"
      "weft_requests_total 12 1700000000\n"
      "garbage{unterminated 1\n");
  ProxySnapshot s;
  s.metrics = m;
  EXPECT_EQ(s.sum("weft_retries_total"), 12);
  EXPECT_EQ(s.sum("weft_retries_total", {{"reason", "status"}}), 9);
  EXPECT_EQ(s.sum("weft_retries_total", {{"reason", "status"}, {"direction", "inbound"}}), 5);
  EXPECT_EQ(s.sum("weft_retries_total", {{"reason", "nope"}}), 0);
  EXPECT_EQ(s.sum("weft_requests_total"), 12);  // the timestamp is not the value
}

TEST(DemoView, ParsesDebugEndpointsAndJoinsWorkers) {
  ProxySnapshot s;
  std::string error;
  ASSERT_TRUE(parseEndpointsJson(
      R"({"clusters":[
        {"name":"web.demo:80","worker":0,"endpoints":[
          {"address":"127.0.0.1:1","state":"ready","weight":2,"ewma_ms":1.5,"in_flight":1},
          {"address":"127.0.0.1:2","state":"pending","weight":1}]},
        {"name":"web.demo:80","worker":1,"endpoints":[
          {"address":"127.0.0.1:1","state":"ready","weight":2,"in_flight":2},
          {"address":"127.0.0.1:2","state":"failed","weight":1}]}]})",
      s, error))
      << error;
  ASSERT_EQ(s.clusters.size(), 1u);
  auto& web = s.clusters["web.demo:80"];
  ASSERT_EQ(web.size(), 2u);
  EXPECT_EQ(web["127.0.0.1:1"].state, "ready");
  EXPECT_EQ(web["127.0.0.1:1"].inFlight, 3);
  EXPECT_EQ(web["127.0.0.1:1"].weight, 2);
  EXPECT_EQ(web["127.0.0.1:2"].state, "pending/failed");  // the workers disagree: both shown
}

TEST(DemoView, RejectsOtherShapes) {
  ProxySnapshot s;
  std::string error;
  EXPECT_FALSE(parseEndpointsJson("not json", s, error));
  EXPECT_FALSE(error.empty());
  EXPECT_FALSE(parseEndpointsJson(R"({"clusters":{}})", s, error));
}

}  // namespace
}  // namespace weft::cli
