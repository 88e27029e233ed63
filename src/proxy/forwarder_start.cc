// Forwarder::start(): a request forwarded without a coroutine. When the
// cluster is settled and the picked endpoint's pool can send it at once (an
// HTTP/2 connection with room; an idle HTTP/1 connection, for a request
// without a body), the request is sent from the server session's own
// event, and its end is handled when the upstream connection tells its
// observer: no coroutine frames, no spawn, no resume per request
// (docs/benchmarks.md). Anything that would wait, and every result but kOk,
// goes to the coroutine (run()).
#include "proxy/forwarder.h"

namespace weft::proxy {

void Forwarder::start(std::shared_ptr<http::Exchange> exchange, const boost::asio::any_io_executor& ex) {
  try {
    // Routed and admitted once, as handle() does; only what has to wait
    // becomes a coroutine, and it is handed what routing found.
    auto r = routeAndAdmit(exchange);
    if (r.awaitDiscovery) {
      spawn(ex, awaitDiscoveredThenRun(exchange, std::move(r.entry), r.grpc), exchange);
    } else if (r.forwarding && !startNow(r.forwarding, *r.entry)) {
      spawn(ex, run(std::move(r.forwarding), std::move(r.entry), std::nullopt), exchange);
    }
  } catch (...) {  // start() never throws (http/session/exchange.h)
    failThrown(*exchange, std::current_exception());
  }
}

bool Forwarder::startNow(const std::shared_ptr<Forwarding>& f, ClusterEntry& entry) {
  auto pick = entry.cluster->pickIfReady(f->a.protocol);
  if (!pick.pool || !pick.pool->canStartNow(*f->exchange)) return false;

  auto& exchange = f->exchange;
  f->a.pick = std::move(pick);
  startAttempt(entry, *exchange, f->a);
  f->sentPool = f->a.pick.pool;
  f->sentState = f->a.pick.state;
  auto pool = std::move(f->a.pick.pool);
  f->a.pick = {};  // see Forwarding: the stream holds f
  if (!pool->startNow(exchange, f)) f->sendDone({upstream::SendOutcome::kNotProcessed, ProxyError::kNone, 0});
  return true;
}

void Forwarder::Forwarding::sendDone(const upstream::SendResult& result) {
  auto cluster = entry.lock();
  a.pick = {ProxyError::kNone, sentPool.lock(), sentState.lock()};
  if (!cluster) {
    // The cluster left the config while the request was out: nothing to
    // retry with or to count for.
    if (result.outcome != upstream::SendOutcome::kOk)
      exchange->failBeforeResponse(result.outcome == upstream::SendOutcome::kFailed ? result.error
                                                                                    : ProxyError::kUpstreamReset);
    a.pick = {};
    forwarder.finish(*this, nullptr);
    return;
  }
  if (result.outcome == upstream::SendOutcome::kOk) {
    forwarder.endAttempt(*cluster, *exchange, a, result);
    a.pick = {};
    forwarder.finish(*this, cluster.get());
    return;
  }
  // A retry or an error to map: the coroutine's business.
  auto self = shared_from_this();
  spawn(forwarder.ex_, forwarder.run(self, std::move(cluster), result), exchange);
}

}  // namespace weft::proxy
