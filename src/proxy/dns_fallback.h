#pragma once
// The optional DNS fallback of discovery (`discovery.dns_fallback`,
// docs/discovery.md): an authority the controller does not know is resolved
// by DNS instead, and its addresses (with the authority's port) become the
// cluster's whole endpoint set, re-resolved every `refresh`.
//
// Threads: one private thread runs the resolver (getaddrinfo never blocks a
// worker or the discovery client). With the fallback on, EVERY controller
// update goes through that thread too (controllerUpdate / unsubscribed only
// post), so what reaches the workers for one name is in order: a DNS answer
// can never overtake the controller's set that superseded it. `deliver` and
// `forget` run on that thread, one call at a time, and must only post
// (ProxyDiscovery posts to every worker). A name that resolves to nothing is
// delivered as exists = false (unknown-service); a failed refresh of a name
// that resolved before keeps the last set (a DNS outage must not empty a
// working cluster). Destroy before the workers: joins the thread.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include "model/endpoint_snapshot.h"

namespace weft::proxy {

class DnsFallback {
 public:
  using Deliver = std::function<void(std::shared_ptr<const model::EndpointSnapshot>)>;
  using Forget = std::function<void(const std::string& name)>;
  DnsFallback(std::chrono::milliseconds refresh, Deliver deliver, Forget forget);
  ~DnsFallback();
  DnsFallback(const DnsFallback&) = delete;
  DnsFallback& operator=(const DnsFallback&) = delete;

  // The controller's answer for a name (any thread): a known set is delivered
  // as is (and ends any DNS watch of the name); exists = false starts
  // resolving the name instead (or re-delivers what DNS already gave).
  void controllerUpdate(std::shared_ptr<const model::EndpointSnapshot> snapshot);
  // The discovery client dropped the name: the watch ends, workers forget it.
  void unsubscribed(const std::string& name);

 private:
  struct Watch {
    explicit Watch(boost::asio::io_context& ctx) : timer(ctx) {}
    boost::asio::steady_timer timer;
    std::shared_ptr<const model::EndpointSnapshot> last;  // last delivered from DNS
    bool resolvedOnce = false;
  };
  void resolve(const std::string& name);

  std::chrono::milliseconds refresh_;
  Deliver deliver_;
  Forget forget_;
  boost::asio::io_context ctx_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  boost::asio::ip::tcp::resolver resolver_;
  std::map<std::string, std::unique_ptr<Watch>> watches_;  // the private thread only
  std::thread thread_;
};

}  // namespace weft::proxy
