// Cluster::pickIfReady, the forwarder's pick without a coroutine frame: empty
// (and no error) while no endpoint is ready, so the caller falls back to the
// waiting pick(); once endpoints are ready, the pools pick() would give, per
// protocol, and `avoid` is honoured. Real probe connects to listeners on
// 127.0.0.1 (port 0); no request bytes are sent.
#include "upstream/cluster.h"

#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "cluster_test_support.h"

namespace weft::upstream {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using clustertest::endpointOf;
using clustertest::runUntil;

TEST(Cluster, PickIfReadyIsEmptyUntilAnEndpointIsReadyThenGivesItsPools) {
  asio::io_context ctx;
  tcp::endpoint loopback(asio::ip::address_v4::loopback(), 0);
  tcp::acceptor a(ctx, loopback), b(ctx, loopback);  // the kernel's backlog accepts probes
  Cluster cluster(ctx.get_executor(), "pick.test", PoolOptions{}, BalancerOptions{}, EndpointPolicy{}, 0);

  auto none = cluster.pickIfReady(PoolProtocol::kHttp1);
  EXPECT_FALSE(none.pool);  // no endpoints at all: pick() answers that
  EXPECT_EQ(none.error, ProxyError::kNone);

  cluster.setEndpoints({endpointOf(a), endpointOf(b)});
  auto pending = cluster.pickIfReady(PoolProtocol::kHttp1);
  EXPECT_FALSE(pending.pool);  // still being probed: pick() waits
  EXPECT_EQ(pending.error, ProxyError::kNone);
  ASSERT_TRUE(runUntil(ctx, [&] { return cluster.count(EndpointHealth::kReady) == 2; }));

  std::set<std::string> seen;
  for (int i = 0; i < 40; ++i) {
    auto p = cluster.pickIfReady(PoolProtocol::kHttp1);
    ASSERT_TRUE(p.pool && p.state);
    EXPECT_EQ(p.error, ProxyError::kNone);
    seen.insert(p.state->address());
  }
  EXPECT_EQ(seen.size(), 2u);  // both endpoints take requests

  // One pool per endpoint and protocol, the same object every time.
  auto h1 = cluster.pickIfReady(PoolProtocol::kHttp1, nullptr);
  auto again = cluster.pickIfReady(PoolProtocol::kHttp1, nullptr);
  while (again.state != h1.state) again = cluster.pickIfReady(PoolProtocol::kHttp1, nullptr);
  EXPECT_EQ(again.pool, h1.pool);
  auto h2 = cluster.pickIfReady(PoolProtocol::kHttp2, nullptr);
  while (h2.state != h1.state) h2 = cluster.pickIfReady(PoolProtocol::kHttp2, nullptr);
  EXPECT_NE(h2.pool, h1.pool);

  // avoid: a retry never lands on the endpoint that just failed while another is ready.
  for (int i = 0; i < 20; ++i) EXPECT_NE(cluster.pickIfReady(PoolProtocol::kHttp1, h1.state.get()).state, h1.state);
}

}  // namespace
}  // namespace weft::upstream
