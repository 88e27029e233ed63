#pragma once
// Everything one worker runs for the proxy: its SO_REUSEPORT listeners, the
// accept loops, protocol detection, and the outbound and inbound forwarders
// (with their clusters and pools). Constructed on the main thread before the
// worker starts; afterwards touched only on the worker's thread, except for
// activeConnections(), which any thread may read.
#include <atomic>
#include <future>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>

#include "core/metrics.h"
#include "http/session/server_options.h"
#include "net/drain.h"
#include "net/worker_pool.h"
#include "proxy/config.h"
#include "proxy/forwarder.h"

namespace weft::proxy {

class WorkerProxy {
 public:
  // `discovery` (may be null: no controller) outlives the WorkerProxy.
  WorkerProxy(net::Worker& worker, const ProxyConfig& config, const DiscoveryLink* discovery = nullptr);
  ~WorkerProxy();

  // Binds a listener (main thread, before start). Returns the bound address
  // (port 0 resolved), so the next worker can bind the same port.
  boost::asio::ip::tcp::endpoint listen(Direction direction, const boost::asio::ip::tcp::endpoint& ep);
  // Starts the accept loops (posts to the worker).
  void start();
  // Stops accepting and drains sessions (posts to the worker).
  void beginDrain();
  // Applies a new config to the forwarders (posts to the worker).
  void applyConfig(std::shared_ptr<const ProxyConfig> config);

  // A discovered cluster's whole new set, or its end (any thread; posts to the worker).
  void applyDiscovered(std::shared_ptr<const model::EndpointSnapshot> snapshot);
  void forgetDiscovered(std::string name);

  // Collects /debug/endpoints entries on the worker's thread.
  std::future<std::vector<std::string>> debugEndpoints(std::string cluster);

  size_t activeConnections() const { return active_.load(std::memory_order_relaxed); }

 private:
  struct Listener {
    Direction direction;
    boost::asio::ip::tcp::acceptor acceptor;
  };
  boost::asio::awaitable<void> acceptLoop(Listener& listener);
  boost::asio::awaitable<void> serveConnection(boost::asio::ip::tcp::socket socket, Direction direction);
  // A connection serveConnection() counted is closed.
  void connectionEnded(weft::Gauge& open);
  Forwarder& forwarder(Direction d) { return d == Direction::kOutbound ? *outbound_ : *inbound_; }

  net::Worker& worker_;
  ProxyConfig config_;
  net::DrainSignal drain_;
  http::ServerOptions outboundOptions_;
  http::ServerOptions inboundOptions_;
  std::unique_ptr<Forwarder> outbound_;
  std::unique_ptr<Forwarder> inbound_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::atomic<size_t> active_{0};
};

}  // namespace weft::proxy
