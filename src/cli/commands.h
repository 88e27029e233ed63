#pragma once
// The operator CLI's commands (docs/cli.md): each takes its parsed options,
// talks to proxies and controllers over their admin APIs only
// (cli/admin_client.h), prints to stdout (errors to stderr) and returns the
// process exit code. Main thread; they block (every network wait has a
// deadline); no exceptions escape.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weft::cli {

// Exit codes, the same for every command (docs/cli.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitProblem = 1;      // the command ran and found a problem (check failed, divergence)
inline constexpr int kExitUsage = 2;        // bad flags or arguments
inline constexpr int kExitUnreachable = 3;  // a required admin API could not be reached or answered badly

// "250ms", "10s", "2m", or a plain number of seconds ("1.5"). nullopt otherwise.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

struct TapOptions {
  std::string proxy;
  std::string authority, path, status, method, direction;
  bool errors = false;
  bool json = false;
  uint64_t count = 0;               // stop after N requests (0: no limit)
  std::chrono::milliseconds duration{0};  // stop after this long (0: until interrupted)
};
int runTap(const TapOptions& o);

struct StatOptions {
  std::vector<std::string> proxies;
  std::string authority;            // only this authority (cluster)
  std::chrono::milliseconds interval{1000};
  bool watch = false;
  uint64_t iterations = 0;          // with --watch: stop after N tables (0: until interrupted)
  bool json = false;
};
int runStat(const StatOptions& o);

// The result of validating a proxy config file, done by the caller (bin/
// may read proxy configs; cli/ may not depend on proxy/).
struct ConfigFacts {
  std::string path;
  bool valid = false;
  std::string error;                // when !valid
  std::string admin;                // the proxy's admin address
  std::optional<std::string> controller;  // its xDS address
  std::vector<std::pair<std::string, std::string>> listeners;  // (role, address) to probe
};

struct CheckOptions {
  std::optional<ConfigFacts> config;
  std::string controller;           // controller admin address
  std::string xds;                  // controller xDS address (default: the config's `controller`)
  std::vector<std::string> proxies; // default: the config's admin address
  bool json = false;
};
int runCheck(const CheckOptions& o);

struct LogLevelOptions {
  std::string proxy;
  std::string level;                // empty: get
  bool json = false;
};
int runLogLevel(const LogLevelOptions& o);

struct EndpointsOptions {
  std::string authority;
  std::string controller;           // controller admin address (optional if proxies given)
  std::vector<std::string> proxies;
  bool json = false;
};
int runEndpoints(const EndpointsOptions& o);

}  // namespace weft::cli
