// weft: one binary, several jobs (docs/architecture.md §1).
#include <cstdio>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/demo.h"
#include "cli/sample_server.h"
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

  // Durations on the command line: "500ms", "2s", "1m" or bare milliseconds.
  auto durationUnits = CLI::AsNumberWithUnit(std::map<std::string, int64_t>{{"ms", 1}, {"s", 1000}, {"m", 60000}},
                                              CLI::AsNumberWithUnit::CASE_SENSITIVE);

  weft::cli::SampleServerOptions sample;
  int64_t sampleAgeMs = 0, sampleGraceMs = sample.maxConnectionAgeGrace.count(), sampleDelayMs = 0;
  auto* sampleCmd = app.add_subcommand("sample-server", "run the demo's sample service (HTTP/1.1, h2c and gRPC on one port)");
  sampleCmd->add_option("--listen", sample.listen, "ip:port to listen on (port 0: any)")->capture_default_str();
  sampleCmd->add_option("--name", sample.name, "instance name sent in every answer (x-instance)")->capture_default_str();
  sampleCmd->add_option("--max-connection-age", sampleAgeMs, "drain connections older than this (GOAWAY, then close)")
      ->transform(durationUnits);
  sampleCmd->add_option("--max-connection-age-grace", sampleGraceMs, "in-flight grace after a connection's GOAWAY")
      ->transform(durationUnits);
  sampleCmd->add_option("--delay", sampleDelayMs, "wait this long before every answer")->transform(durationUnits);
  sampleCmd->add_option("--backlog", sample.backlog, "listen backlog")->capture_default_str();

  weft::cli::DemoOptions demo;
  auto* demoCmd = app.add_subcommand("demo", "start a small mesh on loopback and play the incidents as a story");
  demoCmd->add_option("--duration", demo.durationSeconds, "seconds to run (the story scales to fit)")
      ->capture_default_str()
      ->check(CLI::Range(20.0, 3600.0));
  demoCmd->add_flag("--no-tty", demo.noTty, "plain periodic lines instead of the live view");
  demoCmd->add_flag("--keep", demo.keep, "keep the temporary folder (configs, logs) after the demo");
  demoCmd->add_option("--discovery", demo.discovery, "how proxies learn endpoints: controller | static")
      ->check(CLI::IsMember({"controller", "static"}))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  if (sampleCmd->parsed()) {
    if (sampleAgeMs > 0) sample.maxConnectionAge = std::chrono::milliseconds(sampleAgeMs);
    sample.maxConnectionAgeGrace = std::chrono::milliseconds(sampleGraceMs);
    sample.delay = std::chrono::milliseconds(sampleDelayMs);
    weft::initLogging("warn");
    return weft::cli::runSampleServer(sample);
  }
  if (demoCmd->parsed()) return weft::cli::runDemo(demo);

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
