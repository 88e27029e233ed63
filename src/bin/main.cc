// weft: one binary, several jobs (docs/architecture.md §1).
#include <cstdio>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/demo.h"
#include "cli/sample_server.h"
#include "core/logging.h"
#include "proxy/config.h"
#include "proxy/proxy_main.h"
#include "xds/module_loader.h"

int main(int argc, char** argv) {
  CLI::App app{"weft — a service mesh: sidecar proxy, controller and operator CLI"};
  app.require_subcommand(1);

  std::string proxyConfig;
  bool checkOnly = false;
  auto* proxyCmd = app.add_subcommand("proxy", "run the sidecar proxy");
  proxyCmd->add_option("--config", proxyConfig, "proxy YAML config")->required();
  proxyCmd->add_flag("--check-config", checkOnly, "validate the config and exit");

  // The controller lives in weft-xds.so with the rest of the gRPC code
  // (xds/xds_module.h); without the module the command says so and exits 1.
  std::string controllerConfig;
  auto* controllerCmd = app.add_subcommand("controller", "run the control plane (xDS server)");
  controllerCmd->add_option("--config", controllerConfig, "controller YAML config")->required();

  // Operator CLI (docs/cli.md): exit codes 0 ok, 1 problem found, 2 usage, 3 unreachable.
  namespace cli = weft::cli;
  std::string tapDuration, statInterval = "1s";
  cli::TapOptions tap;
  auto* tapCmd = app.add_subcommand("tap", "stream live requests through a proxy");
  tapCmd->add_option("--proxy", tap.proxy, "proxy admin address (HOST:PORT)")->required();
  tapCmd->add_option("--authority", tap.authority, "only this authority");
  tapCmd->add_option("--path", tap.path, "only paths starting with this");
  tapCmd->add_option("--status", tap.status, "only this status code (503) or class (5xx)");
  tapCmd->add_option("--method", tap.method, "only this method");
  tapCmd->add_option("--direction", tap.direction, "outbound or inbound");
  tapCmd->add_flag("--errors", tap.errors, "only failures: 5xx, proxy errors, non-OK grpc-status");
  tapCmd->add_flag("--json", tap.json, "NDJSON records as the proxy sends them");
  tapCmd->add_option("--count,-n", tap.count, "stop after N requests");
  tapCmd->add_option("--duration", tapDuration, "stop after this long (10s, 2m)");

  cli::StatOptions stat;
  auto* statCmd = app.add_subcommand("stat", "golden metrics per authority and endpoint");
  statCmd->add_option("--proxy", stat.proxies, "proxy admin address (repeatable)")->required();
  statCmd->add_option("--authority", stat.authority, "only this authority");
  statCmd->add_option("--interval", statInterval, "sampling interval (default 1s)");
  statCmd->add_flag("--watch,-w", stat.watch, "refresh every interval until interrupted");
  statCmd->add_option("--iterations", stat.iterations, "with --watch: stop after N tables");
  statCmd->add_flag("--json", stat.json, "one JSON document per table");

  cli::CheckOptions check;
  std::string checkConfig;
  auto* checkCmd = app.add_subcommand("check", "checklist of the mesh's health; non-zero exit on any failure");
  checkCmd->add_option("--config", checkConfig, "proxy config to validate (also gives its admin and controller)");
  checkCmd->add_option("--controller", check.controller, "controller admin address (HOST:PORT)");
  checkCmd->add_option("--xds", check.xds, "controller xDS address (default: the config's controller)");
  checkCmd->add_option("--proxy", check.proxies, "proxy admin address (repeatable)");
  checkCmd->add_flag("--json", check.json, "machine-readable results");

  cli::LogLevelOptions logLevel;
  auto* logCmd = app.add_subcommand("log-level", "get or set a proxy's log level");
  logCmd->add_option("--proxy", logLevel.proxy, "proxy (or controller) admin address")->required();
  logCmd->add_option("level", logLevel.level, "trace, debug, info, warn, error or off; omit to get");
  logCmd->add_flag("--json", logLevel.json, "machine-readable output");

  cli::EndpointsOptions endpoints;
  auto* endpointsCmd = app.add_subcommand("endpoints", "controller's endpoint set next to each proxy's, divergence flagged");
  endpointsCmd->add_option("authority", endpoints.authority, "service authority, e.g. api.test:80")->required();
  endpointsCmd->add_option("--controller", endpoints.controller, "controller admin address");
  endpointsCmd->add_option("--proxy", endpoints.proxies, "proxy admin address (repeatable)");
  endpointsCmd->add_flag("--json", endpoints.json, "machine-readable output");

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : cli::kExitUsage;
  }

  if (tapCmd->parsed()) {
    if (!tapDuration.empty()) {
      auto d = cli::parseDuration(tapDuration);
      if (!d) {
        std::fprintf(stderr, "weft tap: --duration: '%s' is not a duration (10s, 500ms, 2m)\n", tapDuration.c_str());
        return cli::kExitUsage;
      }
      tap.duration = *d;
    }
    return cli::runTap(tap);
  }
  if (statCmd->parsed()) {
    auto d = cli::parseDuration(statInterval);
    if (!d || d->count() < 100) {
      std::fprintf(stderr, "weft stat: --interval: '%s' is not a duration of at least 100ms\n", statInterval.c_str());
      return cli::kExitUsage;
    }
    stat.interval = *d;
    return cli::runStat(stat);
  }
  if (checkCmd->parsed()) {
    if (!checkConfig.empty()) {
      // Validated here: cli/ may not depend on proxy/ (docs/architecture.md §4).
      cli::ConfigFacts facts;
      facts.path = checkConfig;
      try {
        auto cfg = weft::proxy::loadProxyConfig(checkConfig);
        facts.valid = true;
        facts.admin = cfg.admin;
        facts.controller = cfg.controller;
        if (cfg.outbound) facts.listeners.emplace_back("outbound", *cfg.outbound);
        if (cfg.inbound) facts.listeners.emplace_back("inbound", *cfg.inbound);
        facts.listeners.emplace_back("admin", cfg.admin);
      } catch (const weft::proxy::ConfigError& e) {
        facts.error = e.describe();
      }
      check.config = std::move(facts);
    }
    return cli::runCheck(check);
  }
  if (logCmd->parsed()) return cli::runLogLevel(logLevel);
  if (endpointsCmd->parsed()) return cli::runEndpoints(endpoints);

  if (sampleCmd->parsed()) {
    if (sampleAgeMs > 0) sample.maxConnectionAge = std::chrono::milliseconds(sampleAgeMs);
    sample.maxConnectionAgeGrace = std::chrono::milliseconds(sampleGraceMs);
    sample.delay = std::chrono::milliseconds(sampleDelayMs);
    weft::initLogging("warn");
    return weft::cli::runSampleServer(sample);
  }
  if (demoCmd->parsed()) return weft::cli::runDemo(demo);

  if (controllerCmd->parsed()) {
    const weft::xds::ModuleApi* xds = nullptr;
    try {
      xds = &weft::xds::loadModule();
    } catch (const weft::xds::ModuleUnavailable& e) {
      std::fprintf(stderr, "weft: %s\n", e.what());
      return 1;
    }
    return xds->runController(controllerConfig);
  }

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
