#pragma once
// What the watching sources (etcd, Kubernetes) share: their metrics, the
// reconnect backoff, and publishing a SourceState to the store.
//
// Metrics (docs/controller.md): weft_controller_source_updates_total,
// weft_controller_source_rejected_total{reason}, weft_controller_source_relists_total{reason},
// weft_controller_source_errors_total{reason}, weft_controller_source_events_total{type},
// weft_controller_source_connected, weft_controller_source_synced.
//
// Threads: the source's thread (cells are per thread, core/metrics.h).
#include <chrono>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/services_file.h"
#include "controller/state_store.h"
#include "core/backoff.h"
#include "core/random.h"

namespace weft::controller {

void countSourceRejected(std::string_view reason);
void countSourceRelist(std::string_view reason);
void countSourceError(std::string_view reason);
void countSourceEvent(std::string_view type);
void setSourceConnected(bool connected);
void setSourceSynced(bool synced);

// Applies `state`; counts it as an update. Returns whether a snapshot was published.
bool publishSourceState(StateStore& store, const SourceState& state, std::string_view sourceName);

// Full-jitter reconnect delays: 200 ms × 2 up to 10 s; reset() after a
// successful sync.
class ReconnectBackoff {
 public:
  ReconnectBackoff();
  std::chrono::milliseconds next() { return policy_.delay(attempt_++, random_.unit()); }
  void reset() { attempt_ = 0; }

 private:
  BackoffPolicy policy_{std::chrono::milliseconds(200), std::chrono::milliseconds(10'000)};
  FastRandom random_;
  uint32_t attempt_ = 0;
};

// Sleeps `d` on `timer`; returns false when the timer was cancelled (stop).
boost::asio::awaitable<bool> sleepFor(boost::asio::steady_timer& timer, std::chrono::milliseconds d);

}  // namespace weft::controller
