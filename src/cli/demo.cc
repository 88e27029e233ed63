#include "cli/demo.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "cli/demo_load.h"
#include "cli/demo_mesh.h"
#include "cli/demo_view.h"

namespace weft::cli {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Per-loop request rate: 2 proxies × 3 protocols × 40/s = 240 requests/s,
// enough to see every shift and light enough for a loaded 2-core machine.
constexpr double kRatePerLoop = 40;
constexpr milliseconds kConvergeTimeout{10000};
constexpr int kMaxAgeMs = 1000;  // step (d): the servers' max connection age

struct Step {
  Step(std::string i, std::string t) : id(std::move(i)), title(std::move(t)) {}
  std::string id;
  std::string title;
  bool ran = false;
  bool ok = false;
  std::string result;
};

class Demo {
 public:
  Demo(asio::io_context& ctx, const DemoOptions& o)
      : ctx_(ctx), options_(o), mesh_(ctx.get_executor(), o.discovery), tty_(!o.noTty && ::isatty(1)) {}

  asio::awaitable<void> run() {
    try {
      co_await setUp();
      if (!interrupted_) co_await story();
    } catch (const std::exception& e) {
      if (!interrupted_) fatal_ = e.what();
    }
    co_await tearDownTraffic();
    finished_ = true;
    ctx_.stop();
  }

  void interrupt() {
    if (!interrupted_) narrate("interrupted: stopping traffic and every process");
    interrupted_ = true;
    mesh_.cancel();
  }

  // After the io_context stopped: every child down, summary, exit status.
  int finish() {
    auto killed = mesh_.stopAll();
    bool leftovers = false;
    for (auto* c : mesh_.children()) leftovers = leftovers || c->alive();
    if (tty_) std::fputs("\x1b[H\x1b[2J", stdout);
    printSummary(killed, leftovers);
    bool keep = options_.keep || !fatal_.empty();
    if (!keep && !mesh_.folder().empty()) {
      std::error_code ec;
      std::filesystem::remove_all(mesh_.folder(), ec);
    } else if (!mesh_.folder().empty()) {
      std::printf("demo: configs and logs kept in %s\n", mesh_.folder().c_str());
    }
    if (interrupted_) return 130;
    return success() && !leftovers ? 0 : 1;
  }

 private:
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void narrate(std::string line) {
    auto text = fmt::format("[{:5.1f}s] {}", elapsed(), line);
    story_.push_back(text);
    if (!tty_) {
      std::printf("demo: %s\n", text.c_str());
      std::fflush(stdout);
    }
  }

  // False when interrupted (or the mesh broke) before `t` seconds.
  asio::awaitable<bool> sleepUntil(double t) {
    asio::steady_timer timer(ctx_);
    while (!interrupted_ && fatal_.empty() && elapsed() < t) {
      timer.expires_after(milliseconds(static_cast<int>(std::min(100.0, (t - elapsed()) * 1000) + 1)));
      co_await timer.async_wait(kTuple);
    }
    co_return !interrupted_ && fatal_.empty();
  }

  asio::awaitable<void> sleepFor(double seconds) { co_await sleepUntil(elapsed() + seconds); }

  // --- start-up ---
  asio::awaitable<void> setUp() {
    start_ = Clock::now();
    mesh_.createFolder();
    std::printf("demo: working folder %s (configs and logs)\n", mesh_.folder().c_str());
    std::printf("demo: discovery through %s\n", mesh_.useController()
                                                  ? "the controller (services.yaml → xDS → proxies)"
                                                  : "static proxy clusters reloaded by SIGHUP");
    std::fflush(stdout);
    // Sample services first, so the proxies' first view has them.
    for (auto name : {"web-1", "web-2"}) co_await mesh_.startInstance(name, "web", {});
    for (auto name : {"api-v1-a", "api-v1-b"}) co_await mesh_.startInstance(name, "api v1", {});
    for (auto name : {"echo-1", "echo-2"}) co_await mesh_.startInstance(name, "echo", {});
    mesh_.members[std::string(kWeb)] = {"web-1", "web-2"};
    mesh_.members[std::string(kApiStable)] = {"api-v1-a", "api-v1-b"};
    mesh_.members[std::string(kApiCanary)] = {};
    mesh_.members[std::string(kEcho)] = {"echo-1", "echo-2"};
    if (mesh_.useController()) co_await mesh_.startController();
    co_await mesh_.startProxies(2);
    narrate(fmt::format("mesh up: {}2 proxies, 6 sample servers", mesh_.useController() ? "controller, " : ""));
    load_ = std::make_unique<LoadGenerator>(ctx_.get_executor(), mesh_.proxyEndpoints(), kRatePerLoop);
    load_->start();
    asio::co_spawn(ctx_, viewLoop(), asio::detached);
    // The proxies learn each cluster when traffic first asks for it.
    for (auto c : {kWeb, kApi, kEcho}) {
      if (!co_await mesh_.waitConverged(c, kConvergeTimeout))
        throw std::runtime_error(fmt::format("the proxies never saw every endpoint of {} ready", c));
    }
    narrate(fmt::format("steady traffic: HTTP/1.1 → {}, h2c → {}, gRPC → {}, through both proxies ({:.0f} req/s)",
                        kWeb, kApi, kEcho, kRatePerLoop * 3 * static_cast<double>(mesh_.proxyCount())));
  }

  asio::awaitable<void> tearDownTraffic() {
    if (!load_) co_return;
    load_->stop();
    asio::steady_timer t(ctx_);
    auto deadline = Clock::now() + LoadGenerator::kRequestTimeout + std::chrono::seconds(1);
    while (load_->running() && Clock::now() < deadline) {
      t.expires_after(milliseconds(20));
      co_await t.async_wait(kTuple);
    }
    elapsedAtEnd_ = elapsed();
    try {
      co_await mesh_.scrape();
    } catch (const std::exception&) {
    }
    finalChecks();
  }

  // --- the story ---
  Step& step(const std::string& id) {
    for (auto& s : steps_)
      if (s.id == id) return s;
    throw std::logic_error("unknown step " + id);
  }

  void pass(Step& s, std::string result) {
    s.ran = true;
    s.ok = true;
    s.result = std::move(result);
    narrate(fmt::format("  ✓ {}", s.result));
  }
  void failStep(Step& s, std::string result) {
    if (interrupted_) {  // cut short, not failed
      s.result = "interrupted";
      return;
    }
    s.ran = true;
    s.ok = false;
    s.result = std::move(result);
    narrate(fmt::format("  ✗ {}", s.result));
  }
  void begin(Step& s) {
    current_ = s.title;
    narrate(fmt::format("({}) {}", s.id, s.title));
  }

  uint64_t served(std::string_view instance) const {
    auto& m = load_->perInstance();
    auto it = m.find(std::string(instance));
    return it == m.end() ? 0 : it->second;
  }

  // The proxies' mean peak-EWMA latency estimate for these instances in `cluster`.
  double ewmaMs(std::string_view cluster, std::initializer_list<std::string_view> names) {
    double sum = 0;
    int n = 0;
    for (const auto& snap : mesh_.snapshots()) {
      auto c = snap.clusters.find(std::string(cluster));
      if (c == snap.clusters.end()) continue;
      for (auto name : names) {
        auto* inst = mesh_.find(name);
        if (!inst) continue;
        if (auto e = c->second.find(inst->address); e != c->second.end()) sum += e->second.ewmaMs, ++n;
      }
    }
    return n ? sum / n : 0;
  }

  // Failed connect attempts (timeouts and errors) to web.demo, all proxies.
  double webConnectFailures() {
    return sumMetric("weft_connect_attempts_total", {{"cluster", kWeb}, {"result", "timeout"}}) +
           sumMetric("weft_connect_attempts_total", {{"cluster", kWeb}, {"result", "error"}});
  }

  double sumMetric(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> match) {
    double t = 0;
    for (const auto& s : mesh_.snapshots()) t += s.sum(name, match);
    return t;
  }

  // Publishes and waits for every proxy to converge on `cluster`.
  asio::awaitable<std::optional<double>> apply(std::string_view cluster) {
    mesh_.publish();
    co_return co_await mesh_.waitConverged(cluster, kConvergeTimeout);
  }

  static std::string secs(std::optional<double> s) { return s ? fmt::format("{:.0f} ms", *s * 1000) : "never"; }

  // Replaces instance `oldName` by `newName` in `service` the way a rolling
  // update does: new one up and ready, old one out of discovery, then stopped.
  asio::awaitable<bool> replace(std::string_view service, const std::string& oldName, const std::string& newName,
                                std::string role, std::vector<std::string> args, std::string& detail) {
    co_await mesh_.startInstance(newName, role, std::move(args));
    auto& m = mesh_.members[std::string(service)];
    m.push_back(newName);
    auto added = co_await apply(service);
    std::erase(m, oldName);
    auto removed = co_await apply(service);
    // Requests that picked the old instance just before the proxies dropped
    // it may still be answered; after that nothing may reach it.
    auto atRemoval = served(oldName);
    co_await sleepFor(0.3);
    auto settled = served(oldName);
    co_await mesh_.stopInstance(*mesh_.find(oldName));
    auto late = served(oldName) - settled;
    detail = fmt::format("{} ready in {}, {} out of every proxy in {}; {} answered {} request(s) in flight at its "
                         "removal and {} after",
                         newName, secs(added), oldName, secs(removed), oldName, settled - atRemoval, late);
    co_return added && removed && late == 0;
  }

  asio::awaitable<void> story() {
    double d = options_.durationSeconds;
    // The story spans 10 %..75 % of the run (a step starts late if the one
    // before overran); (d2) is then watched to the end.
    double from = std::max(elapsed() + 1.0, 0.1 * d), to = 0.75 * d;
    gap_ = (to - from) / 8;
    // The chapters are taken one by one from a function, not from a local
    // array indexed across co_await: GCC 12 built that (at -O0, under UBSan)
    // with the index read back as garbage after a resumption.
    size_t next = 0;
    while (auto chapter = chapterAt(next)) {
      if (!co_await sleepUntil(from + gap_ * static_cast<double>(next))) co_return;
      co_await (this->*chapter)();
      ++next;
    }
    co_await sleepUntil(d);
  }

  using StepFn = asio::awaitable<void> (Demo::*)();
  static StepFn chapterAt(size_t i) {
    switch (i) {
      case 0: return &Demo::canary;
      case 1: return &Demo::canaryHalf;
      case 2: return &Demo::promote;
      case 3: return &Demo::deleteOldPods;
      case 4: return &Demo::rollingFirst;
      case 5: return &Demo::rollingSecond;
      case 6: return &Demo::goDark;
      case 7: return &Demo::blackholeListed;
      case 8: return &Demo::agedServers;
      default: return nullptr;
    }
  }

  // (a) a canary promoted through a traffic split (incident 001).
  asio::awaitable<void> canary() {
    auto& s = step("a1");
    begin(s);
    co_await mesh_.startInstance("api-v2-a", "api v2", {});
    mesh_.members[std::string(kApiCanary)] = {"api-v2-a"};
    mesh_.stableWeight = 90;
    mesh_.canaryWeight = 10;
    if (auto t = co_await apply(kApi))
      pass(s, fmt::format("api.demo split 90/10: every proxy routes to api-v2-a after {}", secs(t)));
    else failStep(s, "the proxies did not pick up the canary");
  }

  asio::awaitable<void> canaryHalf() {
    auto& s = step("a2");
    begin(s);
    auto v2Before = served("api-v2-a");
    auto allBefore = load_->stats(Protocol::kH2c).ok;
    mesh_.stableWeight = 50;
    mesh_.canaryWeight = 50;
    auto t = co_await apply(kApi);
    if (!t) {
      failStep(s, "the proxies did not apply the 50/50 split");
      co_return;
    }
    double window = std::min(gap_ * 0.6, 2.0);
    co_await sleepFor(window);
    double share = static_cast<double>(served("api-v2-a") - v2Before) /
                   static_cast<double>(std::max<uint64_t>(1, load_->stats(Protocol::kH2c).ok - allBefore));
    co_await mesh_.scrape();
    // The balancer is latency-aware (P2C over peak-EWMA): shares follow the
    // weights only among endpoints of similar cost, and a new endpoint starts
    // at the default RTT estimate. Say so with the numbers, not hide it.
    pass(s, fmt::format("split 50/50 applied in {}; over the next {:.1f} s the canary took {:.0f} % of api.demo "
                        "(latency estimates: canary {:.1f} ms, stable {:.1f} ms — P2C weighs cost as well as weight)",
                        secs(t), window, share * 100, ewmaMs(kApi, {"api-v2-a"}), ewmaMs(kApi, {"api-v1-a", "api-v1-b"})));
  }

  asio::awaitable<void> promote() {
    auto& s = step("a3");
    begin(s);
    co_await mesh_.startInstance("api-v2-b", "api v2", {});
    mesh_.members[std::string(kApiStable)] = {"api-v2-a", "api-v2-b"};
    mesh_.stableWeight = 100;
    mesh_.canaryWeight = 0;
    if (auto t = co_await apply(kApi))
      pass(s, fmt::format("api-stable now selects the v2 pods; every proxy's api.demo set is exactly "
                          "{{api-v2-a, api-v2-b}} after {}",
                          secs(t)));
    else failStep(s, "the proxies kept other endpoints for api.demo");
  }

  asio::awaitable<void> deleteOldPods() {
    auto& s = step("a4");
    begin(s);
    auto v1Before = served("api-v1-a") + served("api-v1-b");
    co_await mesh_.stopInstance(*mesh_.find("api-v1-a"));
    co_await mesh_.stopInstance(*mesh_.find("api-v1-b"));
    co_await sleepFor(0.5);
    co_await mesh_.scrape();
    bool exact = true;
    for (const auto& snap : mesh_.snapshots()) {
      auto it = snap.clusters.find(std::string(kApi));
      exact = exact && it != snap.clusters.end() && it->second.size() == 2;
    }
    auto v1Late = served("api-v1-a") + served("api-v1-b") - v1Before;
    if (exact && v1Late == 0)
      pass(s, "old pods deleted: no proxy holds a stale endpoint (pending + ready + failed = 2 = the discovered set), "
              "no request reached v1 after the promotion");
    else failStep(s, fmt::format("stale: exact sets {}, v1 answered {} after promotion", exact, v1Late));
  }

  // (b) a rolling update of web: instances replaced one by one.
  asio::awaitable<void> rollingFirst() {
    auto& s = step("b1");
    begin(s);
    rolloutFailedBefore_ = load_->stats(Protocol::kHttp1).failed;
    std::string detail;
    if (co_await replace(kWeb, "web-1", "web-3", "web", {}, detail)) pass(s, detail);
    else failStep(s, detail);
  }

  asio::awaitable<void> rollingSecond() {
    auto& s = step("b2");
    begin(s);
    std::string detail;
    bool ok = co_await replace(kWeb, "web-2", "web-4", "web", {}, detail);
    auto failed = load_->stats(Protocol::kHttp1).failed - rolloutFailedBefore_;
    detail += fmt::format("; HTTP/1.1 failures during the rollout: {}", failed);
    if (ok && failed == 0) pass(s, detail);
    else failStep(s, detail);
  }

  // (c) an instance goes dark without a RST (incident 003).
  asio::awaitable<void> goDark() {
    auto& s = step("c1");
    begin(s);
    co_await mesh_.startInstance("web-5", "web", {});
    mesh_.members[std::string(kWeb)].push_back("web-5");
    auto upIn = co_await apply(kWeb);
    std::erase(mesh_.members[std::string(kWeb)], "web-3");
    auto outIn = co_await apply(kWeb);
    auto* dark = mesh_.find("web-3");
    mesh_.darken(*dark);
    darkSince_ = elapsed();
    darkBaseline_ = pendingConnections(dark->port).value_or(-1);
    if (upIn && outIn && darkBaseline_ >= 0)
      pass(s, fmt::format("web-5 ready in {}; web-3 out of discovery in {}, then SIGSTOPped: it answers nothing, "
                          "sends no FIN and no RST (its accept queue now counts any dial: {})",
                          secs(upIn), secs(outIn), darkBaseline_));
    else failStep(s, "discovery did not converge around the dark instance");
  }

  // (c) continued: a blackholed address that discovery still lists.
  asio::awaitable<void> blackholeListed() {
    auto& s = step("c2");
    begin(s);
    // (Named locals, not braced temporaries, in co_await expressions: GCC 12
    // miscompiles the latter in coroutines.)
    std::vector<std::string> args = {"--backlog", "0"};
    auto* ghost = co_await mesh_.startInstance("web-ghost", "web ghost", std::move(args));
    bool holed = mesh_.blackhole(*ghost);
    co_await mesh_.scrape();
    double dialsBefore = webConnectFailures();
    auto dropsBefore = listenDrops();
    const auto& h1 = load_->stats(Protocol::kHttp1);
    auto sentBefore = h1.ok + h1.failed, failedBefore = h1.failed;
    mesh_.members[std::string(kWeb)].push_back("web-ghost");
    mesh_.publish();
    std::set<std::string> notReady = {ghost->address};
    auto listedIn = co_await mesh_.waitConverged(kWeb, kConvergeTimeout, std::move(notReady));
    auto listedAt = elapsed();
    co_await sleepFor(std::clamp(gap_, 3.0, 8.0));
    double listedFor = elapsed() - listedAt;
    std::erase(mesh_.members[std::string(kWeb)], "web-ghost");
    auto outIn = co_await apply(kWeb);
    double dials = webConnectFailures() - dialsBefore;
    auto dropsAfter = listenDrops();
    auto sent = h1.ok + h1.failed - sentBefore, failed = h1.failed - failedBefore;
    // One attempt at a time per proxy worker, each bounded by the 1 s
    // connect timeout, backed off in between: never one per request.
    double bound = static_cast<double>(mesh_.proxyCount()) * (listedFor / 1.0 + 2);
    std::string syns = dropsBefore && dropsAfter
                           ? fmt::format("; the kernel dropped {} SYNs at full listen queues (machine-wide)",
                                         *dropsAfter - *dropsBefore)
                           : "";
    auto text = fmt::format(
        "blackholed web-ghost listed for {:.1f} s: the proxies dialed it {:.0f} times (bound {:.0f}: backoff, 1 s "
        "connect timeout) while {} requests to web.demo went to ready endpoints, {} failed{}; removed in {}",
        listedFor, dials, bound, sent, failed, syns, secs(outIn));
    if (holed && listedIn && outIn && failed == 0 && dials <= bound) pass(s, text);
    else failStep(s, text + (holed ? "" : " (its listen queue could not be filled)"));
    // An attempt under way at the removal may still time out; after one
    // connect timeout nothing may dial it any more (checked at the end).
    co_await sleepFor(1.2);
    co_await mesh_.scrape();
    ghostDialsBaseline_ = webConnectFailures();
    ghostRemovedAt_ = elapsed();
  }

  // (d) servers with a short max connection age (incident 005).
  asio::awaitable<void> agedServers() {
    auto& s = step("d1");
    begin(s);
    std::vector<std::string> aged = {"--max-connection-age", fmt::format("{}ms", kMaxAgeMs),
                                     "--max-connection-age-grace", "2s", "--delay", "2ms"};
    std::string first, second;
    bool okA = co_await replace(kEcho, "echo-1", "echo-3", "echo aged", aged, first);
    bool okB = co_await replace(kEcho, "echo-2", "echo-4", "echo aged", aged, second);
    if (okA && okB) pass(s, first + "; " + second);
    else failStep(s, first + "; " + second);
    co_await mesh_.scrape();
    agedConnectsBefore_ = sumMetric("weft_connect_attempts_total", {{"cluster", kEcho}, {"result", "ok"}});
    notProcessedBefore_ = sumMetric("weft_retries_total", {{"reason", "not-processed"}});
    grpcFailedBefore_ = load_->stats(Protocol::kGrpc).failed;
    agedSince_ = elapsed();
    narrate(fmt::format("(d2) watching gRPC through servers that GOAWAY every connection after ~{} ms", kMaxAgeMs));
    current_ = "(d2) gRPC through servers with a 1 s max connection age; web-3 still dark";
  }

  // Checks that hold over the whole tail of the run: the dark instance was
  // never dialed; max-age connections cycled and gRPC kept succeeding.
  void finalChecks() {
    auto& c3 = step("c3");
    if (darkSince_ > 0) {
      auto* dark = mesh_.find("web-3");
      int now = dark ? pendingConnections(dark->port).value_or(-1) : -1;
      bool listed = false;
      for (const auto& s : mesh_.snapshots()) {
        auto it = s.clusters.find(std::string(kWeb));
        listed = listed || (it != s.clusters.end() && dark && it->second.count(dark->address));
      }
      double span = elapsedAtEnd_ - darkSince_;
      c3.ran = true;
      c3.ok = now == darkBaseline_ && !listed;
      c3.result = c3.ok ? fmt::format("dark web-3: dialed 0 times in {:.1f} s, in no proxy's endpoint set", span)
                        : fmt::format("dark web-3: {} new connection(s) in {:.1f} s, listed by a proxy: {}",
                                      now - darkBaseline_, span, listed);
      if (ghostRemovedAt_ > 0) {
        double late = webConnectFailures() - ghostDialsBaseline_;
        c3.ok = c3.ok && late == 0;
        c3.result += fmt::format("; web-ghost dialed {:.0f} times in the {:.1f} s after its removal",
                                 late, elapsedAtEnd_ - ghostRemovedAt_);
      } else {
        c3.ok = false;
        c3.result += "; the blackhole step did not run";
      }
    }
    auto& d2 = step("d2");
    if (agedSince_ > 0) {
      double span = elapsedAtEnd_ - agedSince_;
      double connects = sumMetric("weft_connect_attempts_total", {{"cluster", kEcho}, {"result", "ok"}}) - agedConnectsBefore_;
      double notProcessed = sumMetric("weft_retries_total", {{"reason", "not-processed"}}) - notProcessedBefore_;
      const auto& g = load_->stats(Protocol::kGrpc);
      auto code = [&](int c) {
        auto it = g.grpcStatus.find(c);
        return it == g.grpcStatus.end() ? uint64_t{0} : it->second;
      };
      uint64_t failed = g.failed - grpcFailedBefore_;
      // Enough time for the age to pass at least once per proxy connection.
      bool cycled = span < 2.0 * kMaxAgeMs / 1000.0 || connects >= 1;
      d2.ran = true;
      d2.ok = cycled && failed == 0 && code(13) == 0;
      d2.result = fmt::format("{:.1f} s: {:.0f} new proxy connections to echo (GOAWAY after max age), {:.0f} "
                              "not-processed retries; gRPC failures {} (UNAVAILABLE {}, INTERNAL {} overall)",
                              span, connects, notProcessed, failed, code(14), code(13));
    }
  }

  bool success() const {
    if (!fatal_.empty() || !load_) return false;
    if (load_->totalFailed() != 0 || load_->totalRequests() == 0) return false;
    for (const auto& s : steps_)
      if (!s.ran || !s.ok) return false;
    return true;
  }

  // --- the live view ---
  asio::awaitable<void> viewLoop() {
    asio::steady_timer t(ctx_);
    double lastPlain = 0;
    while (!finished_ && !interrupted_) {
      t.expires_after(milliseconds(1000));
      co_await t.async_wait(kTuple);
      if (finished_ || interrupted_) break;
      if (auto dead = mesh_.deadControlPlane(); !dead.empty() && fatal_.empty()) {
        fatal_ = dead + " exited during the demo";
        narrate(fatal_);
      }
      try {
        co_await mesh_.scrape();
      } catch (const std::exception&) {
        continue;
      }
      auto m = model();
      if (tty_) {
        std::fputs(renderTty(m).c_str(), stdout);
      } else if (elapsed() - lastPlain >= 5) {
        lastPlain = elapsed();
        std::printf("%s\n", renderPlain(m).c_str());
      }
      std::fflush(stdout);
      load_->takeWindow();
    }
  }

  ViewModel model() {
    ViewModel m;
    m.elapsed = elapsed();
    m.duration = options_.durationSeconds;
    m.step = current_;
    auto clusterOf = [](const Instance& i) -> std::string_view {
      if (i.role.starts_with("web")) return kWeb;
      if (i.role.starts_with("api")) return kApi;
      return kEcho;
    };
    for (const auto& i : mesh_.instances()) {
      ViewRow r;
      r.service = std::string(clusterOf(*i)) + (i->role.find(' ') != std::string::npos ? " " + i->role.substr(i->role.find(' ') + 1) : "");
      r.instance = i->name;
      r.address = i->address;
      r.status = i->state == Instance::State::kRunning ? "running" : i->state == Instance::State::kDark ? "DARK" : "stopped";
      for (const auto& s : mesh_.snapshots()) {
        auto c = s.clusters.find(std::string(clusterOf(*i)));
        std::string st = "-";
        if (c != s.clusters.end())
          if (auto e = c->second.find(i->address); e != c->second.end()) {
            st = e->second.state;
            r.ewmaMs += e->second.ewmaMs / static_cast<double>(mesh_.snapshots().size());
          }
        r.proxyStates.push_back(st);
      }
      auto w = load_->windowPerInstance().find(i->name);
      r.perSecond = w == load_->windowPerInstance().end() ? 0 : w->second;
      r.total = served(i->name);
      m.rows.push_back(std::move(r));
    }
    for (auto p : kProtocols) {
      const auto& s = load_->stats(p);
      ViewProtocolLine l;
      l.name = std::string(protocolName(p));
      l.ok = s.ok;
      l.failed = s.failed;
      l.windowOk = s.windowLatencyUs.size();
      l.windowFailed = s.windowFailed;
      l.p50Ms = percentileMs(s.windowLatencyUs, 50);
      l.p99Ms = percentileMs(s.windowLatencyUs, 99);
      if (p == Protocol::kGrpc) {
        auto code = [&](int c) {
          auto it = s.grpcStatus.find(c);
          return it == s.grpcStatus.end() ? uint64_t{0} : it->second;
        };
        l.extra = fmt::format("UNAVAILABLE {}  INTERNAL {}", code(14), code(13));
      }
      m.protocols.push_back(std::move(l));
    }
    m.proxies = fmt::format(
        "proxies: retries not-processed {:.0f}, connect-failed {:.0f}, status {:.0f}; proxy errors {:.0f}; "
        "upstream connects ok {:.0f}, failed {:.0f}",
        sumMetric("weft_retries_total", {{"reason", "not-processed"}}),
        sumMetric("weft_retries_total", {{"reason", "connect-failed"}}),
        sumMetric("weft_retries_total", {{"reason", "status"}}), sumMetric("weft_proxy_errors_total", {}),
        sumMetric("weft_connect_attempts_total", {{"result", "ok"}}),
        sumMetric("weft_connect_attempts_total", {{"result", "error"}}) +
            sumMetric("weft_connect_attempts_total", {{"result", "timeout"}}));
    size_t from = story_.size() > 8 ? story_.size() - 8 : 0;
    m.story.assign(story_.begin() + static_cast<long>(from), story_.end());
    const auto& f = load_->recentFailures();
    for (size_t i = f.size() > 5 ? f.size() - 5 : 0; i < f.size(); ++i)
      m.failures.push_back(fmt::format("[{:5.1f}s] {}", f[i].atSeconds, f[i].what));
    return m;
  }

  // --- the end ---
  void printSummary(const std::vector<std::string>& killed, bool leftovers) {
    if (tty_) {
      std::printf("story\n");
      for (const auto& s : story_) std::printf("  %s\n", s.c_str());
    }
    std::printf("\ndemo: summary after %.1f s (discovery: %s)\n", elapsedAtEnd_ > 0 ? elapsedAtEnd_ : elapsed(),
                options_.discovery.c_str());
    uint64_t total = 0, failed = 0;
    std::vector<uint32_t> all;
    if (load_) {
      std::printf("  %-10s%10s%8s%10s%10s\n", "protocol", "requests", "errors", "p50 ms", "p99 ms");
      for (auto p : kProtocols) {
        const auto& s = load_->stats(p);
        total += s.ok + s.failed;
        failed += s.failed;
        all.insert(all.end(), s.latencyUs.begin(), s.latencyUs.end());
        std::printf("  %-10s%10llu%8llu%10.2f%10.2f\n", std::string(protocolName(p)).c_str(),
                    static_cast<unsigned long long>(s.ok + s.failed), static_cast<unsigned long long>(s.failed),
                    percentileMs(s.latencyUs, 50), percentileMs(s.latencyUs, 99));
        for (const auto& [why, n] : s.failures)
          std::printf("      %llu × %s\n", static_cast<unsigned long long>(n), why.c_str());
      }
      const auto& g = load_->stats(Protocol::kGrpc);
      std::string codes;
      for (const auto& [c, n] : g.grpcStatus) codes += fmt::format(" {}={}", c, n);
      std::printf("  gRPC statuses:%s\n", codes.c_str());
      std::printf("  per instance:");
      for (const auto& [name, n] : load_->perInstance()) std::printf(" %s=%llu", name.c_str(), static_cast<unsigned long long>(n));
      std::printf("\n");
    }
    if (!mesh_.snapshots().empty())
      std::printf("  weft: retries not-processed %.0f, connect-failed %.0f, status %.0f; proxy errors %.0f\n",
                  sumMetric("weft_retries_total", {{"reason", "not-processed"}}),
                  sumMetric("weft_retries_total", {{"reason", "connect-failed"}}),
                  sumMetric("weft_retries_total", {{"reason", "status"}}), sumMetric("weft_proxy_errors_total", {}));
    size_t stepsOk = 0;
    std::printf("  story:\n");
    for (const auto& s : steps_) {
      stepsOk += s.ran && s.ok;
      std::printf("    %s (%s) %s%s%s\n", !s.ran ? "·" : s.ok ? "✓" : "✗", s.id.c_str(), s.title.c_str(),
                  s.result.empty() ? "" : " — ", s.result.c_str());
    }
    if (!killed.empty()) {
      std::string names;
      for (const auto& k : killed) names += " " + k;
      std::printf("  needed SIGKILL to stop:%s\n", names.c_str());
    }
    if (!fatal_.empty()) std::printf("  error: %s\n", fatal_.c_str());
    double p99 = percentileMs(all, 99);
    // One machine-readable line (tests and scripts read it).
    std::printf("demo: result requests=%llu errors=%llu p99_ms=%.2f steps=%zu/%zu leftovers=%d\n",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(failed), p99, stepsOk,
                steps_.size(), leftovers ? 1 : 0);
    if (interrupted_) std::printf("demo: interrupted — every process it started is stopped\n");
    else if (success() && !leftovers)
      std::printf("demo: OK — every one of %llu requests succeeded (p99 %.2f ms) and every story step held\n",
                  static_cast<unsigned long long>(total), p99);
    else std::printf("demo: FAILED — see the errors and steps above\n");
    std::fflush(stdout);
  }

  asio::io_context& ctx_;
  DemoOptions options_;
  Mesh mesh_;
  bool tty_;
  std::unique_ptr<LoadGenerator> load_;
  Clock::time_point start_ = Clock::now();
  bool interrupted_ = false;
  bool finished_ = false;
  std::string fatal_;
  std::string current_ = "starting the mesh";
  std::vector<std::string> story_;
  double elapsedAtEnd_ = 0;
  double gap_ = 1;
  uint64_t rolloutFailedBefore_ = 0;
  double darkSince_ = 0;
  double ghostRemovedAt_ = 0;
  double ghostDialsBaseline_ = 0;
  int darkBaseline_ = -1;
  double agedSince_ = 0;
  double agedConnectsBefore_ = 0;
  double notProcessedBefore_ = 0;
  uint64_t grpcFailedBefore_ = 0;
  std::vector<Step> steps_ = {
      {"a1", "canary: api-v2-a deployed behind the api.demo traffic split (90/10)"},
      {"a2", "canary: split shifted to 50/50"},
      {"a3", "promotion: api-stable's endpoints replaced by the canary pods"},
      {"a4", "promotion: the old v1 pods are deleted"},
      {"b1", "rolling update: web-3 replaces web-1"},
      {"b2", "rolling update: web-4 replaces web-2"},
      {"c1", "web-3 goes dark without a RST (removed from discovery, then SIGSTOP)"},
      {"c2", "a blackholed address stays in discovery: SYNs dropped, no RST, no ICMP"},
      {"c3", "what discovery removed is never dialed again"},
      {"d1", "echo servers with a 1 s max connection age replace echo-1 and echo-2"},
      {"d2", "gRPC through max-connection-age GOAWAYs: no failure, never INTERNAL"},
  };
};

}  // namespace

int runDemo(const DemoOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  asio::io_context ctx(1);
  Demo demo(ctx, options);
  asio::signal_set signals(ctx, SIGINT, SIGTERM);
  std::function<void()> arm = [&] {
    signals.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      demo.interrupt();
      arm();
    });
  };
  arm();
  asio::co_spawn(ctx, demo.run(), asio::detached);
  ctx.run();
  return demo.finish();
}

}  // namespace weft::cli
