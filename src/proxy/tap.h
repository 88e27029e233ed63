#pragma once
// Live request tap (GET /tap, docs/cli.md `weft tap`): workers copy one
// fixed-size record per finished request into their own bounded
// single-producer/single-consumer ring; the admin thread drains the rings and
// streams matching records to tap clients (proxy/tap_route.h).
//
// Cost contract (DESIGN.md §8.5): with no tap client connected the data path
// pays one relaxed atomic load (Tap::anyClient()). With one connected, a
// worker fills a TapRecord on its stack (bounded copies, truncating long
// fields) and pushes it: no lock, no heap allocation, never a wait — a full
// ring drops the record and counts it (weft_tap_dropped_total{reason="ring-full"}).
//
// Threads: one Tap per process, constructed and installed on the main thread
// before the workers start and uninstalled after they stop. push() is called
// only by worker `w` for ring `w` (inbound and outbound forwarders of one
// worker share its thread, hence its ring); attach/detach/drain only on the
// admin thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "core/metrics.h"
#include "core/proxy_error.h"

namespace weft::http {
class Exchange;
}

namespace weft::proxy {

// One finished request as a tap client sees it. Trivially copyable, fixed
// size; text fields are truncated to their capacity (the `truncated` flag says so).
struct TapRecord {
  int64_t unixMicros = 0;      // wall-clock time the request head arrived
  uint32_t latencyMicros = 0;  // request head to end of response
  uint16_t status = 0;         // HTTP status sent to the client (0: none)
  int16_t grpcStatus = -1;     // -1: not gRPC or no status seen
  uint8_t direction = 0;       // 0 outbound, 1 inbound
  uint8_t retries = 0;
  uint8_t worker = 0;
  bool truncated = false;
  ProxyError error = ProxyError::kNone;  // what the proxy synthesized or failed with
  bool errorFromUpstream = false;        // `weft-proxy-error` came from an upstream weft

  template <size_t N>
  struct Text {
    char data[N];
    uint8_t len = 0;
    std::string_view view() const { return {data, len}; }
    // Returns false when `s` did not fit.
    bool set(std::string_view s) {
      size_t n = s.size() < N ? s.size() : N;
      std::memcpy(data, s.data(), n);
      len = static_cast<uint8_t>(n);
      return n == s.size();
    }
  };
  Text<16> method;
  Text<128> authority;
  Text<192> path;
  Text<48> endpoint;
  Text<32> upstreamError;  // `weft-proxy-error` value from the upstream response
};

class Tap {
 public:
  static constexpr size_t kDefaultRingRecords = 4096;

  // `workers` rings of `ringRecords` (rounded up to a power of two) each.
  explicit Tap(size_t workers, size_t ringRecords = kDefaultRingRecords);
  ~Tap();
  Tap(const Tap&) = delete;
  Tap& operator=(const Tap&) = delete;

  // --- data path (worker threads) ---
  // True while any tap client is attached to the installed tap. The only
  // cost of tapping when nobody taps.
  static bool anyClient() { return clients_.load(std::memory_order_relaxed) != 0; }
  // The installed tap, or null (unit tests, before start-up).
  static Tap* installed() { return installed_; }
  // Worker `worker` only. Never blocks; drops (and counts) when the ring is full.
  void push(size_t worker, const TapRecord& record);
  // Builds the record of a finished exchange (on the stack) and pushes it to
  // the installed tap. Call only when anyClient(); worker `worker` only.
  static void record(const http::Exchange& exchange, bool inbound, size_t worker);

  // --- main thread ---
  void install() { installed_ = this; }
  void uninstall();

  // --- admin thread ---
  void attach();
  void detach();
  // Moves every waiting record, ring by ring, into `out` (appended).
  void drain(std::vector<TapRecord>& out);
  // Records dropped because a ring was full, over the process's life.
  uint64_t ringDropped() const;
  // Bytes of ring slots allocated: 0 until the first attach (rings are
  // allocated only when someone taps).
  size_t ringBytes() const;
  size_t workers() const { return rings_.size(); }

 private:
  struct Ring;
  std::vector<std::unique_ptr<Ring>> rings_;

  static inline std::atomic<uint32_t> clients_{0};
  static inline Tap* installed_ = nullptr;
};

}  // namespace weft::proxy
