#include "net/drain.h"

namespace weft::net {

void DrainSignal::Hook::unlink() {
  if (!owner_) return;
  if (prev_) prev_->next_ = next_;
  else owner_->hooks_ = next_;
  if (next_) next_->prev_ = prev_;
  owner_ = nullptr;
  prev_ = next_ = nullptr;
}

DrainSignal::~DrainSignal() {
  while (hooks_) hooks_->unlink();
}

void DrainSignal::subscribe(Hook& hook, std::function<void()> fn) {
  hook.unlink();
  hook.fn_ = std::move(fn);
  hook.owner_ = this;
  hook.next_ = hooks_;
  if (hooks_) hooks_->prev_ = &hook;
  hooks_ = &hook;
}

void DrainSignal::start() {
  if (draining_) return;
  draining_ = true;
  // A callback may destroy its own hook (or others): unlink before calling.
  while (Hook* h = hooks_) {
    auto fn = std::move(h->fn_);
    h->unlink();
    if (fn) fn();
  }
}

}  // namespace weft::net
