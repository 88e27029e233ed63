#include "net/deadline.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include "net/drain.h"

namespace weft::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

TEST(Deadline, FiresOnceAfterItsTime) {
  asio::io_context ctx;
  int fired = 0;
  Deadline d(ctx.get_executor(), [&] { ++fired; });
  d.setAfter(5ms);
  ctx.run_for(100ms);
  EXPECT_EQ(fired, 1);
  EXPECT_TRUE(d.expired());
  EXPECT_FALSE(d.active());
}

TEST(Deadline, MovingItLaterPostponesExpiry) {
  asio::io_context ctx;
  int fired = 0;
  Deadline d(ctx.get_executor(), [&] { ++fired; });
  auto start = Deadline::Clock::now();
  d.setAfter(10ms);
  asio::steady_timer push(ctx, 5ms);
  push.async_wait([&](auto) { d.setAfter(40ms); });  // before the first expiry
  Deadline::Clock::time_point firedAt{};
  d.onExpire = [&] {
    ++fired;
    firedAt = Deadline::Clock::now();
  };
  ctx.run_for(200ms);
  EXPECT_EQ(fired, 1);
  EXPECT_GE(firedAt - start, 45ms);  // 5 ms + 40 ms, not the first 10 ms
}

TEST(Deadline, MovingItEarlierRearms) {
  asio::io_context ctx;
  int fired = 0;
  Deadline d(ctx.get_executor(), [&] { ++fired; });
  d.setAfter(10s);
  d.setAfter(5ms);
  ctx.run_for(200ms);
  EXPECT_EQ(fired, 1);
}

TEST(Deadline, ClearedNeverFires) {
  asio::io_context ctx;
  int fired = 0;
  Deadline d(ctx.get_executor(), [&] { ++fired; });
  d.setAfter(5ms);
  d.clear();
  ctx.run_for(50ms);
  EXPECT_EQ(fired, 0);
  EXPECT_FALSE(d.expired());
}

TEST(Deadline, MayBeDestroyedFromItsCallbackOrBeforeItsHandlerRuns) {
  asio::io_context ctx;
  int fired = 0;
  auto d = std::make_unique<Deadline>(ctx.get_executor());
  d->onExpire = [&] {
    ++fired;
    d.reset();
  };
  d->setAfter(1ms);
  auto gone = std::make_unique<Deadline>(ctx.get_executor(), [&] { ++fired; });
  gone->setAfter(1ms);
  gone.reset();
  ctx.run_for(50ms);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(d, nullptr);
}

TEST(DrainSignal, RunsHooksOnceAndSkipsUnlinkedOnes) {
  asio::io_context ctx;
  DrainSignal drain;
  int a = 0, b = 0;
  DrainSignal::Hook ha;
  auto hb = std::make_unique<DrainSignal::Hook>();
  drain.subscribe(ha, [&] { ++a; });
  drain.subscribe(*hb, [&] { ++b; });
  hb.reset();  // a session that ended before drain
  drain.start();
  drain.start();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  EXPECT_TRUE(drain.draining());
}

}  // namespace
}  // namespace weft::net
