// The wiring in Cluster::setEndpoints: an endpoint added to a cluster whose
// ready endpoints have measured latencies starts from their estimate; the
// first endpoints of a cluster start from the default RTT. Real probe
// connects to listeners on 127.0.0.1 (port 0); no request bytes are sent.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "upstream/cluster.h"

#include "cluster_test_support.h"

namespace weft::upstream {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono;

using clustertest::endpointOf;
using clustertest::runUntil;

// ewma_ms of `address` in the cluster's /debug/endpoints view.
double ewmaMs(const Cluster& c, const std::string& address) {
  auto v = boost::json::parse(c.debugJson());
  for (auto& e : v.at("endpoints").as_array())
    if (e.at("address").as_string() == address) return e.at("ewma_ms").to_number<double>();
  ADD_FAILURE() << address << " not in " << c.debugJson();
  return -1;
}

TEST(ClusterWarmup, AddedEndpointStartsFromItsMeasuredPeersNotTheDefault) {
  asio::io_context ctx;
  tcp::endpoint loopback(asio::ip::address_v4::loopback(), 0);
  tcp::acceptor a(ctx, loopback), b(ctx, loopback), fresh(ctx, loopback);  // the kernel's backlog accepts probes
  Cluster cluster(ctx.get_executor(), "warmup.test", PoolOptions{}, BalancerOptions{}, EndpointPolicy{}, 0);

  cluster.setEndpoints({endpointOf(a), endpointOf(b)});
  EXPECT_DOUBLE_EQ(ewmaMs(cluster, endpointOf(a).address), 30.0);  // nothing measured yet: the default
  ASSERT_TRUE(runUntil(ctx, [&] { return cluster.count(EndpointHealth::kReady) == 2; }));

  // Both peers see 80 ms responses (a slower sample is taken at once).
  std::vector<std::shared_ptr<EndpointState>> picked;
  for (int i = 0; i < 20; ++i)
    asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
      auto p = co_await cluster.pick(PoolProtocol::kHttp1);
      if (p.state) picked.push_back(p.state);
    }, asio::detached);
  ASSERT_TRUE(runUntil(ctx, [&] { return picked.size() == 20; }));
  for (auto& s : picked) {
    cluster.requestStarted(*s, EndpointState::Clock::now());
    cluster.requestEnded(*s, false, "", milliseconds(80));
  }
  ASSERT_NEAR(ewmaMs(cluster, endpointOf(a).address), 80.0, 0.01);
  ASSERT_NEAR(ewmaMs(cluster, endpointOf(b).address), 80.0, 0.01);

  cluster.setEndpoints({endpointOf(a), endpointOf(b), endpointOf(fresh)});
  EXPECT_NEAR(ewmaMs(cluster, endpointOf(fresh).address), 80.0, 0.01);  // its peers', not 30 ms
  ASSERT_TRUE(runUntil(ctx, [&] { return cluster.count(EndpointHealth::kReady) == 3; }));
  cluster.setEndpoints({});
  ctx.run_for(milliseconds(10));
}

}  // namespace
}  // namespace weft::upstream
