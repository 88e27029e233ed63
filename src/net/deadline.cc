#include "net/deadline.h"

namespace weft::net {

Deadline::Deadline(boost::asio::any_io_executor ex, std::function<void()> cb)
    : onExpire(std::move(cb)), timer_(std::move(ex)), alive_(std::make_shared<char>(0)) {}

void Deadline::set(Clock::time_point at) {
  deadline_ = at;
  active_ = true;
  expired_ = false;
  if (!armed_ || at < armedAt_) arm(at);
}

void Deadline::arm(Clock::time_point at) {
  armedAt_ = at;
  armed_ = true;
  timer_.expires_at(at);  // cancels a pending wait: its handler sees operation_aborted
  timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    fired();
  });
}

void Deadline::fired() {
  armed_ = false;
  if (!active_) return;
  if (Clock::now() < deadline_) {
    arm(deadline_);  // moved later since this wait was armed
    return;
  }
  active_ = false;
  expired_ = true;
  // Last, from a copy: the callback may destroy us.
  if (onExpire) {
    auto cb = onExpire;
    cb();
  }
}

}  // namespace weft::net
