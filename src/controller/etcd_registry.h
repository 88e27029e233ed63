#pragma once
// The etcd source's key layout (docs/controller.md "The etcd source"), turned
// into a SourceState. Under the configured prefix P:
//
//   P services/<service>                 {"protocol": "http2"}      optional: declares the service
//   P services/<service>/<instance-id>   {"address": "10.0.0.7:8080", "weight": 2}
//   P splits/<apex>                      {"backends": [{"service": "a:80", "weight": 90}, ...],
//                                         "protocol": "http2"}
//
// A service exists while it has a declaration key or at least one instance
// (instances are usually written under a lease, so a dead instance's key goes
// away by itself). Values are strict JSON objects (unknown fields rejected);
// names and addresses follow the services.yaml rules (services_file.h).
//
// Per key, the last GOOD value counts: a PUT with an invalid value is rejected
// with a reason and the key keeps its previous value (none if it never had a
// good one); a DELETE always applies. The same address under two instance ids
// of one service is served once, with the larger weight (a restarted instance
// that registered again before its old lease expired is not counted twice).
// An apex named like a service is dropped (the service wins) and reported by
// state(); a backend that is not a service contributes nothing.
//
// Pure, single-threaded; no I/O.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "controller/services_file.h"

namespace weft::controller {

class EtcdRegistry {
 public:
  explicit EtcdRegistry(std::string prefix) : prefix_(std::move(prefix)) {}

  // Returns false (and keeps the key's previous value) when `value` is
  // invalid; `why` says why.
  bool put(const std::string& key, std::string_view value, std::string* why);
  // True when the key had a value.
  bool remove(const std::string& key);

  // Replaces everything with a full listing (a relist). Invalid values keep
  // their key's previous good value, as put() does; their reasons are
  // appended to `rejected` as "key: why".
  void replaceAll(const std::vector<std::pair<std::string, std::string>>& kvs, std::vector<std::string>* rejected);

  // The current document. `problems` (optional) receives the split apexes
  // dropped because a service has the same name.
  SourceState state(std::vector<std::string>* problems = nullptr) const;

  size_t keyCount() const { return entries_.size(); }

 private:
  struct Declaration {
    std::string service;
    Protocol protocol = Protocol::kUnspecified;
  };
  struct Instance {
    std::string service;
    model::Endpoint endpoint;
  };
  struct Split {
    SplitSpec spec;
  };
  using Entry = std::variant<Declaration, Instance, Split>;
  std::optional<Entry> parse(const std::string& key, std::string_view value, std::string* why) const;

  std::string prefix_;
  std::map<std::string, Entry> entries_;
};

}  // namespace weft::controller
