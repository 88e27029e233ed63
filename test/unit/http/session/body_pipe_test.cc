#include "http/session/body_pipe.h"

#include <functional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "http/session/exchange.h"

namespace weft::http {
namespace {

namespace asio = boost::asio;

TEST(BodyPipe, ProducerWaitsAtHighWaterUntilConsumerDrains) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor(), 10);
  std::vector<std::string> events;
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      EXPECT_TRUE(co_await pipe.waitWritable());
      pipe.push("0123456789");  // fills to high water each time
      events.push_back("pushed");
    }
    pipe.finish();
  }, asio::detached);
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    std::string got;
    for (;;) {
      co_await pipe.waitReadable();
      if (pipe.drained()) break;
      EXPECT_LE(pipe.buffered(), 10u);  // never more than high water buffered
      got += pipe.data();
      events.push_back("consumed");
      pipe.consume(pipe.buffered());
    }
    EXPECT_EQ(got.size(), 30u);
  }, asio::detached);
  ctx.run();
  EXPECT_EQ(events, (std::vector<std::string>{"pushed", "consumed", "pushed", "consumed", "pushed", "consumed"}));
}

TEST(BodyPipe, FailWakesBothSidesAndCarriesTheError) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor(), 4);
  pipe.push("abcd");
  bool writerWoke = false, readerSawFailure = false;
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    writerWoke = !(co_await pipe.waitWritable());
  }, asio::detached);
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    pipe.consume(4);
    co_await pipe.waitReadable();
    readerSawFailure = pipe.failed() && pipe.error() == ProxyError::kUpstreamReset;
  }, asio::detached);
  asio::post(ctx, [&] { pipe.fail(ProxyError::kUpstreamReset); });
  ctx.run();
  EXPECT_TRUE(writerWoke);
  EXPECT_TRUE(readerSawFailure);
}

TEST(BodyPipe, RewindReplaysRetainedBytesWithinTheLimit) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  pipe.retainForReplay(8);
  pipe.push("hello");
  pipe.consume(5);
  EXPECT_EQ(pipe.buffered(), 0u);
  ASSERT_TRUE(pipe.rewind());
  EXPECT_EQ(pipe.data(), "hello");
  pipe.push("world");
  pipe.consume(10);  // 10 > limit 8: no longer replayable
  EXPECT_FALSE(pipe.rewind());
}

TEST(BodyPipe, RewindWithoutRetainingOnlyWorksBeforeAnythingWasConsumed) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  EXPECT_TRUE(pipe.rewind());
  pipe.push("x");
  pipe.consume(1);
  EXPECT_FALSE(pipe.rewind());
}

// A consumer writes straight from data() to a socket while the producer keeps
// pushing: the view must stay where it is, however much arrives (ASan saw a
// slow HTTP/1 client's response body freed under an in-flight sendmsg).
TEST(BodyPipe, ViewStaysValidWhileTheProducerPushes) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  // Large enough for malloc to map it on its own: were it reallocated, the
  // old block would be unmapped and reading the view below would crash even
  // without ASan.
  const std::string first(512 * 1024, 'a');
  pipe.push(first);
  std::string_view view = pipe.data();
  const std::string more(1024 * 1024, 'b');
  for (int i = 0; i < 4; ++i) pipe.push(more);
  EXPECT_TRUE(view == first);
  EXPECT_EQ(pipe.buffered(), first.size() + 4 * more.size());
  pipe.consume(view.size());
  std::string rest(pipe.data());
  EXPECT_EQ(rest.size(), 4 * more.size());
  EXPECT_TRUE(rest == more + more + more + more);
}

TEST(BodyPipe, PartialConsumeThenPushKeepsOrder) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  pipe.push("abc");
  EXPECT_EQ(pipe.data(), "abc");
  pipe.consume(1);
  pipe.push("def");
  EXPECT_EQ(pipe.data(), "bcdef");
  pipe.consume(2);
  pipe.push("g");
  pipe.consume(100);  // past the view: discards everything, in order
  EXPECT_EQ(pipe.buffered(), 0u);
  pipe.push("h");
  EXPECT_EQ(pipe.data(), "h");
}

TEST(BodyPipe, RewindAfterPushesWhileRetainingReplaysInOrder) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  pipe.retainForReplay(64);
  pipe.push("one,");
  auto v = pipe.data();
  pipe.push("two,");  // arrives while the consumer holds its view
  pipe.consume(v.size());
  EXPECT_EQ(pipe.data(), "two,");
  pipe.push("three");
  ASSERT_TRUE(pipe.rewind());
  EXPECT_EQ(pipe.data(), "one,two,three");
}

TEST(BodyPipe, OnConsumedReportsEachConsumption) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  size_t total = 0;
  pipe.onConsumed = [&](size_t n) { total += n; };
  pipe.push("abcdef");
  pipe.consume(2);
  pipe.consume(100);  // clamped to what is buffered
  EXPECT_EQ(total, 6u);
}

TEST(Exchange, CancelBeforeResponseBecomesTheErrorAndRunsTheHook) {
  asio::io_context ctx;
  Exchange ex(ctx.get_executor());
  bool hookRan = false, waiterWoke = false;
  ex.onCancel = [&] { hookRan = true; };
  asio::co_spawn(ctx, [&]() -> asio::awaitable<void> {
    co_await ex.waitResponse();
    waiterWoke = true;
  }, asio::detached);
  asio::post(ctx, [&] { ex.cancel(ProxyError::kTimeout); });
  ctx.run();
  EXPECT_TRUE(hookRan);
  EXPECT_TRUE(waiterWoke);
  EXPECT_FALSE(ex.hasResponse());
  EXPECT_EQ(ex.error(), ProxyError::kTimeout);
  EXPECT_TRUE(ex.requestBody.failed());
}

TEST(Exchange, FirstOutcomeWins) {
  asio::io_context ctx;
  Exchange ex(ctx.get_executor());
  ex.responseStarted();
  ex.failBeforeResponse(ProxyError::kUpstreamReset);
  EXPECT_TRUE(ex.hasResponse());
  EXPECT_EQ(ex.error(), ProxyError::kNone);
}

// Counts its calls; the HTTP/2 server's streams are such listeners.
struct CountingListener final : BodyPipe::ReadableListener, ResponseObserver {
  int readable = 0;
  int ready = 0;
  std::function<void()> onReadable;
  void bodyReadable() override {
    ++readable;
    if (onReadable) onReadable();
  }
  void responseReady() override { ++ready; }
};

TEST(BodyPipe, ReadableListenerIsToldOnceByTheProducersNextStep) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  CountingListener l;
  pipe.listenReadable(&l);
  EXPECT_EQ(l.readable, 0);  // nothing to read yet
  pipe.push("ab");
  EXPECT_EQ(l.readable, 1);  // synchronously, from push()
  pipe.push("cd");
  EXPECT_EQ(l.readable, 1);  // once per listenReadable()
  pipe.consume(pipe.buffered());
  pipe.listenReadable(&l);
  pipe.finish();
  EXPECT_EQ(l.readable, 2);  // the end of the body counts
  pipe.listenReadable(&l);
  EXPECT_EQ(l.readable, 3);  // at once: an ended pipe is readable now
}

TEST(BodyPipe, ReadableListenerHearsFailureAndNothingAfterDisarming) {
  asio::io_context ctx;
  BodyPipe failing(ctx.get_executor());
  CountingListener l;
  failing.listenReadable(&l);
  failing.fail(ProxyError::kUpstreamReset);
  EXPECT_EQ(l.readable, 1);
  BodyPipe pipe(ctx.get_executor());
  pipe.listenReadable(&l);
  pipe.listenReadable(nullptr);
  pipe.push("x");
  pipe.finish();
  EXPECT_EQ(l.readable, 1);
}

TEST(BodyPipe, ReadableListenerMayListenAgainFromItsCallback) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  CountingListener l;
  // As the HTTP/2 data source does: consume, then (nothing left) defer again.
  l.onReadable = [&] {
    pipe.consume(pipe.buffered());
    if (!pipe.ended()) pipe.listenReadable(&l);
  };
  pipe.listenReadable(&l);
  pipe.push("a");
  pipe.push("b");
  pipe.finish();
  EXPECT_EQ(l.readable, 3);
}

TEST(BodyPipe, ListeningCountsAsTheFirstRead) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor());
  int firstReads = 0;
  pipe.onFirstRead = [&] { ++firstReads; };
  CountingListener l;
  pipe.listenReadable(&l);
  pipe.listenReadable(&l);
  EXPECT_EQ(firstReads, 1);  // `Expect: 100-continue` is answered once
}

struct CountingWritable final : BodyPipe::WritableListener {
  int writable = 0;
  void bodyWritable() override { ++writable; }
};

TEST(BodyPipe, WritableListenerIsToldOnceWhenThereIsRoomOrNobodyToRead) {
  asio::io_context ctx;
  BodyPipe pipe(ctx.get_executor(), 4);
  CountingWritable l;
  pipe.listenWritable(&l);
  EXPECT_EQ(l.writable, 1);  // at once: there is room now
  pipe.push("abcd");
  pipe.listenWritable(&l);
  EXPECT_EQ(l.writable, 1);  // full: waits
  pipe.push("ef");
  pipe.consume(1);
  EXPECT_EQ(l.writable, 1) << "5 of 4 buffered: still no room";
  pipe.consume(2);
  EXPECT_EQ(l.writable, 2);  // synchronously, from consume()
  pipe.consume(1);
  EXPECT_EQ(l.writable, 2);  // once per listenWritable()

  pipe.push("ghij");
  pipe.listenWritable(&l);
  pipe.abandon();
  EXPECT_EQ(l.writable, 3) << "nobody will read: the producer must hear it";

  BodyPipe failing(ctx.get_executor(), 1);
  failing.push("x");
  failing.listenWritable(&l);
  failing.fail(ProxyError::kTimeout);
  EXPECT_EQ(l.writable, 4);

  BodyPipe disarmed(ctx.get_executor(), 1);
  disarmed.push("x");
  disarmed.listenWritable(&l);
  disarmed.listenWritable(nullptr);
  disarmed.consume(1);
  EXPECT_EQ(l.writable, 4);
}

TEST(Exchange, ObserverIsToldOnceWhenTheResponseStarts) {
  asio::io_context ctx;
  Exchange ex(ctx.get_executor());
  CountingListener o;
  ex.setResponseObserver(&o);
  EXPECT_EQ(o.ready, 0);
  ex.responseStarted();
  EXPECT_EQ(o.ready, 1);
  ex.cancel(ProxyError::kTimeout);  // after the head: no second call
  ex.failBeforeResponse(ProxyError::kUpstreamReset);
  EXPECT_EQ(o.ready, 1);
  EXPECT_TRUE(ex.hasResponse());
}

TEST(Exchange, ObserverIsToldOfFailureAndCancelBeforeAResponse) {
  asio::io_context ctx;
  Exchange failed(ctx.get_executor());
  CountingListener o;
  failed.setResponseObserver(&o);
  failed.failBeforeResponse(ProxyError::kConnectFailed);
  EXPECT_EQ(o.ready, 1);
  EXPECT_EQ(failed.error(), ProxyError::kConnectFailed);
  Exchange cancelled(ctx.get_executor());
  CountingListener c;
  cancelled.setResponseObserver(&c);
  cancelled.cancel(ProxyError::kTimeout);
  EXPECT_EQ(c.ready, 1);
  EXPECT_EQ(cancelled.error(), ProxyError::kTimeout);
}

TEST(Exchange, ObserverSetAfterTheOutcomeIsToldAtOnceAndAResetOneNever) {
  asio::io_context ctx;
  Exchange ex(ctx.get_executor());
  ex.responseStarted();
  CountingListener late;
  ex.setResponseObserver(&late);
  EXPECT_EQ(late.ready, 1);
  Exchange other(ctx.get_executor());
  CountingListener gone;
  other.setResponseObserver(&gone);
  other.setResponseObserver(nullptr);
  other.responseStarted();
  EXPECT_EQ(gone.ready, 0);
}

}  // namespace
}  // namespace weft::http
