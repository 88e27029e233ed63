#include "proxy/tap_route.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <deque>
#include <memory>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "core/logging.h"
#include "model/endpoint.h"

namespace weft::proxy {
namespace {

namespace asio = boost::asio;

constexpr auto kPollInterval = std::chrono::milliseconds(25);
constexpr auto kHeartbeatInterval = std::chrono::seconds(1);
// Per client: ~1.6 s of 5 000 requests/s (about 3 MiB); beyond it the client is too slow.
constexpr size_t kClientQueueRecords = 8192;
constexpr int kClientSendBufferBytes = 128 * 1024;

void appendJsonString(std::string_view s, std::string& out) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          // Non-ASCII bytes are escaped one by one: a truncated field may end
          // inside a UTF-8 sequence, and the stream must stay valid JSON.
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string isoTime(int64_t unixMicros) {
  std::time_t secs = static_cast<std::time_t>(unixMicros / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, unixMicros % 1'000'000);
}

int64_t nowUnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool parseUint(std::string_view s, uint64_t& out) {
  return !s.empty() && std::from_chars(s.data(), s.data() + s.size(), out).ec == std::errc{} &&
         std::from_chars(s.data(), s.data() + s.size(), out).ptr == s.data() + s.size();
}

struct Subscriber {
  TapFilter filter;
  std::deque<TapRecord> queue;
  uint64_t ringDrops = 0;  // not yet reported in-stream
  uint64_t slowDrops = 0;
};

// Shared by every /tap connection of one proxy (admin thread only).
class TapHub {
 public:
  explicit TapHub(Tap& tap)
      : tap_(tap),
        slowDropped_(MetricsRegistry::global().counter(
            "weft_tap_dropped_total",
            "Tap records dropped: ring-full (a worker's tap ring was full) or client-slow "
            "(a tap client could not keep up)",
            labelPair("reason", "client-slow"))) {}

  void add(Subscriber* s) {
    if (subs_.empty()) lastRingDropped_ = tap_.ringDropped();
    subs_.push_back(s);
    tap_.attach();
  }
  void remove(Subscriber* s) {
    std::erase(subs_, s);
    tap_.detach();
  }

  void poll() {
    scratch_.clear();
    tap_.drain(scratch_);
    // Rings are drained one after the other: restore time order across workers.
    std::stable_sort(scratch_.begin(), scratch_.end(),
                     [](const TapRecord& a, const TapRecord& b) { return a.unixMicros < b.unixMicros; });
    // Ring drops are not attributable to a filter: every client hears of them.
    uint64_t ringDropped = tap_.ringDropped();
    uint64_t newDrops = ringDropped - lastRingDropped_;
    lastRingDropped_ = ringDropped;
    for (auto* s : subs_) {
      s->ringDrops += newDrops;
      for (const auto& r : scratch_) {
        if (!s->filter.matches(r)) continue;
        if (s->queue.size() >= kClientQueueRecords) {
          ++s->slowDrops;
          slowDropped_.inc();
          continue;
        }
        s->queue.push_back(r);
      }
    }
  }

  Tap& tap() { return tap_; }

 private:
  Tap& tap_;
  Counter& slowDropped_;
  std::vector<Subscriber*> subs_;
  std::vector<TapRecord> scratch_;
  uint64_t lastRingDropped_ = 0;
};

asio::awaitable<void> serveTap(std::shared_ptr<TapHub> hub, const admin::AdminRequest& req,
                               admin::AdminStream& stream) {
  std::string error;
  auto filter = parseTapFilter(req.query, error);
  if (!filter) {
    // A plain error body: the stream has not begun, so this is its whole response.
    if (co_await stream.begin(400, "text/plain; charset=utf-8")) {
      co_await stream.write(error + "\n");
      co_await stream.finish();
    }
    co_return;
  }
  Subscriber sub{*filter, {}, 0, 0};
  hub->add(&sub);
  struct Leave {
    TapHub& hub;
    Subscriber* sub;
    ~Leave() { hub.remove(sub); }
  } leave{*hub, &sub};
  WEFT_LOG_INFO("tap: client {} attached ({})", req.peer.to_string(), req.query.empty() ? "no filter" : req.query);

  // Records wait in the client's bounded queue, where they are counted when
  // dropped, not in megabytes of kernel buffer.
  stream.limitSendBuffer(kClientSendBufferBytes);
  if (!co_await stream.begin(200, "application/x-ndjson")) co_return;
  std::string out;
  out += fmt::format("{{\"type\":\"start\",\"time\":\"{}\",\"workers\":{},\"filter\":", isoTime(nowUnixMicros()),
                     hub->tap().workers());
  appendJsonString(req.query, out);
  out += "}\n";
  if (!co_await stream.write(out)) co_return;

  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto lastWrite = std::chrono::steady_clock::now();
  uint64_t sent = 0;
  while (stream.open()) {
    timer.expires_after(kPollInterval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!stream.open()) break;
    hub->poll();
    out.clear();
    bool done = false;
    while (!sub.queue.empty()) {
      appendTapJson(sub.queue.front(), out);
      sub.queue.pop_front();
      if (filter->limit && ++sent >= filter->limit) {
        done = true;
        break;
      }
    }
    if (sub.ringDrops || sub.slowDrops) {
      out += fmt::format("{{\"type\":\"dropped\",\"time\":\"{}\",\"ring_full\":{},\"client_slow\":{}}}\n",
                         isoTime(nowUnixMicros()), sub.ringDrops, sub.slowDrops);
      sub.ringDrops = sub.slowDrops = 0;
    }
    auto now = std::chrono::steady_clock::now();
    if (out.empty() && now - lastWrite >= kHeartbeatInterval)
      // Lets the client tell "quiet" from "gone", and us find a vanished client.
      out = fmt::format("{{\"type\":\"heartbeat\",\"time\":\"{}\"}}\n", isoTime(nowUnixMicros()));
    if (!out.empty()) {
      if (!co_await stream.write(out)) break;
      lastWrite = now;
    }
    if (done) break;
  }
  co_await stream.finish();
  WEFT_LOG_INFO("tap: client {} detached", req.peer.to_string());
}

}  // namespace

bool TapFilter::matches(const TapRecord& r) const {
  if (direction >= 0 && r.direction != direction) return false;
  if (!method.empty() && r.method.view() != method) return false;
  if (!pathPrefix.empty() && r.path.view().substr(0, pathPrefix.size()) != pathPrefix) return false;
  if (status != 0) {
    if (statusClass ? r.status / 100 != status : r.status != status) return false;
  }
  if (errorsOnly) {
    bool err = r.status == 0 || r.status >= 500 || r.error != ProxyError::kNone || r.errorFromUpstream ||
               r.grpcStatus > 0;
    if (!err) return false;
  }
  if (!authority.empty() && model::normalizeAuthority(r.authority.view()) != authority) return false;
  return true;
}

std::optional<TapFilter> parseTapFilter(std::string_view query, std::string& error) {
  TapFilter f;
  static constexpr std::string_view kKnown[] = {"authority", "path", "method", "direction", "status", "errors", "limit"};
  for (std::string_view q = query; !q.empty();) {
    auto amp = q.find('&');
    auto key = q.substr(0, std::min(q.find('='), amp));
    if (!key.empty() && std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown)) {
      error = fmt::format("unknown tap parameter '{}' (known: authority, path, method, direction, status, errors, limit)",
                          key);
      return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  auto get = [&](std::string_view name) { return admin::queryParam(query, name); };
  if (auto a = get("authority"); a && !a->empty()) f.authority = model::normalizeAuthority(*a);
  if (auto p = get("path")) f.pathPrefix = *p;
  if (auto m = get("method")) f.method = *m;
  if (auto d = get("direction"); d && !d->empty()) {
    if (*d == "outbound") f.direction = 0;
    else if (*d == "inbound") f.direction = 1;
    else {
      error = "direction must be outbound or inbound";
      return std::nullopt;
    }
  }
  if (auto s = get("status"); s && !s->empty()) {
    uint64_t n = 0;
    if (s->size() == 3 && (*s)[0] >= '1' && (*s)[0] <= '5' && (s->substr(1) == "xx" || s->substr(1) == "XX")) {
      f.status = (*s)[0] - '0';
      f.statusClass = true;
    } else if (parseUint(*s, n) && n >= 100 && n <= 599) {
      f.status = static_cast<int>(n);
    } else {
      error = "status must be a code (503) or a class (5xx)";
      return std::nullopt;
    }
  }
  if (auto e = get("errors")) f.errorsOnly = e->empty() || *e == "1" || *e == "true";
  if (auto l = get("limit"); l && !l->empty()) {
    if (!parseUint(*l, f.limit)) {
      error = "limit must be a non-negative integer";
      return std::nullopt;
    }
  }
  return f;
}

void appendTapJson(const TapRecord& r, std::string& out) {
  out += "{\"type\":\"request\",\"time\":\"";
  out += isoTime(r.unixMicros);
  out += "\",\"direction\":\"";
  out += r.direction == 1 ? "inbound" : "outbound";
  out += "\",\"method\":";
  appendJsonString(r.method.view(), out);
  out += ",\"authority\":";
  appendJsonString(r.authority.view(), out);
  out += ",\"path\":";
  appendJsonString(r.path.view(), out);
  out += fmt::format(",\"status\":{}", r.status);
  if (r.grpcStatus >= 0) out += fmt::format(",\"grpc_status\":{}", r.grpcStatus);
  else out += ",\"grpc_status\":null";
  out += fmt::format(",\"latency_ms\":{:.3f},\"endpoint\":", r.latencyMicros / 1000.0);
  if (r.endpoint.len) appendJsonString(r.endpoint.view(), out);
  else out += "null";
  out += fmt::format(",\"retries\":{},\"proxy_error\":", r.retries);
  if (r.error != ProxyError::kNone) appendJsonString(proxyErrorCode(r.error), out);
  else if (r.errorFromUpstream) appendJsonString(r.upstreamError.view(), out);
  else out += "null";
  out += fmt::format(",\"proxy_error_source\":{}", r.error != ProxyError::kNone ? "\"this-proxy\""
                                                  : r.errorFromUpstream      ? "\"upstream\""
                                                                             : "null");
  out += fmt::format(",\"worker\":{},\"truncated\":{}}}\n", r.worker, r.truncated ? "true" : "false");
}

void registerTapRoute(admin::AdminServer& admin, Tap& tap) {
  auto hub = std::make_shared<TapHub>(tap);
  admin.registerStreamRoute("GET", "/tap", [hub](const admin::AdminRequest& req, admin::AdminStream& stream) {
    return serveTap(hub, req, stream);
  });
}

}  // namespace weft::proxy
