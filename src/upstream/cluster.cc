#include "upstream/cluster.h"

#include "core/logging.h"
#include "net/address.h"
#include "upstream/http1_pool.h"
#include "upstream/http2_pool.h"

namespace weft::upstream {

Cluster::Cluster(boost::asio::any_io_executor ex, std::string name, PoolOptions options)
    : ex_(std::move(ex)), name_(std::move(name)), options_(std::move(options)) {
  options_.cluster = name_;
}

Cluster::~Cluster() = default;

void Cluster::setEndpoints(const std::vector<model::Endpoint>& endpoints) {
  std::vector<std::unique_ptr<Slot>> next;
  std::vector<uint32_t> weights;
  for (const auto& spec : endpoints) {
    auto addr = net::parseEndpoint(spec.address);
    if (!addr) {
      WEFT_LOG_WARN("cluster {}: ignoring endpoint with bad address '{}'", name_, spec.address);
      continue;
    }
    std::unique_ptr<Slot> slot;
    for (auto& old : slots_)
      if (old && old->address == *addr) slot = std::move(old);
    if (!slot) {
      slot = std::make_unique<Slot>();
      slot->address = *addr;
    }
    slot->spec = spec;
    weights.push_back(spec.weight);
    next.push_back(std::move(slot));
  }
  for (auto& removed : slots_) {
    if (!removed) continue;
    for (auto* pool : {&removed->http1, &removed->http2}) {
      if (!*pool) continue;
      (*pool)->drain();
      draining_.push_back(std::move(*pool));
    }
  }
  // Forget drained pools whose connections are all gone.
  std::erase_if(draining_, [](const auto& p) { return p->openConnections() == 0; });
  slots_ = std::move(next);
  balancer_.reset(weights);
}

EndpointPool& Cluster::poolFor(Slot& slot, PoolProtocol protocol) {
  auto& pool = protocol == PoolProtocol::kHttp2 ? slot.http2 : slot.http1;
  if (!pool) {
    if (protocol == PoolProtocol::kHttp2)
      pool = std::make_unique<Http2Pool>(ex_, slot.address, options_);
    else
      pool = std::make_unique<Http1Pool>(ex_, slot.address, options_);
  }
  return *pool;
}

EndpointPool* Cluster::pick(PoolProtocol protocol, const EndpointPool* avoid) {
  if (slots_.empty()) return nullptr;
  // At most size() picks: with one bad endpoint among several, the weighted
  // order reaches another one well within that.
  for (size_t attempt = 0; attempt < slots_.size(); ++attempt) {
    Slot& slot = *slots_[balancer_.pick()];
    EndpointPool& pool = poolFor(slot, protocol);
    if (&pool != avoid || slots_.size() == 1) return &pool;
  }
  return &poolFor(*slots_[balancer_.pick()], protocol);
}

}  // namespace weft::upstream
