// weft: one binary, several jobs (docs/architecture.md §1).
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "core/logging.h"
#include "proxy/config.h"
#include "proxy/proxy_main.h"
#ifdef WEFT_HAVE_CONTROLLER
#include "controller/controller_main.h"
#endif

int main(int argc, char** argv) {
  CLI::App app{"weft — a service mesh: sidecar proxy, controller and operator CLI"};
  app.require_subcommand(1);

  std::string proxyConfig;
  bool checkOnly = false;
  auto* proxyCmd = app.add_subcommand("proxy", "run the sidecar proxy");
  proxyCmd->add_option("--config", proxyConfig, "proxy YAML config")->required();
  proxyCmd->add_flag("--check-config", checkOnly, "validate the config and exit");

#ifdef WEFT_HAVE_CONTROLLER
  std::string controllerConfig;
  auto* controllerCmd = app.add_subcommand("controller", "run the control plane (xDS server)");
  controllerCmd->add_option("--config", controllerConfig, "controller YAML config")->required();
#endif

  CLI11_PARSE(app, argc, argv);

#ifdef WEFT_HAVE_CONTROLLER
  if (controllerCmd->parsed()) return weft::controller::runController(controllerConfig);
#endif

  if (proxyCmd->parsed()) {
    weft::proxy::ProxyConfig cfg;
    try {
      cfg = weft::proxy::loadProxyConfig(proxyConfig);
    } catch (const weft::proxy::ConfigError& e) {
      std::fprintf(stderr, "weft: bad config: %s\n", e.describe().c_str());
      return 2;
    }
    if (checkOnly) {
      std::printf("config ok: %s\n", proxyConfig.c_str());
      return 0;
    }
    weft::initLogging(cfg.logLevel);
    return weft::proxy::runProxy(std::move(cfg));
  }
  return 0;
}
