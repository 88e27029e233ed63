#pragma once
// The Kubernetes source: Services (core/v1) and EndpointSlices
// (discovery.k8s.io/v1) read from the API server with list + watch, mapped to
// clusters by kube_state.h.
//
// Per resource (and per namespace when `namespaces` is set) one reflector
// loop, as client-go's: list (paged, `limit=500` + `continue`) → the list's
// resourceVersion → watch from it with `allowWatchBookmarks=true` and
// `timeoutSeconds`. A watch that ends (its timeout, or the server closed it)
// is resumed from the last resourceVersion seen (events and bookmarks
// advance it) without a relist; a broken connection is resumed the same way
// after full-jitter backoff. 410 Gone — as an HTTP 410 answer or as an ERROR
// event whose Status has code 410 — means that resourceVersion is too old:
// relist at once. An expired `continue` token (410 during a list) restarts
// the list. Each batch of events read together makes one new snapshot.
//
// Auth: `Authorization: Bearer` with the token file read for every request
// (projected service-account tokens rotate); https verified against ca_file
// (else the system's CAs) and the server's host name or IP.
//
// Threads: coroutines on the executor given (the controller's main
// io_context); StateStore::apply() runs there. start() once; stop() and the
// destructor from that thread. `onFirstSync` runs once, when every list has
// completed (no partial state is ever published).
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "controller/config.h"
#include "controller/state_store.h"

namespace weft::controller {

class KubernetesSource {
 public:
  // Throws std::runtime_error when the API server is not configured and the
  // in-cluster environment (KUBERNETES_SERVICE_HOST/PORT) is missing, or the
  // CA file cannot be loaded.
  KubernetesSource(boost::asio::any_io_executor ex, KubernetesSourceConfig cfg, StateStore& store);
  ~KubernetesSource();
  KubernetesSource(const KubernetesSource&) = delete;
  KubernetesSource& operator=(const KubernetesSource&) = delete;

  void start(std::function<void()> onFirstSync);
  void stop();
  bool synced() const;
  std::string apiServer() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace weft::controller
