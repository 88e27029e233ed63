// ExchangeHandler::start() (src/http/session/exchange.cc): the way a server
// session hands an exchange over never throws into the session's event
// (a codec callback), and a handler that throws, before its coroutine's
// first suspension or after it, ends the exchange so the client is answered.
#include "http/session/exchange.h"

#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

namespace weft::http {
namespace {

namespace asio = boost::asio;

// handle() is not a coroutine here, as the proxy's is not: it throws at the call.
struct ThrowsAtOnce final : ExchangeHandler {
  asio::awaitable<void> handle(std::shared_ptr<Exchange>) override { throw std::runtime_error("at once"); }
};

// A coroutine that throws after it has been suspended once.
struct ThrowsLater final : ExchangeHandler {
  asio::awaitable<void> handle(std::shared_ptr<Exchange>) override {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    throw std::runtime_error("later");
  }
};

// Answers: the exchange gets a response head.
struct Answers final : ExchangeHandler {
  asio::awaitable<void> handle(std::shared_ptr<Exchange> ex) override {
    ex->response.status = 204;
    ex->responseStarted();
    ex->responseBody.finish();
    co_return;
  }
};

TEST(ExchangeHandlerStart, AHandlerThatThrowsAtOnceFailsTheExchangeAndStartDoesNotThrow) {
  asio::io_context io;
  auto ex = std::make_shared<Exchange>(io.get_executor());
  ThrowsAtOnce handler;
  EXPECT_NO_THROW(handler.start(ex, io.get_executor()));
  EXPECT_FALSE(ex->hasResponse());
  EXPECT_EQ(ex->error(), ProxyError::kUpstreamReset);
  EXPECT_TRUE(ex->responseBody.failed());
  io.run();
}

TEST(ExchangeHandlerStart, AHandlerThatThrowsLaterFailsTheExchange) {
  asio::io_context io;
  auto ex = std::make_shared<Exchange>(io.get_executor());
  ThrowsLater handler;
  handler.start(ex, io.get_executor());
  EXPECT_EQ(ex->error(), ProxyError::kNone) << "nothing has run yet";
  io.run();
  EXPECT_FALSE(ex->hasResponse());
  EXPECT_EQ(ex->error(), ProxyError::kUpstreamReset);
  EXPECT_TRUE(ex->responseBody.failed());
}

TEST(ExchangeHandlerStart, AHandlerThatAnswersIsLeftAlone) {
  asio::io_context io;
  auto ex = std::make_shared<Exchange>(io.get_executor());
  Answers handler;
  handler.start(ex, io.get_executor());
  io.run();
  EXPECT_TRUE(ex->hasResponse());
  EXPECT_EQ(ex->response.status, 204);
  EXPECT_FALSE(ex->responseBody.failed());
}

}  // namespace
}  // namespace weft::http
