#pragma once
// A single-thread wake-up for one waiting coroutine: the waiter re-checks its
// condition after every wait, so notify() may be called freely. Waits are
// cancellable through Asio's per-operation cancellation (e.g. `||` with a
// timer), and a wait still pending when the notifier is destroyed completes
// with operation_aborted.
//
// The notifier keeps its waiter's completion handler itself, and notify()
// posts it: no timer, no reactor lock, no timer-queue work. (It used to be a
// steady_timer set to "never" and cancelled by notify(): three timer-service
// operations and two reactor locks per wake-up, ~5 % of an h2c request's
// instructions; docs/benchmarks.md.) Waiters left when the io_context shuts
// down are destroyed with it, as an Asio operation's would be (the per-context
// NotifierRegistry). A second coroutine waiting at the same time, which the
// proxy does not do, still works: it waits on a timer as before.
#include <optional>
#include <tuple>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace weft::http {

class NotifierRegistry;

class Notifier {
 public:
  using Result = std::tuple<boost::system::error_code>;

  // Keeps only the executor's execution context (no executor copy per
  // notifier: an exchange has five notifiers, and each any_io_executor copy
  // and destruction is a type-erased call).
  explicit Notifier(const boost::asio::any_io_executor& ex);
  // The same, for an owner that knows the context already (asking an
  // any_io_executor for it is a type-erased call).
  explicit Notifier(boost::asio::execution_context& context) : context_(&context) {}
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Suspends until notify() (or cancellation). Spurious wake-ups are allowed.
  boost::asio::awaitable<Result> wait();
  // Wakes the waiter, if there is one; otherwise nothing (nothing is remembered).
  void notify();

 private:
  friend class NotifierRegistry;
  using Handler = boost::asio::async_result<boost::asio::use_awaitable_t<>, void(Result)>::handler_type;

  void start(Handler handler);
  // Posts the waiter's completion with `ec`. From the cancellation slot's own
  // handler the slot must not be cleared (Asio clears it on resumption).
  void finish(boost::system::error_code ec, bool fromCancellation);

  boost::asio::execution_context* context_;
  std::optional<Handler> waiter_;
  NotifierRegistry* registry_ = nullptr;  // set while waiter_ is
  Notifier* prev_ = nullptr;              // the registry's list of notifiers with a waiter
  Notifier* next_ = nullptr;
  std::optional<boost::asio::steady_timer> second_;  // a second concurrent waiter
};

}  // namespace weft::http
