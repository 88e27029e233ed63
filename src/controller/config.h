#pragma once
// The controller's YAML configuration (DESIGN.md §9, docs/controller.md).
// Loaded once on the main thread at start-up.
#include <stdexcept>
#include <string>

namespace weft::controller {

struct ControllerConfig {
  std::string xds = "127.0.0.1:18000";    // ADS listen address
  std::string admin = "127.0.0.1:9990";   // admin listen address
  std::string sourceFile;                 // absolute, or relative to the working directory
  std::string logLevel = "info";
};

// A config problem, with the file and the key it concerns.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::string key, const std::string& what)
      : std::runtime_error(what), file(std::move(file)), key(std::move(key)) {}
  std::string file;
  std::string key;
  std::string describe() const { return file + ": " + key + ": " + what(); }  // "FILE: KEY: what"
};

// Throws ConfigError. `source.file` is resolved relative to the config file's folder.
ControllerConfig loadControllerConfig(const std::string& path);

}  // namespace weft::controller
