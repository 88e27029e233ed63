#include "controller/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "controller/http_stream.h"
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

std::string relativeTo(const std::string& configPath, const std::string& file) {
  std::filesystem::path p = file;
  if (p.is_relative()) p = std::filesystem::path(configPath).parent_path() / p;
  return p.lexically_normal().string();
}

std::string text(const std::string& file, const YAML::Node& n, const std::string& key) {
  if (!n.IsScalar() || n.as<std::string>().empty()) throw ConfigError(file, key, "must be a non-empty string");
  return n.as<std::string>();
}

std::vector<std::string> textList(const std::string& file, const YAML::Node& n, const std::string& key) {
  if (n.IsScalar()) return {text(file, n, key)};
  if (!n.IsSequence()) throw ConfigError(file, key, "must be a string or a list of strings");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) out.push_back(text(file, n[i], fmt::format("{}[{}]", key, i)));
  return out;
}

std::chrono::milliseconds millis(const std::string& file, const YAML::Node& n, const std::string& key,
                                  int64_t min, int64_t max) {
  int64_t v = 0;
  try {
    v = n.as<int64_t>();
  } catch (const YAML::Exception&) {
    throw ConfigError(file, key, "must be a whole number of milliseconds");
  }
  if (v < min || v > max) throw ConfigError(file, key, fmt::format("must be between {} and {}", min, max));
  return std::chrono::milliseconds(v);
}

void url(const std::string& file, const std::string& value, const std::string& key) {
  std::string why;
  if (!parseHttpUrl(value, &why)) throw ConfigError(file, key, fmt::format("'{}' {}", value, why));
}

EtcdSourceConfig etcdConfig(const std::string& path, const YAML::Node& n) {
  onlyKeys(path, n, "source.etcd", {"endpoints", "prefix", "ca_file", "cert_file", "key_file", "request_timeout_ms"});
  EtcdSourceConfig c;
  if (!n["endpoints"]) throw ConfigError(path, "source.etcd.endpoints", "is required (e.g. [http://127.0.0.1:2379])");
  c.endpoints = textList(path, n["endpoints"], "source.etcd.endpoints");
  if (c.endpoints.empty()) throw ConfigError(path, "source.etcd.endpoints", "must not be empty");
  for (size_t i = 0; i < c.endpoints.size(); ++i) {
    url(path, c.endpoints[i], fmt::format("source.etcd.endpoints[{}]", i));
  }
  if (n["prefix"]) c.prefix = text(path, n["prefix"], "source.etcd.prefix");
  if (n["ca_file"]) c.caFile = relativeTo(path, text(path, n["ca_file"], "source.etcd.ca_file"));
  if (n["cert_file"]) c.certFile = relativeTo(path, text(path, n["cert_file"], "source.etcd.cert_file"));
  if (n["key_file"]) c.keyFile = relativeTo(path, text(path, n["key_file"], "source.etcd.key_file"));
  if (c.certFile.empty() != c.keyFile.empty()) {
    throw ConfigError(path, "source.etcd.cert_file", "cert_file and key_file go together");
  }
  if (n["request_timeout_ms"]) {
    c.requestTimeout = millis(path, n["request_timeout_ms"], "source.etcd.request_timeout_ms", 100, 600'000);
  }
  return c;
}

KubernetesSourceConfig kubernetesConfig(const std::string& path, const YAML::Node& n) {
  KubernetesSourceConfig c;
  if (n.IsNull()) return c;  // `kubernetes: {}` or `kubernetes:` alone: in-cluster defaults
  onlyKeys(path, n, "source.kubernetes",
           {"api_server", "token_file", "ca_file", "namespaces", "cluster_domain", "request_timeout_ms",
            "watch_timeout_seconds"});
  if (n["api_server"]) {
    c.apiServer = text(path, n["api_server"], "source.kubernetes.api_server");
    url(path, c.apiServer, "source.kubernetes.api_server");
  }
  // An explicit empty string turns the token or the CA file off (plain http tests).
  auto optionalFile = [&](const char* key, std::string& out) {
    auto v = n[key];
    if (!v) return;
    if (!v.IsScalar()) throw ConfigError(path, std::string("source.kubernetes.") + key, "must be a path or \"\"");
    auto s = v.as<std::string>();
    out = s.empty() ? "" : relativeTo(path, s);
  };
  optionalFile("token_file", c.tokenFile);
  optionalFile("ca_file", c.caFile);
  if (n["namespaces"]) c.namespaces = textList(path, n["namespaces"], "source.kubernetes.namespaces");
  if (n["cluster_domain"]) c.clusterDomain = text(path, n["cluster_domain"], "source.kubernetes.cluster_domain");
  if (n["request_timeout_ms"]) {
    c.requestTimeout = millis(path, n["request_timeout_ms"], "source.kubernetes.request_timeout_ms", 100, 600'000);
  }
  if (n["watch_timeout_seconds"]) {
    c.watchTimeout = std::chrono::duration_cast<std::chrono::seconds>(
        millis(path, n["watch_timeout_seconds"], "source.kubernetes.watch_timeout_seconds", 1, 3600) * 1000);
  }
  return c;
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
  onlyKeys(path, root, "(top level)",
           {"xds", "admin", "source", "log_level", "xds_keepalive_ms", "xds_keepalive_timeout_ms"});
  if (root["xds"]) cfg.xds = address(path, root["xds"], "xds");
  if (root["xds_keepalive_ms"])
    cfg.xdsKeepalive = millis(path, root["xds_keepalive_ms"], "xds_keepalive_ms", 1000, 3'600'000);
  if (root["xds_keepalive_timeout_ms"])
    cfg.xdsKeepaliveTimeout = millis(path, root["xds_keepalive_timeout_ms"], "xds_keepalive_timeout_ms", 100, 600'000);
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
  onlyKeys(path, source, "source", {"file", "etcd", "kubernetes"});
  if (source.size() != 1) throw ConfigError(path, "source", "must name exactly one of file, etcd, kubernetes");
  if (auto etcd = source["etcd"]) {
    cfg.sourceKind = SourceKind::kEtcd;
    cfg.etcd = etcdConfig(path, etcd);
    return cfg;
  }
  if (source["kubernetes"]) {
    cfg.sourceKind = SourceKind::kKubernetes;
    cfg.kubernetes = kubernetesConfig(path, source["kubernetes"]);
    return cfg;
  }
  auto file = source["file"];
  if (!file || !file.IsScalar() || file.as<std::string>().empty()) {
    throw ConfigError(path, "source.file", "must be the path of a services.yaml file");
  }
  cfg.sourceFile = relativeTo(path, file.as<std::string>());
  return cfg;
}

}  // namespace weft::controller
