#pragma once
// The etcd v3 source: reads the key layout of etcd_registry.h under a prefix
// through etcd's JSON gateway (HTTP/1.1, no etcd protos) and keeps the
// StateStore equal to it.
//
//   list:  POST /v3/kv/range over the prefix, in pages pinned to the first
//          page's revision R (one consistent read);
//   watch: POST /v3/watch from R+1, a streaming response of JSON lines; each
//          response's events are applied together and make one new snapshot.
//
// A watch canceled because its start revision was compacted → relist at
// once. A broken connection, an error message, an HTTP error or a quiet
// stream (no byte for 15 min; etcd's progress notifications come every 10 min
// by default, TCP keepalive finds dead peers sooner) → reconnect to the next
// endpoint with full-jitter backoff (200 ms × 2 up to 10 s) and relist.
// Instances registered under a lease disappear when etcd deletes their key
// on expiry (an ordinary DELETE event). Invalid values are rejected per key
// (logged, counted; the key keeps its last good value).
//
// Threads: one coroutine on the executor given (the controller's main
// io_context); StateStore::apply() runs there. start() once; stop() and the
// destructor from that executor's thread. `onFirstSync` runs once, after the
// first complete list has been applied.
#include <functional>
#include <memory>

#include <boost/asio/any_io_executor.hpp>

#include "controller/config.h"
#include "controller/state_store.h"

namespace weft::controller {

class EtcdSource {
 public:
  EtcdSource(boost::asio::any_io_executor ex, EtcdSourceConfig cfg, StateStore& store);
  ~EtcdSource();
  EtcdSource(const EtcdSource&) = delete;
  EtcdSource& operator=(const EtcdSource&) = delete;

  void start(std::function<void()> onFirstSync);
  void stop();
  bool synced() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace weft::controller
