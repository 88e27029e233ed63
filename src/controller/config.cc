#include "controller/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/logging.h"
#include "net/address.h"

namespace weft::controller {
namespace {

void onlyKeys(const std::string& file, const YAML::Node& map, const std::string& where,
              std::initializer_list<const char*> allowed) {
  if (!map.IsMap()) throw ConfigError(file, where, "must be a mapping");
  for (const auto& kv : map) {
    auto k = kv.first.as<std::string>();
    bool ok = false;
    for (auto* a : allowed) ok = ok || k == a;
    if (!ok) {
      std::string list;
      for (auto* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      auto key = where == "(top level)" ? k : where + "." + k;
      throw ConfigError(file, key, fmt::format("unknown key (known keys: {})", list));
    }
  }
}

std::string address(const std::string& file, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar()) throw ConfigError(file, key, "must be an address ip:port");
  auto s = n.as<std::string>();
  if (!net::parseEndpoint(s)) {
    throw ConfigError(file, key, fmt::format("'{}' is not an address of the form ip:port or [ipv6]:port", s));
  }
  return s;
}

}  // namespace

ControllerConfig loadControllerConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path, "(file)", "cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  YAML::Node root;
  try {
    root = YAML::Load(text.str());
  } catch (const YAML::Exception& e) {
    throw ConfigError(path, "(document)", fmt::format("not valid YAML: {}", e.what()));
  }
  ControllerConfig cfg;
  if (!root || root.IsNull()) throw ConfigError(path, "source", "is required");
  onlyKeys(path, root, "(top level)", {"xds", "admin", "source", "log_level"});
  if (root["xds"]) cfg.xds = address(path, root["xds"], "xds");
  if (root["admin"]) cfg.admin = address(path, root["admin"], "admin");
  if (auto l = root["log_level"]) {
    cfg.logLevel = l.IsScalar() ? l.as<std::string>() : "";
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
    bool ok = false;
    for (auto* k : kLevels) ok = ok || cfg.logLevel == k;
    if (!ok) throw ConfigError(path, "log_level", "must be one of trace, debug, info, warn, error, off");
  }
  auto source = root["source"];
  if (!source) throw ConfigError(path, "source", "is required (source: {file: services.yaml})");
  onlyKeys(path, source, "source", {"file"});
  auto file = source["file"];
  if (!file || !file.IsScalar() || file.as<std::string>().empty()) {
    throw ConfigError(path, "source.file", "must be the path of a services.yaml file");
  }
  std::filesystem::path p = file.as<std::string>();
  if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
  cfg.sourceFile = p.lexically_normal().string();
  return cfg;
}

}  // namespace weft::controller
