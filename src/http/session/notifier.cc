#include "http/session/notifier.h"

#include <atomic>
#include <cstdint>

#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>

namespace weft::http {

namespace asio = boost::asio;

// Per execution context: the notifiers that hold a waiter. At shutdown their
// handlers are destroyed, which hands each suspended coroutine to the
// scheduler for destruction, as the scheduler does with its own pending
// operations. Only the context's own thread touches the list.
class NotifierRegistry : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;

  explicit NotifierRegistry(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}
  ~NotifierRegistry() override;

  // The context's registry, remembered per thread: looking a service up
  // takes the context's mutex, and a worker asks on every first wait.
  static NotifierRegistry& of(asio::execution_context& ctx);

  void link(Notifier& n) {
    n.prev_ = nullptr;
    n.next_ = head_;
    if (head_) head_->prev_ = &n;
    head_ = &n;
  }
  void unlink(Notifier& n) {
    if (n.prev_) n.prev_->next_ = n.next_;
    else head_ = n.next_;
    if (n.next_) n.next_->prev_ = n.prev_;
    n.prev_ = n.next_ = nullptr;
  }

 private:
  void shutdown() override {
    while (Notifier* n = head_) {
      unlink(*n);
      n->registry_ = nullptr;
      n->waiter_.reset();  // the coroutine is destroyed through the scheduler
    }
  }

  Notifier* head_ = nullptr;
};

asio::execution_context::id NotifierRegistry::id;

namespace {
// Bumped whenever a registry goes away, so that a thread's remembered
// registry is never one of a destroyed context that a new one replaced at
// the same address (tests create contexts by the thousand).
std::atomic<uint64_t> registryEpoch{0};

struct RememberedRegistry {
  asio::execution_context* context = nullptr;
  NotifierRegistry* registry = nullptr;
  uint64_t epoch = 0;
};
thread_local RememberedRegistry remembered;
}  // namespace

NotifierRegistry::~NotifierRegistry() { registryEpoch.fetch_add(1, std::memory_order_relaxed); }

NotifierRegistry& NotifierRegistry::of(asio::execution_context& ctx) {
  uint64_t epoch = registryEpoch.load(std::memory_order_relaxed);
  if (remembered.context != &ctx || remembered.epoch != epoch)
    remembered = {&ctx, &asio::use_service<NotifierRegistry>(ctx), epoch};
  return *remembered.registry;
}

Notifier::Notifier(const asio::any_io_executor& ex) : context_(&asio::query(ex, asio::execution::context)) {}

Notifier::~Notifier() {
  if (waiter_) finish(asio::error::operation_aborted, false);
}

asio::awaitable<Notifier::Result> Notifier::wait() {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(Result)>(
      [this](Handler handler) { start(std::move(handler)); }, asio::use_awaitable);
}

void Notifier::start(Handler handler) {
  if (waiter_) {
    // Not how the proxy uses a notifier, but kept working: the second
    // waiter waits on a timer that notify() cancels, as every waiter once did.
    if (!second_) second_.emplace(asio::get_associated_executor(handler));
    second_->expires_at(asio::steady_timer::time_point::max());
    auto slot = asio::get_associated_cancellation_slot(handler);
    second_->async_wait(asio::bind_cancellation_slot(
        slot, [h = std::move(handler)](boost::system::error_code ec) mutable { std::move(h)(Result{ec}); }));
    return;
  }
  waiter_.emplace(std::move(handler));
  registry_ = &NotifierRegistry::of(*context_);
  registry_->link(*this);
  auto slot = asio::get_associated_cancellation_slot(*waiter_);
  if (slot.is_connected()) {
    slot.assign([this](asio::cancellation_type_t type) {
      if (!!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                     asio::cancellation_type::total)))
        finish(asio::error::operation_aborted, true);
    });
  }
}

void Notifier::notify() {
  if (second_) second_->cancel();
  if (waiter_) finish({}, false);
}

void Notifier::finish(boost::system::error_code ec, bool fromCancellation) {
  if (!waiter_) return;
  Handler handler = std::move(*waiter_);
  waiter_.reset();
  registry_->unlink(*this);
  registry_ = nullptr;
  if (!fromCancellation) {
    // Nothing may cancel through this notifier once it has let go of the handler.
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.clear();
  }
  // Posted, never run here: notify() is called from inside codec callbacks
  // and other coroutines, which must not be re-entered.
  // To the handler's own executor: posting to another one (even an equal
  // one) adds a work_dispatcher and a second queued function.
  asio::post(asio::append(std::move(handler), Result{ec}));
}

}  // namespace weft::http
