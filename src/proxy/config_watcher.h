#pragma once
// Reloads the proxy config on SIGHUP and when the file changes (mtime/size
// polled once a second — no inotify dependency, and it also catches editors
// that replace the file). A config that fails to parse is rejected with a
// logged reason and counted; the running config stays. Main thread only.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/config.h"

namespace weft::proxy {

class ConfigWatcher {
 public:
  using Apply = std::function<void(std::shared_ptr<const ProxyConfig>)>;
  ConfigWatcher(boost::asio::io_context& ctx, std::string path, Apply apply);
  void start();
  void stop();
  // Loads and applies now; returns false (and keeps the old config) on error.
  bool reload(const char* why);

 private:
  void poll();
  void waitSignal();
  struct Stamp {
    std::filesystem::file_time_type mtime{};
    uintmax_t size = 0;
    bool operator==(const Stamp&) const = default;
  };
  Stamp stamp() const;

  std::string path_;
  Apply apply_;
  boost::asio::steady_timer timer_;
  boost::asio::signal_set hup_;
  Stamp last_;
  bool stopped_ = false;
};

}  // namespace weft::proxy
