#include "proxy/worker_proxy.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/logging.h"
#include "core/metrics.h"
#include "http/session/http1_server.h"
#include "http/session/http2_server.h"
#include "net/address.h"
#include "net/listener.h"
#include "proxy/protocol_detect.h"
#include "proxy/tcp_proxy.h"

namespace weft::proxy {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

http::ServerOptions serverOptions(const ProxyConfig& c, std::string direction, net::DrainSignal* drain) {
  http::ServerOptions o;
  o.direction = std::move(direction);
  o.idleTimeout = c.clientIdleTimeout;
  o.headerTimeout = c.clientHeaderTimeout;
  o.drainTimeout = c.drainTimeout;
  o.maxHeaderListBytes = c.maxHeaderListBytes;
  o.maxConcurrentStreams = c.maxConcurrentStreams;
  o.drain = drain;
  return o;
}

// Reads until the first bytes identify the protocol, at most kMaxDetectBytes
// or until the deadline (then whatever was read is opaque).
asio::awaitable<DetectedProtocol> detect(tcp::socket& socket, std::string& prefix, std::chrono::milliseconds timeout) {
  asio::steady_timer deadline(socket.get_executor(), timeout);
  std::array<char, kMaxDetectBytes> buf;
  for (;;) {
    auto result = co_await (socket.async_read_some(asio::buffer(buf.data(), kMaxDetectBytes - prefix.size()), kTuple) ||
                            deadline.async_wait(kTuple));
    if (result.index() == 1) co_return DetectedProtocol::kOpaque;
    auto [ec, n] = std::get<0>(result);
    if (ec || n == 0) co_return DetectedProtocol::kNeedMore;  // closed before saying anything useful
    prefix.append(buf.data(), n);
    auto p = detectProtocol(prefix);
    if (p != DetectedProtocol::kNeedMore) co_return p;
  }
}

}  // namespace

WorkerProxy::WorkerProxy(net::Worker& worker, const ProxyConfig& config, const DiscoveryLink* discovery)
    : worker_(worker),
      config_(config),
      outboundOptions_(serverOptions(config, "outbound", &drain_)),
      inboundOptions_(serverOptions(config, "inbound", &drain_)),
      outbound_(
          std::make_unique<Forwarder>(worker.executor(), config, Direction::kOutbound, worker.index(), discovery)),
      inbound_(std::make_unique<Forwarder>(worker.executor(), config, Direction::kInbound, worker.index())) {}

WorkerProxy::~WorkerProxy() = default;

tcp::endpoint WorkerProxy::listen(Direction direction, const tcp::endpoint& ep) {
  auto l = std::make_unique<Listener>(Listener{direction, net::openReusePortAcceptor(worker_.executor(), ep)});
  auto bound = l->acceptor.local_endpoint();
  listeners_.push_back(std::move(l));
  return bound;
}

void WorkerProxy::start() {
  asio::post(worker_.context(), [this] {
    for (auto& l : listeners_) asio::co_spawn(worker_.executor(), acceptLoop(*l), asio::detached);
  });
}

void WorkerProxy::beginDrain() {
  asio::post(worker_.context(), [this] {
    for (auto& l : listeners_) {
      boost::system::error_code ignored;
      l->acceptor.close(ignored);
    }
    drain_.start();
  });
}

void WorkerProxy::applyConfig(std::shared_ptr<const ProxyConfig> config) {
  asio::post(worker_.context(), [this, config] {
    config_ = *config;
    outbound_->applyConfig(*config);
    inbound_->applyConfig(*config);
  });
}

void WorkerProxy::applyDiscovered(std::shared_ptr<const model::EndpointSnapshot> snapshot) {
  asio::post(worker_.context(), [this, snapshot = std::move(snapshot)]() mutable {
    outbound_->applyDiscovered(std::move(snapshot));
  });
}

void WorkerProxy::forgetDiscovered(std::string name) {
  asio::post(worker_.context(), [this, name = std::move(name)] { outbound_->forgetDiscovered(name); });
}

std::future<std::vector<std::string>> WorkerProxy::debugEndpoints(std::string cluster) {
  auto promise = std::make_shared<std::promise<std::vector<std::string>>>();
  auto future = promise->get_future();
  asio::post(worker_.context(), [this, promise, cluster = std::move(cluster)] {
    std::vector<std::string> out;
    outbound_->debugJson(cluster, out);
    if (config_.inbound) inbound_->debugJson(cluster, out);
    promise->set_value(std::move(out));
  });
  return future;
}

asio::awaitable<void> WorkerProxy::acceptLoop(Listener& listener) {
  for (;;) {
    auto [ec, socket] = co_await listener.acceptor.async_accept(kTuple);
    if (ec == asio::error::operation_aborted || !listener.acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE/ENFILE and friends: back off briefly instead of spinning.
      threadCounter("weft_accept_errors_total", "Failed accepts", labelPair("errno", ec.message())).inc();
      asio::steady_timer t(worker_.executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kTuple);
      continue;
    }
    asio::co_spawn(worker_.executor(), serveConnection(std::move(socket), listener.direction), asio::detached);
  }
}

asio::awaitable<void> WorkerProxy::serveConnection(tcp::socket socket, Direction direction) {
  active_.fetch_add(1, std::memory_order_relaxed);
  auto& open = threadGauge("weft_open_connections", "Open connections, by direction",
                           labelPair("direction", direction == Direction::kOutbound ? "outbound" : "inbound"));
  open.add(1);
  net::tuneSocket(socket);
  std::string prefix;
  auto protocol = co_await detect(socket, prefix, config_.detectTimeout);
  auto& options = direction == Direction::kOutbound ? outboundOptions_ : inboundOptions_;
  switch (protocol) {
    case DetectedProtocol::kHttp2:
      // Not awaited: the connection lives on its own pending operations, and
      // this frame and the co_spawn's are freed while it serves (an idle h2c
      // client connection 19.6 -> 16.4 KiB; docs/benchmarks.md "Idle HTTP/2
      // connections").
      http::startHttp2(std::move(socket), std::move(prefix), forwarder(direction), options,
                       [this, gauge = &open] { connectionEnded(*gauge); });
      co_return;
    case DetectedProtocol::kHttp1:
      co_await http::serveHttp1(std::move(socket), std::move(prefix), forwarder(direction), options);
      break;
    case DetectedProtocol::kOpaque: {
      auto target = direction == Direction::kOutbound ? config_.opaque : config_.app;
      auto ep = target ? net::parseEndpoint(*target) : std::nullopt;
      if (!ep) {
        threadCounter("weft_tcp_no_target_total", "Opaque connections closed because no target is configured",
                      labelPair("direction", options.direction))
            .inc();
        break;
      }
      TcpProxyOptions t{options.direction,
                        direction == Direction::kOutbound ? std::chrono::milliseconds(1000)
                                                          : config_.inboundConnectTimeout,
                        config_.clientIdleTimeout};
      co_await proxyTcp(std::move(socket), std::move(prefix), *ep, t);
      break;
    }
    case DetectedProtocol::kNeedMore:
      break;  // closed during detection
  }
  connectionEnded(open);
}

void WorkerProxy::connectionEnded(Gauge& open) {
  open.add(-1);
  active_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace weft::proxy
