#pragma once
// The demo's steady traffic: for every proxy one HTTP/1.1 loop (web.demo),
// one h2c loop (api.demo) and one gRPC unary loop (echo.demo), each sending
// one request at a time at a fixed pace. Bounded: at most `ratePerLoop`
// requests per second per loop, one in flight per loop, each with a deadline.
//
// Every request is counted: success only for a complete, correct answer
// (HTTP 200 naming an instance; gRPC status 0 with the echoed message).
// Everything else is a failure with its reason — nothing is retried,
// dropped or hidden; the retries that keep requests succeeding are weft's.
//
// Thread: the executor's (the demo's main thread).
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace weft::cli {

enum class Protocol : uint8_t { kHttp1, kH2c, kGrpc };
inline constexpr std::array<Protocol, 3> kProtocols = {Protocol::kHttp1, Protocol::kH2c, Protocol::kGrpc};
std::string_view protocolName(Protocol p);
// The authority each protocol's traffic is sent to.
std::string_view protocolAuthority(Protocol p);

struct ProtocolStats {
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::vector<uint32_t> latencyUs;        // every successful request (bounded by rate × duration)
  std::vector<uint32_t> windowLatencyUs;  // since the last takeWindow()
  uint64_t windowFailed = 0;
  std::map<std::string, uint64_t> failures;  // reason → count
  std::map<int, uint64_t> grpcStatus;        // gRPC only: status code → count (-1: none received)
};

struct FailureNote {
  double atSeconds;
  std::string what;
};

class LoadGenerator {
 public:
  LoadGenerator(boost::asio::any_io_executor ex, std::vector<boost::asio::ip::tcp::endpoint> proxies,
                double ratePerLoop);
  void start();
  // Loops end after their current request (bounded by its deadline).
  void stop() { stopping_ = true; }
  bool running() const { return loops_ > 0; }

  const ProtocolStats& stats(Protocol p) const { return stats_[static_cast<size_t>(p)]; }
  uint64_t totalRequests() const;
  uint64_t totalFailed() const;
  // Responses per instance (x-instance) since start / since the last takeWindow().
  const std::map<std::string, uint64_t>& perInstance() const { return perInstance_; }
  const std::map<std::string, uint64_t>& windowPerInstance() const { return windowPerInstance_; }
  // Starts a new window (the view calls it once per refresh).
  void takeWindow();
  const std::deque<FailureNote>& recentFailures() const { return recentFailures_; }

  static constexpr std::chrono::milliseconds kRequestTimeout{5000};

 private:
  boost::asio::awaitable<void> loop(size_t proxy, Protocol p);
  void record(size_t proxy, Protocol p, std::chrono::steady_clock::duration took, const std::string& instance,
              const std::string& failure, int grpcStatus);

  boost::asio::any_io_executor ex_;
  std::vector<boost::asio::ip::tcp::endpoint> proxies_;
  double ratePerLoop_;
  bool stopping_ = false;
  int loops_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::array<ProtocolStats, 3> stats_;
  std::map<std::string, uint64_t> perInstance_;
  std::map<std::string, uint64_t> windowPerInstance_;
  std::deque<FailureNote> recentFailures_;
};

// p-th percentile (0..100) of microsecond samples, in milliseconds; 0 if empty.
double percentileMs(std::vector<uint32_t> samples, double p);

}  // namespace weft::cli
