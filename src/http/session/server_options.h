#pragma once
// Settings shared by the HTTP/1 and HTTP/2 server sessions (downstream side).
#include <chrono>
#include <cstdint>
#include <string>

namespace weft::net {
class DrainSignal;
}

namespace weft::http {

struct ServerOptions {
  std::string direction = "outbound";  // metric label: outbound | inbound
  std::chrono::milliseconds idleTimeout{300000};   // no request on an idle connection
  std::chrono::milliseconds headerTimeout{30000};  // a request head must arrive within this
  std::chrono::milliseconds drainTimeout{10000};   // in-flight grace after drain starts
  uint32_t maxHeaderListBytes = 64 * 1024;
  uint32_t maxConcurrentStreams = 1000;            // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
  size_t bodyBufferBytes = 64 * 1024;              // per-direction buffering per request
  net::DrainSignal* drain = nullptr;               // owned by the worker; outlives sessions
};

}  // namespace weft::http
