#include "upstream/balancer.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace weft::upstream {

namespace asio = boost::asio;

namespace {
constexpr double kSwitchRatio = 2.0 / 3;  // switch to the second candidate only if it costs < 2/3 of the first
}  // namespace
using namespace asio::experimental::awaitable_operators;

Balancer::Balancer(asio::any_io_executor ex, BalancerOptions options, uint64_t seed)
    : ex_(ex), options_(options), rng_(seed), readySignal_(ex) {
  readySignal_.expires_at(asio::steady_timer::time_point::max());
}

void Balancer::setEndpoints(std::vector<EndpointState*> endpoints) {
  endpoints_ = std::move(endpoints);
  healthChanged();
}

void Balancer::healthChanged() {
  ready_.clear();
  for (size_t i = 0; i < endpoints_.size(); ++i)
    if (endpoints_[i]->health() == EndpointHealth::kReady) ready_.push_back(i);
  buildAliasTable();
  if (!ready_.empty()) {
    failFast_ = false;
    if (waiting_) {
      readySignal_.cancel();  // wake every waiter; each re-checks
      readySignal_.expires_at(asio::steady_timer::time_point::max());
    }
  }
}

void Balancer::buildAliasTable() {
  size_t n = ready_.size();
  aliasProbability_.assign(n, 1.0);
  alias_.resize(n);
  if (n == 0) return;
  double total = 0;
  for (size_t k : ready_) total += endpoints_[k]->weight();
  std::vector<double> scaled(n);
  std::vector<uint32_t> small, large;
  for (size_t k = 0; k < n; ++k) {
    scaled[k] = endpoints_[ready_[k]]->weight() * static_cast<double>(n) / total;
    alias_[k] = static_cast<uint32_t>(k);
    (scaled[k] < 1.0 ? small : large).push_back(static_cast<uint32_t>(k));
  }
  while (!small.empty() && !large.empty()) {
    uint32_t s = small.back(), l = large.back();
    small.pop_back();
    aliasProbability_[s] = scaled[s];
    alias_[s] = l;
    scaled[l] -= 1.0 - scaled[s];
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers (rounding) keep probability 1 and alias themselves.
}

size_t Balancer::sampleWeighted() {
  size_t k = rng_.below(ready_.size());
  double u = rng_.unit();
  return u < aliasProbability_[k] ? k : alias_[k];
}

std::optional<double> Balancer::peerEstimateNanos(EndpointState::Clock::time_point now) const {
  std::vector<double> estimates;
  estimates.reserve(ready_.size());
  for (size_t k : ready_)
    if (endpoints_[k]->load().measured()) estimates.push_back(endpoints_[k]->load().estimateNanos(now));
  if (estimates.empty()) return std::nullopt;
  size_t mid = estimates.size() / 2;
  std::nth_element(estimates.begin(), estimates.begin() + mid, estimates.end());
  if (estimates.size() % 2) return estimates[mid];
  // Even count: the mean of the two middle values (the lower one is the
  // largest of the lower half).
  double lower = *std::max_element(estimates.begin(), estimates.begin() + mid);
  return (lower + estimates[mid]) / 2;
}

Pick Balancer::pickReadyAt(EndpointState::Clock::time_point now, const EndpointState* avoid) {
  auto cost = [&](size_t k) { return endpoints_[ready_[k]]->cost(now); };
  size_t a = sampleWeighted();
  // A second candidate equal to the first compares nothing: draw again (a few
  // times at most). Shares are unaffected — the first sample decides ties.
  size_t b = a;
  for (int draw = 0; draw < 3 && b == a && ready_.size() > 1; ++draw) b = sampleWeighted();
  // The weighted sample stands unless the other candidate is clearly cheaper:
  // measurement noise between equally good endpoints must not bend the shares
  // away from the weights, while a slow or busy endpoint still loses.
  size_t chosen = ready_[(b != a && cost(b) < kSwitchRatio * cost(a)) ? b : a];
  if (endpoints_[chosen] == avoid && ready_.size() > 1) {
    // Deterministically take the cheapest other ready endpoint.
    size_t best = SIZE_MAX;
    for (size_t k = 0; k < ready_.size(); ++k) {
      if (endpoints_[ready_[k]] == avoid) continue;
      if (best == SIZE_MAX || cost(k) < endpoints_[best]->cost(now)) best = ready_[k];
    }
    chosen = best;
  }
  return Pick{ProxyError::kNone, chosen};
}

asio::awaitable<Pick> Balancer::pick(const EndpointState* avoid) {
  if (endpoints_.empty()) co_return Pick{ProxyError::kNoEndpoints, 0};
  if (!ready_.empty()) co_return pickReady(avoid);
  if (failFast_) co_return Pick{ProxyError::kFailFast, 0};
  if (waiting_ >= options_.queueCapacity) co_return Pick{ProxyError::kLoadShed, 0};

  ++waiting_;
  asio::steady_timer deadline(ex_, options_.failfastTimeout);
  while (ready_.empty() && !endpoints_.empty()) {
    auto r = co_await (readySignal_.async_wait(asio::as_tuple(asio::use_awaitable)) ||
                       deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (r.index() == 1) {
      if (ready_.empty()) failFast_ = true;
      break;
    }
  }
  --waiting_;
  if (endpoints_.empty()) co_return Pick{ProxyError::kNoEndpoints, 0};
  if (ready_.empty()) co_return Pick{ProxyError::kFailFast, 0};
  co_return pickReady(avoid);
}

}  // namespace weft::upstream
