#include "proxy/dns_fallback.h"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include "core/logging.h"
#include "core/metrics.h"
#include "net/address.h"

namespace weft::proxy {

namespace asio = boost::asio;

DnsFallback::DnsFallback(std::chrono::milliseconds refresh, Deliver deliver, Forget forget)
    : refresh_(refresh),
      deliver_(std::move(deliver)),
      forget_(std::move(forget)),
      guard_(asio::make_work_guard(ctx_)),
      resolver_(ctx_),
      thread_([this] { ctx_.run(); }) {}

DnsFallback::~DnsFallback() {
  // Nothing runs after the join; the watches and their timers go with the members.
  ctx_.stop();
  thread_.join();
}

void DnsFallback::controllerUpdate(std::shared_ptr<const model::EndpointSnapshot> snapshot) {
  asio::post(ctx_, [this, snapshot = std::move(snapshot)]() mutable {
    const std::string& name = snapshot->name;
    if (snapshot->exists) {
      if (watches_.erase(name)) WEFT_LOG_INFO("discovery: {} is known to the controller now; DNS fallback ends", name);
      deliver_(std::move(snapshot));
      return;
    }
    auto [it, inserted] = watches_.try_emplace(name, nullptr);
    if (!inserted) {
      if (it->second->last) deliver_(it->second->last);  // a late subscriber gets the DNS answer too
      return;
    }
    it->second = std::make_unique<Watch>(ctx_);
    WEFT_LOG_INFO("discovery: {} unknown to the controller; resolving it by DNS (dns_fallback)", name);
    resolve(name);
  });
}

void DnsFallback::unsubscribed(const std::string& name) {
  asio::post(ctx_, [this, name] {
    watches_.erase(name);
    forget_(name);
  });
}

void DnsFallback::resolve(const std::string& name) {
  auto colon = name.rfind(':');
  std::string host = name.substr(0, colon), port = name.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  resolver_.async_resolve(
      host, port, asio::ip::tcp::resolver::numeric_service,
      [this, name](boost::system::error_code ec, asio::ip::tcp::resolver::results_type results) {
        auto it = watches_.find(name);
        if (it == watches_.end() || ec == asio::error::operation_aborted) return;  // unwatched meanwhile
        auto& w = *it->second;
        std::vector<std::string> addresses;
        if (!ec)
          for (const auto& r : results) addresses.push_back(net::formatEndpoint(r.endpoint()));
        std::sort(addresses.begin(), addresses.end());
        addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
        threadCounter("weft_discovery_dns_resolutions_total", "DNS fallback resolutions, by result",
                      labelPair("result", ec ? "error" : addresses.empty() ? "empty" : "ok"))
            .inc();
        if (addresses.empty() && w.resolvedOnce) {
          WEFT_LOG_WARN("discovery: DNS refresh of {} failed ({}); keeping its last set", name,
                        ec ? ec.message() : "no addresses");
        } else {
          auto s = std::make_shared<model::EndpointSnapshot>();
          s->name = name;
          s->origin = model::EndpointSnapshot::Origin::kDns;
          s->exists = !addresses.empty();
          std::string joined;
          for (auto& a : addresses) {
            joined += a + ",";
            s->endpoints.push_back({std::move(a), 1});
          }
          s->version = s->exists ? fmt::format("dns:{:016x}", std::hash<std::string>{}(joined)) : "absent";
          s->receivedAt = std::chrono::steady_clock::now();
          w.resolvedOnce = w.resolvedOnce || s->exists;
          if (!w.last || s->version != w.last->version) {
            w.last = s;
            deliver_(std::move(s));
          }
        }
        w.timer.expires_after(refresh_);
        w.timer.async_wait([this, name](boost::system::error_code tec) {
          if (!tec && watches_.count(name)) resolve(name);
        });
      });
}

}  // namespace weft::proxy
