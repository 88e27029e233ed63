#include "controller/source_support.h"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/logging.h"
#include "core/metrics.h"

namespace weft::controller {

void countSourceRejected(std::string_view reason) {
  threadCounter("weft_controller_source_rejected_total", "Source updates rejected", labelPair("reason", reason)).inc();
}

void countSourceRelist(std::string_view reason) {
  threadCounter("weft_controller_source_relists_total", "Full reads of the source (list), by cause",
                labelPair("reason", reason))
      .inc();
}

void countSourceError(std::string_view reason) {
  threadCounter("weft_controller_source_errors_total", "Failed source requests and broken watches, by cause",
                labelPair("reason", reason))
      .inc();
}

void countSourceEvent(std::string_view type) {
  threadCounter("weft_controller_source_events_total", "Watch events received from the source, by type",
                labelPair("type", type))
      .inc();
}

void setSourceConnected(bool connected) {
  threadGauge("weft_controller_source_connected", "1 while a watch on the source is open", "").set(connected ? 1 : 0);
}

void setSourceSynced(bool synced) {
  threadGauge("weft_controller_source_synced", "1 once the source has been read completely", "").set(synced ? 1 : 0);
}

bool publishSourceState(StateStore& store, const SourceState& state, std::string_view sourceName) {
  bool changed = store.apply(state);
  threadCounter("weft_controller_source_updates_total", "Valid source documents read", "").inc();
  if (changed) {
    WEFT_LOG_DEBUG("source {}: applied generation {} ({} services, {} splits)", sourceName,
                   store.current()->generation, state.services.size(), state.splits.size());
  }
  return changed;
}

ReconnectBackoff::ReconnectBackoff()
    : random_(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
              (static_cast<uint64_t>(::getpid()) << 32)) {}

boost::asio::awaitable<bool> sleepFor(boost::asio::steady_timer& timer, std::chrono::milliseconds d) {
  timer.expires_after(d);
  auto [ec] = co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return !ec;
}

}  // namespace weft::controller
