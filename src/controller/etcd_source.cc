#include "controller/etcd_source.h"

#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "controller/etcd_messages.h"
#include "controller/etcd_registry.h"
#include "controller/http_stream.h"
#include "controller/ndjson.h"
#include "controller/source_support.h"
#include "core/logging.h"
#include "core/metrics.h"

namespace weft::controller {

namespace asio = boost::asio;

namespace {

constexpr int64_t kPageSize = 2000;
constexpr size_t kMaxRangeBody = 256 * 1024 * 1024;
constexpr size_t kMaxWatchLine = 64 * 1024 * 1024;
constexpr auto kWatchIdle = std::chrono::minutes(15);
// (A named vector, not a braced list inside co_await: GCC 12 miscompiles the latter.)
const std::vector<std::string> kJsonHeaders{"Content-Type: application/json"};

}  // namespace

struct EtcdSource::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, EtcdSourceConfig c, StateStore& s)
      : executor(ex), cfg(std::move(c)), store(s), registry(cfg.prefix), rangeEnd(etcd::prefixRangeEnd(cfg.prefix)),
        timer(ex) {
    for (const auto& e : cfg.endpoints) targets.push_back(*parseHttpUrl(e, nullptr));
    for (const auto& t : targets) {
      if (t.tls && !tls) tls = makeClientTlsContext({cfg.caFile, cfg.certFile, cfg.keyFile});
    }
  }

  asio::any_io_executor executor;
  EtcdSourceConfig cfg;
  StateStore& store;
  EtcdRegistry registry;
  std::string rangeEnd;
  std::vector<HttpTarget> targets;
  std::shared_ptr<asio::ssl::context> tls;
  asio::steady_timer timer;
  ReconnectBackoff backoff;
  HttpStream* current = nullptr;  // the open request, closed by stop()
  bool stopped = false;
  bool synced = false;
  std::function<void()> onFirstSync;
  std::set<std::string> reportedProblems;
  size_t targetIndex = 0;

  enum class WatchEnd { kCompacted, kBroken, kStopped };

  const HttpTarget& target() const { return targets[targetIndex % targets.size()]; }

  void publish() {
    std::vector<std::string> problems;
    auto state = registry.state(&problems);
    std::set<std::string> now(problems.begin(), problems.end());
    for (const auto& p : now) {
      if (!reportedProblems.count(p)) WEFT_LOG_WARN("source etcd: {}", p);
    }
    reportedProblems = std::move(now);
    publishSourceState(store, state, "etcd");
  }

  void rejected(const std::string& key, const std::string& why) {
    WEFT_LOG_WARN("source etcd: {}: rejected: {}; keeping its last good value", key, why);
    countSourceRejected("invalid");
  }

  // One request/response exchange with the body read whole.
  asio::awaitable<std::optional<std::string>> post(const std::string& path, const std::string& body, int& status) {
    HttpStream stream(executor, target(), tls);
    current = &stream;
    auto st = co_await stream.open("POST", path, kJsonHeaders, body, cfg.requestTimeout);
    std::string out;
    if (st == HttpStatus::kOk) st = co_await stream.readAll(out, kMaxRangeBody, cfg.requestTimeout);
    current = nullptr;
    if (stopped) co_return std::nullopt;
    if (st != HttpStatus::kOk) {
      WEFT_LOG_WARN("source etcd: {}{}: {}", target().url(), path, httpStatusName(st));
      countSourceError(httpStatusName(st));
      co_return std::nullopt;
    }
    status = stream.status();
    co_return out;
  }

  // A consistent listing; returns its revision, or 0 on failure.
  asio::awaitable<int64_t> list() {
    std::vector<std::pair<std::string, std::string>> kvs;
    int64_t revision = 0;
    std::string from = cfg.prefix;
    for (;;) {
      int status = 0;
      auto body = co_await post("/v3/kv/range", etcd::rangeRequest(from, rangeEnd, revision, kPageSize), status);
      if (!body) co_return 0;
      if (status != 200) {
        // A page pinned to a revision compacted meanwhile: start over.
        WEFT_LOG_WARN("source etcd: range: HTTP {}: {}", status, etcd::errorBodyMessage(*body));
        countSourceError("http");
        co_return 0;
      }
      std::string why;
      auto r = etcd::parseRangeResponse(*body, &why);
      if (!r) {
        WEFT_LOG_WARN("source etcd: range: bad response: {}", why);
        countSourceError("protocol");
        co_return 0;
      }
      if (revision == 0) revision = r->revision;
      for (auto& kv : r->kvs) kvs.emplace_back(std::move(kv.key), std::move(kv.value));
      if (!r->more || kvs.empty()) break;
      from = kvs.back().first + '\0';
    }
    std::vector<std::string> rejectedKeys;
    registry.replaceAll(kvs, &rejectedKeys);
    for (const auto& r : rejectedKeys) {
      WEFT_LOG_WARN("source etcd: {}: rejected; keeping its last good value", r);
      countSourceRejected("invalid");
    }
    co_return revision;
  }

  asio::awaitable<WatchEnd> watch(int64_t fromRevision) {
    HttpStream stream(executor, target(), tls);
    current = &stream;
    struct Clear {
      Impl* self;
      ~Clear() {
        self->current = nullptr;
        setSourceConnected(false);
      }
    } clear{this};
    auto st = co_await stream.open("POST", "/v3/watch", kJsonHeaders,
                                   etcd::watchCreateRequest(cfg.prefix, rangeEnd, fromRevision), cfg.requestTimeout);
    if (stopped) co_return WatchEnd::kStopped;
    if (st != HttpStatus::kOk || stream.status() != 200) {
      WEFT_LOG_WARN("source etcd: watch: {}", st != HttpStatus::kOk ? std::string(httpStatusName(st))
                                                                    : "HTTP " + std::to_string(stream.status()));
      countSourceError(st != HttpStatus::kOk ? httpStatusName(st) : "http");
      co_return WatchEnd::kBroken;
    }
    setSourceConnected(true);
    LineBuffer lines(kMaxWatchLine);
    std::string chunk;
    for (;;) {
      chunk.clear();
      st = co_await stream.readBody(chunk, kWatchIdle);
      if (stopped) co_return WatchEnd::kStopped;
      if (st != HttpStatus::kOk) {
        WEFT_LOG_WARN("source etcd: watch ended: {}", httpStatusName(st));
        countSourceError(st == HttpStatus::kDone ? "closed" : httpStatusName(st));
        co_return WatchEnd::kBroken;
      }
      bool changed = false;
      std::optional<WatchEnd> end;
      bool fits = lines.feed(chunk, [&](std::string_view line) {
        if (end) return;
        std::string why;
        auto m = etcd::parseWatchMessage(line, &why);
        if (!m) {
          WEFT_LOG_WARN("source etcd: watch: bad message: {}", why);
          countSourceError("protocol");
          end = WatchEnd::kBroken;
          return;
        }
        if (m->isError) {
          WEFT_LOG_WARN("source etcd: watch error: {}", m->errorMessage);
          countSourceError("watch-error");
          end = WatchEnd::kBroken;
          return;
        }
        if (m->canceled) {
          if (m->compactRevision > 0) {
            WEFT_LOG_INFO("source etcd: watch from revision {} compacted (compact revision {}); relisting",
                          fromRevision, m->compactRevision);
            end = WatchEnd::kCompacted;
          } else {
            WEFT_LOG_WARN("source etcd: watch canceled: {}", m->cancelReason);
            countSourceError("canceled");
            end = WatchEnd::kBroken;
          }
          return;
        }
        for (const auto& ev : m->events) {
          countSourceEvent(ev.isDelete ? "delete" : "put");
          if (ev.isDelete) {
            changed = registry.remove(ev.kv.key) || changed;
          } else {
            std::string why2;
            if (registry.put(ev.kv.key, ev.kv.value, &why2)) {
              changed = true;
            } else {
              rejected(ev.kv.key, why2);
            }
          }
        }
        if (m->revision > 0) {
          threadGauge("weft_controller_source_revision", "Source revision applied (etcd)", "").set(m->revision);
        }
      });
      // Events before a cancel still happened: serve them.
      if (changed) publish();
      if (!fits) {
        WEFT_LOG_WARN("source etcd: watch: a message exceeds {} bytes", kMaxWatchLine);
        countSourceError("protocol");
        co_return WatchEnd::kBroken;
      }
      if (end) co_return *end;
    }
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();  // alive until the loop ends
    std::string relistReason = "initial";
    while (!stopped) {
      countSourceRelist(relistReason);
      int64_t revision = co_await list();
      if (stopped) break;
      if (revision > 0) {
        publish();
        threadGauge("weft_controller_source_revision", "Source revision applied (etcd)", "").set(revision);
        if (!synced) {
          synced = true;
          setSourceSynced(true);
          WEFT_LOG_INFO("source etcd: synced from {} at revision {} ({} keys)", target().url(), revision,
                        registry.keyCount());
          if (onFirstSync) onFirstSync();
        }
        backoff.reset();
        auto end = co_await watch(revision + 1);
        if (end == WatchEnd::kStopped) break;
        if (end == WatchEnd::kCompacted) {
          relistReason = "compacted";
          continue;  // at once: the data is there, only our revision is too old
        }
      }
      relistReason = "reconnect";
      ++targetIndex;
      auto delay = backoff.next();
      WEFT_LOG_INFO("source etcd: reconnecting to {} in {} ms", target().url(), delay.count());
      if (!co_await sleepFor(timer, delay)) break;
    }
  }
};

EtcdSource::EtcdSource(asio::any_io_executor ex, EtcdSourceConfig cfg, StateStore& store)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(cfg), store)) {}

EtcdSource::~EtcdSource() { stop(); }

void EtcdSource::start(std::function<void()> onFirstSync) {
  impl_->onFirstSync = std::move(onFirstSync);
  setSourceSynced(false);
  asio::co_spawn(impl_->executor, impl_->run(), asio::detached);
}

void EtcdSource::stop() {
  impl_->stopped = true;
  impl_->timer.cancel();
  if (impl_->current) impl_->current->close();
}

bool EtcdSource::synced() const { return impl_->synced; }

}  // namespace weft::controller
