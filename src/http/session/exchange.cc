#include "http/session/exchange.h"

#include <exception>

#include <boost/asio/co_spawn.hpp>

#include "core/logging.h"

namespace weft::http {

// One query of the executor's context for the exchange's five notifiers.
Exchange::Exchange(const boost::asio::any_io_executor& ex)
    : Exchange(boost::asio::query(ex, boost::asio::execution::context)) {}

Exchange::Exchange(boost::asio::execution_context& context)
    : requestBody(context), responseBody(context), responseReady_(context) {}

void Exchange::responseStarted() {
  if (state_ != State::kWaiting) return;
  state_ = State::kResponse;
  responseHeadAt = TurnClock::now();
  signalResponse();
}

void Exchange::failBeforeResponse(ProxyError why) {
  if (state_ != State::kWaiting) return;
  state_ = State::kFailed;
  error_ = why;
  responseBody.fail(why);
  signalResponse();
}

boost::asio::awaitable<void> Exchange::waitResponse() {
  while (state_ == State::kWaiting && !cancelled_) co_await responseReady_.wait();
}

void Exchange::setResponseObserver(ResponseObserver* observer) {
  observer_ = observer;
  if (observer_ && state_ != State::kWaiting) observer_->responseReady();
}

void Exchange::signalResponse() {
  responseReady_.notify();
  if (observer_) observer_->responseReady();
}

bool Exchange::isRetryableResponse(const ResponseHead& head) const {
  // Only with the whole request in hand: a retry must replay all of it.
  if (!requestBody.ended() || requestBody.failed() || !requestBody.canRewind()) return false;
  if (head.status == 502 || head.status == 503 || head.status == 504) return true;
  // Trailers-only first: it is the cheap test, and the usual gRPC answer has a body.
  return !head.hasBody && request.isGrpc() && head.headers.get("grpc-status") == "14";
}

void Exchange::cancel(ProxyError why) {
  if (cancelled_) return;
  cancelled_ = true;
  bool wasWaiting = state_ == State::kWaiting;
  if (wasWaiting) {
    state_ = State::kFailed;
    error_ = why;
  }
  requestBody.fail(why);
  responseBody.fail(why);
  // After a response head nobody waits any more: that head woke them.
  if (wasWaiting) signalResponse();
  if (onCancel) {
    auto hook = std::move(onCancel);
    onCancel = nullptr;
    hook();
  }
}

void ExchangeHandler::start(std::shared_ptr<Exchange> exchange, const boost::asio::any_io_executor& ex) {
  try {
    // handle() need not be a coroutine: what it does before its first
    // suspension runs here, and may throw here.
    spawn(ex, handle(exchange), exchange);
  } catch (...) {
    failThrown(*exchange, std::current_exception());
  }
}

void ExchangeHandler::spawn(const boost::asio::any_io_executor& ex, boost::asio::awaitable<void> coroutine,
                            std::shared_ptr<Exchange> exchange) {
  boost::asio::co_spawn(ex, std::move(coroutine), [exchange = std::move(exchange)](std::exception_ptr e) {
    if (e) failThrown(*exchange, e);
  });
}

void ExchangeHandler::failThrown(Exchange& exchange, std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& err) {
    WEFT_LOG_ERROR("exchange handler threw: {}", err.what());
  } catch (...) {
    WEFT_LOG_ERROR("exchange handler threw");
  }
  exchange.failBeforeResponse(ProxyError::kUpstreamReset);
  exchange.responseBody.fail(ProxyError::kUpstreamReset);
}

}  // namespace weft::http
