#pragma once
// Shared by the Cluster tests: real probe connects to listeners on 127.0.0.1
// (port 0), and a bounded loop that runs the io_context until a condition holds.
#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "model/endpoint.h"

namespace weft::upstream::clustertest {

inline model::Endpoint endpointOf(const boost::asio::ip::tcp::acceptor& a) {
  return model::Endpoint{"127.0.0.1:" + std::to_string(a.local_endpoint().port()), 1};
}

inline bool runUntil(boost::asio::io_context& ctx, const std::function<bool()>& done) {
  using namespace std::chrono;
  auto deadline = steady_clock::now() + seconds(5);  // generous: a loaded machine
  while (!done() && steady_clock::now() < deadline) {
    ctx.run_for(milliseconds(10));
    ctx.restart();
  }
  return done();
}

}  // namespace weft::upstream::clustertest
