#pragma once
// `weft sample-server`: the demo's built-in backend. One port speaks
// HTTP/1.1, h2c (prior knowledge) and gRPC (a unary echo), detected from the
// first bytes, on the project's own server sessions (src/http/session). Every
// answer names the instance (`x-instance` header / gRPC initial metadata), so
// traffic per instance can be seen through the mesh.
//
// Like a gRPC server with maxConnectionAge, a connection older than
// `maxConnectionAge` (±10 % jitter) is drained: HTTP/2 gets GOAWAY(2^31-1) +
// PING, then GOAWAY(last stream), in-flight streams get `maxConnectionAgeGrace`,
// then the connection is closed (cut, without trailers, if anything is left —
// the incident 005 server); HTTP/1.1 gets `Connection: close` on its next
// response. SIGTERM/SIGINT drain every connection the same way (grace
// `drainTimeout`) and exit once they are closed.
//
// Runs on the calling thread (one io_context); returns the exit status.
#include <chrono>
#include <optional>
#include <string>

namespace weft::cli {

struct SampleServerOptions {
  std::string listen = "127.0.0.1:0";
  std::string name = "sample";
  std::optional<std::chrono::milliseconds> maxConnectionAge;   // unset: connections live on
  std::chrono::milliseconds maxConnectionAgeGrace{5000};
  std::chrono::milliseconds delay{0};                          // before every answer
  std::chrono::milliseconds drainTimeout{5000};                // on SIGTERM
  int backlog = 128;
};

// Prints "sample-server NAME listening on ADDR" on stdout once bound (the
// demo reads the port from it; port 0 is allowed).
int runSampleServer(const SampleServerOptions& options);

}  // namespace weft::cli
