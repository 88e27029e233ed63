#include "proxy/tap.h"

#include <bit>
#include <string>
#include <type_traits>

#include "http/session/exchange.h"

namespace weft::proxy {

static_assert(std::is_trivially_copyable_v<TapRecord>, "records are copied into rings with no constructors run");

// Lamport's single-producer/single-consumer queue: the producer owns tail_,
// the consumer owns head_; each publishes its index with release and reads
// the other's with acquire, so a slot is never read while being written.
// head_ and tail_ sit on their own cache lines so the worker and the admin
// thread do not bounce one line between them.
//
// The slots (~460 B x 4096 per worker, 3.6 MiB with 2 workers) are allocated
// on the first attach, by the admin thread, and published to the producer
// with release/acquire: a proxy nobody taps never pays for them (idle RSS,
// docs/benchmarks.md). They stay until the Tap is destroyed (after the
// workers stop), so a producer never sees them go away.
struct Tap::Ring {
  Ring(size_t capacity, Counter& droppedCounter) : capacity(capacity), mask(capacity - 1), dropped(droppedCounter) {}

  // Admin thread. Allocates the slots once; the producer sees them through `slots`.
  void allocate() {
    if (storage) return;
    storage = std::make_unique<TapRecord[]>(capacity);
    slots.store(storage.get(), std::memory_order_release);
  }

  const size_t capacity;
  const size_t mask;
  std::unique_ptr<TapRecord[]> storage;      // owned and read by the admin thread
  std::atomic<TapRecord*> slots{nullptr};    // the producer's view of `storage`
  Counter& dropped;  // written by the producer only
  alignas(64) std::atomic<uint64_t> tail{0};
  alignas(64) std::atomic<uint64_t> head{0};
};

Tap::Tap(size_t workers, size_t ringRecords) {
  size_t capacity = std::bit_ceil(std::max<size_t>(ringRecords, 2));
  auto& reg = MetricsRegistry::global();
  for (size_t i = 0; i < std::max<size_t>(workers, 1); ++i) {
    // One cell per worker (each has a single writer); a scrape sums them.
    auto& c = reg.counter("weft_tap_dropped_total",
                          "Tap records dropped: ring-full (a worker's tap ring was full) or client-slow "
                          "(a tap client could not keep up)",
                          labelPair("reason", "ring-full"));
    rings_.push_back(std::make_unique<Ring>(capacity, c));
  }
}

Tap::~Tap() { uninstall(); }

void Tap::uninstall() {
  if (installed_ == this) {
    installed_ = nullptr;
    clients_.store(0, std::memory_order_relaxed);
  }
}

void Tap::push(size_t worker, const TapRecord& record) {
  if (worker >= rings_.size()) return;
  Ring& r = *rings_[worker];
  TapRecord* slots = r.slots.load(std::memory_order_acquire);
  if (!slots) return;  // never attached: nothing to record for
  uint64_t t = r.tail.load(std::memory_order_relaxed);
  if (t - r.head.load(std::memory_order_acquire) > r.mask) {
    r.dropped.inc();
    return;
  }
  slots[t & r.mask] = record;
  r.tail.store(t + 1, std::memory_order_release);
}

void Tap::attach() {
  if (clients_.load(std::memory_order_relaxed) == 0) {
    // Whatever sits in the rings predates every client: skip it.
    for (auto& r : rings_) r->allocate();
    for (auto& r : rings_) r->head.store(r->tail.load(std::memory_order_acquire), std::memory_order_release);
  }
  if (installed_ == this) clients_.fetch_add(1, std::memory_order_relaxed);
}

void Tap::detach() {
  if (installed_ == this && clients_.load(std::memory_order_relaxed) > 0)
    clients_.fetch_sub(1, std::memory_order_relaxed);
}

void Tap::drain(std::vector<TapRecord>& out) {
  for (auto& r : rings_) {
    uint64_t h = r->head.load(std::memory_order_relaxed);
    uint64_t t = r->tail.load(std::memory_order_acquire);
    for (; h != t; ++h) out.push_back(r->storage[h & r->mask]);  // h != t: allocated
    r->head.store(h, std::memory_order_release);
  }
}

namespace {
int16_t grpcStatusOf(std::string_view v) {
  if (v.empty() || v.size() > 2) return -1;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return static_cast<int16_t>(n);
}
}  // namespace

void Tap::record(const http::Exchange& ex, bool inbound, size_t worker) {
  Tap* tap = installed_;
  if (!tap) return;
  TapRecord r;
  auto now = std::chrono::steady_clock::now();
  auto latency = std::chrono::duration_cast<std::chrono::microseconds>(now - ex.start);
  r.latencyMicros = static_cast<uint32_t>(std::min<int64_t>(latency.count(), UINT32_MAX));
  r.unixMicros = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch() - latency)
                     .count();
  r.direction = inbound ? 1 : 0;
  r.retries = static_cast<uint8_t>(std::min(ex.retries, 255));
  r.worker = static_cast<uint8_t>(std::min<size_t>(worker, 255));
  bool fit = r.method.set(ex.request.method);
  fit &= r.authority.set(ex.request.authority);
  fit &= r.path.set(ex.request.path);
  fit &= r.endpoint.set(ex.endpoint);
  const bool grpc = ex.request.isGrpc();
  if (ex.hasResponse()) {
    r.status = static_cast<uint16_t>(ex.response.status);
    r.error = ex.responseBody.error();  // a stream that failed after its head
    if (auto upstream = ex.response.headers.get("weft-proxy-error"); !upstream.empty()) {
      fit &= r.upstreamError.set(upstream);
      r.errorFromUpstream = true;
    }
    if (grpc) {
      // Trailers-only responses carry grpc-status in the head.
      auto s = ex.response.headers.get("grpc-status");
      if (s.empty()) s = ex.responseBody.trailers().get("grpc-status");
      r.grpcStatus = grpcStatusOf(s);
      if (r.grpcStatus < 0 && r.error != ProxyError::kNone) r.grpcStatus = static_cast<int16_t>(proxyErrorGrpcStatus(r.error));
    }
  } else if (ex.error() != ProxyError::kNone) {
    r.error = ex.error();
    r.status = static_cast<uint16_t>(grpc ? 200 : proxyErrorHttpStatus(r.error));
    if (grpc) r.grpcStatus = static_cast<int16_t>(proxyErrorGrpcStatus(r.error));
  }
  r.truncated = !fit;
  tap->push(worker, r);
}

size_t Tap::ringBytes() const {
  size_t n = 0;
  for (auto& r : rings_)
    if (r->storage) n += r->capacity * sizeof(TapRecord);
  return n;
}

uint64_t Tap::ringDropped() const {
  uint64_t n = 0;
  for (auto& r : rings_) n += r->dropped.value();
  return n;
}

}  // namespace weft::proxy
