#include "proxy/config_watcher.h"

#include <csignal>

#include "core/logging.h"
#include "core/metrics.h"

namespace weft::proxy {

ConfigWatcher::ConfigWatcher(boost::asio::io_context& ctx, std::string path, Apply apply)
    : path_(std::move(path)), apply_(std::move(apply)), timer_(ctx), hup_(ctx, SIGHUP) {
  last_ = stamp();
}

ConfigWatcher::Stamp ConfigWatcher::stamp() const {
  std::error_code ec;
  Stamp s;
  s.mtime = std::filesystem::last_write_time(path_, ec);
  s.size = std::filesystem::file_size(path_, ec);
  return s;
}

void ConfigWatcher::start() {
  poll();
  waitSignal();
}

void ConfigWatcher::stop() {
  stopped_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  hup_.cancel(ignored);
}

bool ConfigWatcher::reload(const char* why) {
  auto& reg = MetricsRegistry::global();
  static Counter& applied = reg.counter("weft_config_reloads_total", "Config reloads", labelPair("result", "applied"));
  static Counter& rejected = reg.counter("weft_config_reloads_total", "Config reloads", labelPair("result", "rejected"));
  try {
    auto cfg = std::make_shared<const ProxyConfig>(loadProxyConfig(path_));
    WEFT_LOG_INFO("config reloaded ({}): {} cluster(s)", why, cfg->clusters.size());
    applied.inc();
    apply_(std::move(cfg));
    return true;
  } catch (const ConfigError& e) {
    WEFT_LOG_ERROR("config reload ({}) rejected, keeping the running config: {}", why, e.describe());
    rejected.inc();
    return false;
  }
}

void ConfigWatcher::poll() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    auto now = stamp();
    if (!(now == last_)) {
      last_ = now;
      reload("file changed");
    }
    poll();
  });
}

void ConfigWatcher::waitSignal() {
  hup_.async_wait([this](boost::system::error_code ec, int) {
    if (ec || stopped_) return;
    last_ = stamp();
    reload("SIGHUP");
    waitSignal();
  });
}

}  // namespace weft::proxy
