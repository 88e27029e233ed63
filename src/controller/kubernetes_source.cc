#include "controller/kubernetes_source.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "controller/http_stream.h"
#include "controller/kube_objects.h"
#include "controller/kube_state.h"
#include "controller/ndjson.h"
#include "controller/source_support.h"
#include "core/logging.h"

namespace weft::controller {

namespace asio = boost::asio;

namespace {

constexpr size_t kMaxListBody = 512 * 1024 * 1024;
constexpr size_t kMaxEventLine = 64 * 1024 * 1024;
constexpr int kPageSize = 500;
const std::vector<std::string> kNoHeaders;

std::string percentEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

HttpTarget apiTarget(const KubernetesSourceConfig& cfg) {
  std::string url = cfg.apiServer;
  if (url.empty()) {
    const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
    const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port) {
      throw std::runtime_error(
          "kubernetes: not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): set source.kubernetes.api_server");
    }
    std::string h = host;
    url = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  }
  std::string why;
  auto t = parseHttpUrl(url, &why);
  if (!t) throw std::runtime_error("kubernetes: api server '" + url + "' " + why);
  return *t;
}

}  // namespace

struct KubernetesSource::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::any_io_executor ex, KubernetesSourceConfig c, StateStore& s)
      : executor(ex), cfg(std::move(c)), store(s), target(apiTarget(cfg)) {
    if (target.tls) tls = makeClientTlsContext({cfg.caFile, "", ""});
    scopes = cfg.namespaces;
    if (scopes.empty()) scopes.push_back("");  // "" = every namespace
  }

  asio::any_io_executor executor;
  KubernetesSourceConfig cfg;
  StateStore& store;
  HttpTarget target;
  std::shared_ptr<asio::ssl::context> tls;
  std::vector<std::string> scopes;
  kube::ServiceMap services;
  kube::SliceMap slices;
  std::set<HttpStream*> open;  // closed by stop()
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  bool stopped = false;
  bool synced = false;
  size_t listed = 0;  // reflectors whose first list is done
  std::function<void()> onFirstSync;
  std::set<std::string> reportedRejects;

  enum class WatchEnd { kResume, kGone, kError, kStopped };

  void publish() {
    if (!synced) return;  // never a partial state: wait for every first list
    std::vector<std::string> rejected;
    auto state = kube::sourceStateOf(services, slices, cfg.clusterDomain, &rejected);
    std::set<std::string> now(rejected.begin(), rejected.end());
    for (const auto& r : now) {
      if (reportedRejects.count(r)) continue;
      WEFT_LOG_WARN("source kubernetes: rejected: {}", r);
      countSourceRejected("invalid");
    }
    reportedRejects = std::move(now);
    publishSourceState(store, state, "kubernetes");
  }

  std::vector<std::string> authHeaders() {
    std::vector<std::string> h{"Accept: application/json"};
    if (cfg.tokenFile.empty()) return h;
    std::ifstream in(cfg.tokenFile);
    std::stringstream buf;
    buf << in.rdbuf();
    auto token = buf.str();
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (!in && !in.eof()) {
      WEFT_LOG_WARN("source kubernetes: cannot read token file {}", cfg.tokenFile);
    } else if (!token.empty()) {
      h.push_back("Authorization: Bearer " + token);
    }
    return h;
  }

  static std::string_view resourceName(kube::Resource r) {
    return r == kube::Resource::kService ? "services" : "endpointslices";
  }

  std::string path(kube::Resource r, const std::string& ns) const {
    std::string prefix = r == kube::Resource::kService ? "/api/v1" : "/apis/discovery.k8s.io/v1";
    if (!ns.empty()) prefix += "/namespaces/" + percentEncode(ns);
    return prefix + "/" + std::string(resourceName(r));
  }

  std::string what(kube::Resource r, const std::string& ns) const {
    return std::string(resourceName(r)) + (ns.empty() ? "" : " in " + ns);
  }

  // Replaces the scope's objects of kind `r` by `items`.
  void replaceScope(kube::Resource r, const std::string& ns, std::vector<kube::Object>&& items) {
    auto prune = [&](auto& map) {
      for (auto it = map.begin(); it != map.end();) {
        it = ns.empty() || it->second.ns == ns ? map.erase(it) : std::next(it);
      }
    };
    if (r == kube::Resource::kService) {
      prune(services);
      for (auto& o : items) services[o.service.ns + "/" + o.service.name] = std::move(o.service);
    } else {
      prune(slices);
      for (auto& o : items) slices[o.slice.ns + "/" + o.slice.name] = std::move(o.slice);
    }
  }

  void applyEvent(kube::WatchEvent& ev) {
    if (ev.object.resource == kube::Resource::kService) {
      auto key = ev.object.service.ns + "/" + ev.object.service.name;
      if (ev.type == kube::WatchEvent::Type::kDeleted) {
        services.erase(key);
      } else {
        services[key] = std::move(ev.object.service);
      }
    } else {
      auto key = ev.object.slice.ns + "/" + ev.object.slice.name;
      if (ev.type == kube::WatchEvent::Type::kDeleted) {
        slices.erase(key);
      } else {
        slices[key] = std::move(ev.object.slice);
      }
    }
  }

  struct Track {
    Impl* self;
    HttpStream* s;
    Track(Impl* i, HttpStream* st) : self(i), s(st) { self->open.insert(s); }
    ~Track() { self->open.erase(s); }
  };

  // A full list (all pages); sets `rv`. False on failure (already logged and counted).
  asio::awaitable<bool> list(kube::Resource r, const std::string& ns, std::string& rv) {
    std::vector<kube::Object> items;
    std::string cont;
    for (;;) {
      auto target_ = path(r, ns) + "?limit=" + std::to_string(kPageSize);
      if (!cont.empty()) target_ += "&continue=" + percentEncode(cont);
      HttpStream stream(executor, target, tls);
      Track track(this, &stream);
      auto headers = authHeaders();
      auto st = co_await stream.open("GET", target_, headers, "", cfg.requestTimeout);
      std::string body;
      if (st == HttpStatus::kOk) st = co_await stream.readAll(body, kMaxListBody, cfg.requestTimeout);
      if (stopped) co_return false;
      if (st != HttpStatus::kOk) {
        WEFT_LOG_WARN("source kubernetes: list {}: {} ({})", what(r, ns), httpStatusName(st), target.url());
        countSourceError(httpStatusName(st));
        co_return false;
      }
      if (stream.status() == 410 && !cont.empty()) {
        // The continue token outlived the server's history: start the list over.
        WEFT_LOG_INFO("source kubernetes: list {}: continue token expired; listing again", what(r, ns));
        countSourceRelist("expired");
        items.clear();
        cont.clear();
        continue;
      }
      if (stream.status() != 200) {
        std::string message;
        kube::statusCode(body, &message);
        WEFT_LOG_WARN("source kubernetes: list {}: HTTP {}: {}", what(r, ns), stream.status(),
                      message.empty() ? body.substr(0, 200) : message);
        countSourceError("http");
        co_return false;
      }
      std::string why;
      auto l = kube::parseList(r, body, &why);
      if (!l) {
        WEFT_LOG_WARN("source kubernetes: list {}: bad response: {}", what(r, ns), why);
        countSourceError("protocol");
        co_return false;
      }
      for (auto& o : l->items) items.push_back(std::move(o));
      if (l->continueToken.empty()) {
        rv = l->resourceVersion;
        break;
      }
      cont = l->continueToken;
    }
    replaceScope(r, ns, std::move(items));
    co_return true;
  }

  asio::awaitable<WatchEnd> watch(kube::Resource r, const std::string& ns, std::string& rv) {
    auto target_ = fmt::format("{}?watch=1&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={}",
                               path(r, ns), percentEncode(rv), cfg.watchTimeout.count());
    HttpStream stream(executor, target, tls);
    Track track(this, &stream);
    auto headers = authHeaders();
    auto st = co_await stream.open("GET", target_, headers, "", cfg.requestTimeout);
    if (stopped) co_return WatchEnd::kStopped;
    if (st != HttpStatus::kOk) {
      WEFT_LOG_WARN("source kubernetes: watch {}: {} ({})", what(r, ns), httpStatusName(st), target.url());
      countSourceError(httpStatusName(st));
      co_return WatchEnd::kError;
    }
    if (stream.status() == 410) {
      WEFT_LOG_INFO("source kubernetes: watch {} from {}: 410 Gone; relisting", what(r, ns), rv);
      co_return WatchEnd::kGone;
    }
    if (stream.status() != 200) {
      std::string body, message;
      co_await stream.readAll(body, 64 * 1024, cfg.requestTimeout);
      kube::statusCode(body, &message);
      WEFT_LOG_WARN("source kubernetes: watch {}: HTTP {}: {}", what(r, ns), stream.status(), message);
      countSourceError("http");
      co_return WatchEnd::kError;
    }
    setSourceConnected(true);
    struct Disconnected {
      ~Disconnected() { setSourceConnected(false); }
    } disconnected;
    LineBuffer lines(kMaxEventLine);
    std::string chunk;
    // The server ends the watch after timeoutSeconds; allow a minute beyond.
    auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(cfg.watchTimeout) + std::chrono::seconds(60);
    for (;;) {
      chunk.clear();
      st = co_await stream.readBody(chunk, idle);
      if (stopped) co_return WatchEnd::kStopped;
      if (st == HttpStatus::kDone) co_return WatchEnd::kResume;  // timeoutSeconds, or the server ended it
      if (st != HttpStatus::kOk) {
        WEFT_LOG_WARN("source kubernetes: watch {} broken: {}", what(r, ns), httpStatusName(st));
        countSourceError(httpStatusName(st));
        co_return WatchEnd::kError;
      }
      bool changed = false;
      std::optional<WatchEnd> end;
      bool fits = lines.feed(chunk, [&](std::string_view line) {
        if (end) return;
        std::string why;
        auto ev = kube::parseWatchEvent(r, line, &why);
        if (!ev) {
          WEFT_LOG_WARN("source kubernetes: watch {}: bad event: {}", what(r, ns), why);
          countSourceError("protocol");
          end = WatchEnd::kError;
          return;
        }
        countSourceEvent(kube::watchEventTypeName(ev->type));
        if (ev->type == kube::WatchEvent::Type::kError) {
          if (ev->errorCode == 410) {
            WEFT_LOG_INFO("source kubernetes: watch {} from {}: {}; relisting", what(r, ns), rv, ev->errorMessage);
            end = WatchEnd::kGone;
          } else {
            WEFT_LOG_WARN("source kubernetes: watch {}: error {}: {}", what(r, ns), ev->errorCode, ev->errorMessage);
            countSourceError("watch-error");
            end = WatchEnd::kError;
          }
          return;
        }
        if (!ev->resourceVersion.empty()) rv = ev->resourceVersion;
        if (ev->type == kube::WatchEvent::Type::kBookmark) return;
        applyEvent(*ev);
        changed = true;
      });
      if (changed) publish();
      if (!fits) {
        WEFT_LOG_WARN("source kubernetes: watch {}: an event exceeds {} bytes", what(r, ns), kMaxEventLine);
        countSourceError("protocol");
        co_return WatchEnd::kError;
      }
      if (end) co_return *end;
    }
  }

  asio::awaitable<void> reflect(kube::Resource r, std::string ns, std::shared_ptr<asio::steady_timer> timer) {
    auto self = shared_from_this();
    ReconnectBackoff backoff;
    std::string rv;
    bool needList = true;
    bool counted = false;  // this reflector's first list is done
    std::string reason = "initial";
    while (!stopped) {
      if (needList) {
        countSourceRelist(reason);
        if (!co_await list(r, ns, rv)) {
          if (stopped) break;
          reason = "reconnect";
          if (!co_await sleepFor(*timer, backoff.next())) break;
          continue;
        }
        needList = false;
        if (!counted) {
          counted = true;
          if (++listed == scopes.size() * 2 && !synced) {
            synced = true;
            setSourceSynced(true);
            WEFT_LOG_INFO("source kubernetes: synced from {} ({} services, {} endpoint slices)", target.url(),
                          services.size(), slices.size());
            publish();
            if (onFirstSync) onFirstSync();
          }
        }
        publish();
      }
      auto started = std::chrono::steady_clock::now();
      auto end = co_await watch(r, ns, rv);
      if (end == WatchEnd::kStopped || stopped) break;
      if (end == WatchEnd::kGone) {
        needList = true;
        reason = "gone";
        continue;
      }
      bool quick = std::chrono::steady_clock::now() - started < std::chrono::seconds(1);
      if (end == WatchEnd::kResume && !quick) {
        backoff.reset();
        continue;  // resume from rv at once
      }
      // An error, or a server that keeps ending watches at once: back off.
      if (!co_await sleepFor(*timer, backoff.next())) break;
    }
  }
};

KubernetesSource::KubernetesSource(asio::any_io_executor ex, KubernetesSourceConfig cfg, StateStore& store)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(cfg), store)) {}

KubernetesSource::~KubernetesSource() { stop(); }

void KubernetesSource::start(std::function<void()> onFirstSync) {
  impl_->onFirstSync = std::move(onFirstSync);
  setSourceSynced(false);
  for (const auto& ns : impl_->scopes) {
    for (auto r : {kube::Resource::kService, kube::Resource::kEndpointSlice}) {
      auto timer = std::make_shared<asio::steady_timer>(impl_->executor);
      impl_->timers.push_back(timer);
      asio::co_spawn(impl_->executor, impl_->reflect(r, ns, timer), asio::detached);
    }
  }
}

void KubernetesSource::stop() {
  impl_->stopped = true;
  for (auto& t : impl_->timers) t->cancel();
  for (auto* s : std::set<HttpStream*>(impl_->open)) s->close();
}

bool KubernetesSource::synced() const { return impl_->synced; }

std::string KubernetesSource::apiServer() const { return impl_->target.url(); }

}  // namespace weft::controller
