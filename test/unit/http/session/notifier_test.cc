#include "http/session/notifier.h"

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

namespace weft::http {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

TEST(Notifier, NotifyWakesTheWaiterAndWithoutOneIsANoOp) {
  asio::io_context ctx;
  Notifier n(ctx.get_executor());
  n.notify();  // nobody waits: nothing happens, nothing is remembered
  // What a wake-up carries is not part of the contract (the waiter re-checks
  // its condition): only that it wakes, once per notify it was waiting for.
  int wakes = 0;
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      co_await n.wait();
      ++wakes;
    }
  }, asio::detached);
  ctx.poll();
  EXPECT_EQ(wakes, 0);  // suspended: the early notify() was not kept
  for (int i = 0; i < 3; ++i) {
    n.notify();
    n.notify();  // a second notify before the waiter ran wakes it once
    ctx.poll();
    EXPECT_EQ(wakes, i + 1);
  }
}

TEST(Notifier, AWaitThatLosesARaceIsCancelledAndTheNotifierStaysUsable) {
  asio::io_context ctx;
  Notifier n(ctx.get_executor());
  std::optional<size_t> winner;
  bool secondWake = false;
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(ctx, 10ms);
    auto r = co_await (n.wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    winner = r.index();
    co_await n.wait();  // the cancelled wait left nothing behind
    secondWake = true;
  }, asio::detached);
  // The timer wins the race; the second wait then stays pending.
  for (int i = 0; i < 100 && !winner; ++i) ctx.run_one_for(50ms);
  ctx.poll();
  ASSERT_TRUE(winner.has_value());
  EXPECT_EQ(*winner, 1u);
  EXPECT_FALSE(secondWake);
  n.notify();
  ctx.restart();
  ctx.poll();
  EXPECT_TRUE(secondWake);
}

TEST(Notifier, APendingWaitEndsAbortedWhenTheNotifierGoes) {
  asio::io_context ctx;
  auto n = std::make_unique<Notifier>(ctx.get_executor());
  std::optional<boost::system::error_code> result;
  asio::co_spawn(ctx, [&, raw = n.get()]() -> asio::awaitable<void> {
    auto [ec] = co_await raw->wait();
    result = ec;
  }, asio::detached);
  ctx.poll();
  EXPECT_FALSE(result.has_value());
  n.reset();
  ctx.poll();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(*result, asio::error::operation_aborted);
}

// A coroutine still waiting when its io_context goes away is destroyed with
// it (its frame, and what the frame owns, is freed), as one waiting on an
// Asio operation would be: the notifier keeps the handler, not a service.
TEST(Notifier, AWaiterLeftAtShutdownIsDestroyedWithTheContext) {
  std::weak_ptr<int> ownedByTheFrame;
  auto n = std::make_unique<std::optional<Notifier>>();
  {
    asio::io_context ctx;
    n->emplace(ctx.get_executor());
    auto owned = std::make_shared<int>(1);
    ownedByTheFrame = owned;
    asio::co_spawn(ctx, [&, owned = std::move(owned)]() -> asio::awaitable<void> {
      co_await (**n).wait();
      ADD_FAILURE() << "woken, not destroyed";
    }, asio::detached);
    ctx.poll();
    EXPECT_FALSE(ownedByTheFrame.expired());  // suspended in wait()
  }
  EXPECT_TRUE(ownedByTheFrame.expired());
  n->reset();  // the notifier outlived its context: destroying it now is harmless
}

// Two coroutines waiting at once (the proxy never does this) are both woken.
TEST(Notifier, TwoConcurrentWaitersAreBothWoken) {
  asio::io_context ctx;
  Notifier n(ctx.get_executor());
  int wakes = 0;
  for (int i = 0; i < 2; ++i)
    asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
      co_await n.wait();
      ++wakes;
    }, asio::detached);
  ctx.poll();
  EXPECT_EQ(wakes, 0);
  n.notify();
  ctx.poll();
  EXPECT_EQ(wakes, 2);
}

// Many notifiers of one context waking in one burst (an h2 connection's
// streams): each waiter wakes once, in a later turn of the loop, never
// inside notify().
TEST(Notifier, ABurstOfNotifiesWakesEachWaiterOnceAndNeverInline) {
  asio::io_context ctx;
  std::vector<std::unique_ptr<Notifier>> ns;
  std::vector<int> wakes(64, 0);
  for (int i = 0; i < 64; ++i) {
    ns.push_back(std::make_unique<Notifier>(ctx.get_executor()));
    asio::co_spawn(ctx, [&, i]() -> asio::awaitable<void> {
      co_await ns[i]->wait();
      ++wakes[i];
    }, asio::detached);
  }
  ctx.poll();
  for (auto& n : ns) n->notify();
  for (int w : wakes) EXPECT_EQ(w, 0);  // posted, not run inside notify()
  ctx.poll();
  for (int w : wakes) EXPECT_EQ(w, 1);
}

}  // namespace
}  // namespace weft::http
