#pragma once
// A coarse deadline that costs nothing to move later: set() only records the
// time point; the underlying timer is re-armed when it fires early (the
// deadline moved since) or when the deadline moves earlier. A keep-alive
// connection that pushes its idle deadline forward on every request therefore
// re-arms its timer about once per timeout period, not once per request (no
// timer-queue update, no timerfd_settime).
//
// On expiry `onExpire` runs once (from the executor, never from set()); the
// owner typically cancels or closes its socket there and checks expired()
// when an operation completes with operation_aborted.
//
// Worker thread only. The owner may be destroyed at any time, also from
// inside onExpire (a fired handler never touches a destroyed Deadline).
#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/coarse_clock.h"

namespace weft::net {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Deadline(boost::asio::any_io_executor ex, std::function<void()> onExpire = {});
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void set(Clock::time_point at);
  void setAfter(Clock::duration d) { set(Clock::now() + d); }
  // The same from the coarse clock (core/coarse_clock.h): up to one kernel
  // tick (4 ms here) sooner, for a fraction of a clock read. For timeouts
  // where that does not matter: idle, header and write-stall deadlines.
  void setAfterCoarse(Clock::duration d) { set(coarseNow() + d); }
  // No deadline until the next set(); a timer still armed fires harmlessly.
  void clear() { active_ = false; }
  bool active() const { return active_; }
  // The last set() deadline passed (reset by set()).
  bool expired() const { return expired_; }

  std::function<void()> onExpire;

 private:
  void arm(Clock::time_point at);
  void fired();

  boost::asio::steady_timer timer_;
  std::shared_ptr<char> alive_;  // lets a queued handler see that we are gone
  Clock::time_point deadline_{};
  Clock::time_point armedAt_{};
  bool active_ = false;
  bool armed_ = false;
  bool expired_ = false;
};

}  // namespace weft::net
