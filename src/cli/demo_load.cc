#include "cli/demo_load.h"

#include <algorithm>
#include <cmath>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "cli/demo_http.h"
#include "cli/grpc_message.h"

namespace weft::cli {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::string_view protocolName(Protocol p) {
  switch (p) {
    case Protocol::kHttp1: return "HTTP/1.1";
    case Protocol::kH2c: return "h2c";
    case Protocol::kGrpc: return "gRPC";
  }
  return "?";
}

std::string_view protocolAuthority(Protocol p) {
  switch (p) {
    case Protocol::kHttp1: return "web.demo:80";
    case Protocol::kH2c: return "api.demo:80";
    case Protocol::kGrpc: return "echo.demo:80";
  }
  return "?";
}

double percentileMs(std::vector<uint32_t> v, double p) {
  if (v.empty()) return 0;
  size_t k = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size()))) - 1;
  k = std::min(k, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k] / 1000.0;
}

namespace {
std::string grpcStatusName(int code) {
  static const char* names[] = {"OK",        "CANCELLED",         "UNKNOWN",        "INVALID_ARGUMENT",
                                "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
                                "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                "UNIMPLEMENTED", "INTERNAL",     "UNAVAILABLE",    "DATA_LOSS",
                                "UNAUTHENTICATED"};
  if (code >= 0 && code <= 16) return names[code];
  return fmt::format("status {}", code);
}
}  // namespace

LoadGenerator::LoadGenerator(asio::any_io_executor ex, std::vector<asio::ip::tcp::endpoint> proxies, double rate)
    : ex_(std::move(ex)), proxies_(std::move(proxies)), ratePerLoop_(rate) {}

void LoadGenerator::start() {
  started_ = Clock::now();
  for (size_t i = 0; i < proxies_.size(); ++i)
    for (auto p : kProtocols) {
      ++loops_;
      asio::co_spawn(ex_, loop(i, p), asio::detached);
    }
}

uint64_t LoadGenerator::totalRequests() const {
  uint64_t n = 0;
  for (auto& s : stats_) n += s.ok + s.failed;
  return n;
}

uint64_t LoadGenerator::totalFailed() const {
  uint64_t n = 0;
  for (auto& s : stats_) n += s.failed;
  return n;
}

void LoadGenerator::takeWindow() {
  windowPerInstance_.clear();
  for (auto& s : stats_) {
    s.windowLatencyUs.clear();
    s.windowFailed = 0;
  }
}

void LoadGenerator::record(size_t proxy, Protocol p, Clock::duration took, const std::string& instance,
                           const std::string& failure, int grpcStatus) {
  auto& s = stats_[static_cast<size_t>(p)];
  if (p == Protocol::kGrpc) ++s.grpcStatus[grpcStatus];
  if (failure.empty()) {
    ++s.ok;
    auto us = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    s.latencyUs.push_back(us);
    s.windowLatencyUs.push_back(us);
    ++perInstance_[instance];
    ++windowPerInstance_[instance];
    return;
  }
  ++s.failed;
  ++s.windowFailed;
  ++s.failures[failure];
  double at = std::chrono::duration<double>(Clock::now() - started_).count();
  recentFailures_.push_back({at, fmt::format("proxy-{} {} {}: {}", static_cast<char>('a' + proxy), protocolName(p),
                                             protocolAuthority(p), failure)});
  if (recentFailures_.size() > 20) recentFailures_.pop_front();
}

asio::awaitable<void> LoadGenerator::loop(size_t proxy, Protocol p) {
  Http1Client h1(ex_, proxies_[proxy]);
  Http2Client h2(ex_, proxies_[proxy]);
  asio::steady_timer pace(ex_);
  auto interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / ratePerLoop_));
  auto next = Clock::now();
  uint64_t seq = 0;
  while (!stopping_) {
    ++seq;
    http::RequestHead head;
    head.authority = std::string(protocolAuthority(p));
    auto t0 = Clock::now();
    HttpResult r;
    std::string expectEcho;
    if (p == Protocol::kGrpc) {
      head.method = "POST";
      head.path = "/weft.demo.Echo/Echo";
      head.headers.add("content-type", "application/grpc");
      head.headers.add("te", "trailers");
      expectEcho = protoStringField1(fmt::format("demo {} {}", proxy, seq));
      r = co_await h2.request(std::move(head), encodeGrpcMessage(expectEcho), kRequestTimeout);
    } else {
      head.method = "GET";
      head.path = fmt::format("/{}?seq={}", p == Protocol::kHttp1 ? "web" : "api", seq);
      if (p == Protocol::kHttp1) r = co_await h1.request(std::move(head), kRequestTimeout);
      else r = co_await h2.request(std::move(head), {}, kRequestTimeout);
    }
    auto took = Clock::now() - t0;
    std::string instance(r.headers.get("x-instance"));
    std::string failure;
    int grpcStatus = -1;
    if (!r.ok) {
      failure = r.error;
    } else if (p == Protocol::kGrpc) {
      // Trailers, or the headers of a trailers-only response.
      auto st = r.trailers.has("grpc-status") ? r.trailers.get("grpc-status") : r.headers.get("grpc-status");
      if (!st.empty()) grpcStatus = std::atoi(std::string(st).c_str());
      std::string_view message;
      if (r.status != 200) {
        failure = fmt::format("HTTP {} (not a gRPC response)", r.status);
      } else if (grpcStatus < 0) {
        failure = "no grpc-status";
      } else if (grpcStatus != 0) {
        auto why = r.trailers.has("grpc-status") ? r.trailers.get("grpc-message") : r.headers.get("grpc-message");
        auto code = r.trailers.has("grpc-status") ? r.trailers.get("weft-proxy-error") : r.headers.get("weft-proxy-error");
        failure = fmt::format("grpc-status {} {}{}{}", grpcStatus, grpcStatusName(grpcStatus),
                              why.empty() ? "" : ": ", why);
        if (!code.empty()) failure += fmt::format(" (weft-proxy-error: {})", code);
      } else if (parseGrpcUnary(r.body, 64 * 1024, message) != GrpcUnaryParse::kOk || message != expectEcho) {
        failure = "echo mismatch";
      }
    } else if (r.status != 200) {
      auto code = r.headers.get("weft-proxy-error");
      failure = fmt::format("HTTP {}{}{}", r.status, code.empty() ? "" : " weft-proxy-error: ", code);
    }
    if (failure.empty() && instance.empty()) failure = "answer without x-instance";
    record(proxy, p, took, instance, failure, grpcStatus);

    next += interval;
    auto now = Clock::now();
    if (next < now) next = now;  // fell behind: no catch-up burst
    pace.expires_at(next);
    co_await pace.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  --loops_;
}

}  // namespace weft::cli
