#pragma once
// The controller's YAML configuration (DESIGN.md §9, docs/controller.md).
// Loaded once on the main thread at start-up.
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace weft::controller {

enum class SourceKind { kFile, kEtcd, kKubernetes };

struct EtcdSourceConfig {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379" | "https://..."; tried in turn
  std::string prefix = "/weft/";
  std::string caFile, certFile, keyFile;  // https only; resolved like source.file
  std::chrono::milliseconds requestTimeout{5000};
};

struct KubernetesSourceConfig {
  // "" = in-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
  std::string apiServer;
  std::string tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";  // "" = no token
  std::string caFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::vector<std::string> namespaces;  // empty = every namespace
  std::string clusterDomain = "cluster.local";
  std::chrono::milliseconds requestTimeout{10000};
  std::chrono::seconds watchTimeout{300};  // timeoutSeconds asked of each watch
};

struct ControllerConfig {
  std::string xds = "127.0.0.1:18000";    // ADS listen address
  std::string admin = "127.0.0.1:9990";   // admin listen address
  // gRPC keepalive on xDS connections: a PING after this long without one,
  // and the connection is closed when it goes unanswered for the timeout.
  // This is how a dead or stopped subscriber's stream is found and freed.
  std::chrono::milliseconds xdsKeepalive{30000};
  std::chrono::milliseconds xdsKeepaliveTimeout{10000};
  SourceKind sourceKind = SourceKind::kFile;
  std::string sourceFile;                 // absolute, or relative to the working directory
  EtcdSourceConfig etcd;
  KubernetesSourceConfig kubernetes;
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

// Throws ConfigError. Exactly one of source.file / source.etcd / source.kubernetes;
// relative file paths in it are resolved against the config file's folder.
ControllerConfig loadControllerConfig(const std::string& path);

}  // namespace weft::controller
