#pragma once
// `weft demo`: a small mesh on loopback that plays INCIDENTS.md as a story
// (docs/demo.md). It starts, as child processes of itself, a `weft
// controller` with a file source, two `weft proxy` instances and `weft
// sample-server` instances; drives HTTP/1.1, h2c and gRPC traffic through both
// proxies; edits the services file (canary promotion, rolling update, an
// instance gone dark, a server with a short max connection age) while a live
// view shows traffic per endpoint; and ends with a summary.
//
// Exit status: 0 only if every request succeeded and every story step's check
// held; 1 otherwise; 130 when interrupted (SIGINT/SIGTERM). Every child is
// stopped on every exit path (and dies with the demo if it is killed:
// PR_SET_PDEATHSIG). Runs on the calling thread.
#include <string>

namespace weft::cli {

struct DemoOptions {
  double durationSeconds = 60;
  bool noTty = false;      // plain lines even on a terminal
  bool keep = false;       // keep the temp folder (configs and logs)
  std::string discovery = "controller";  // controller | static (proxy clusters + SIGHUP)
};

int runDemo(const DemoOptions& options);

}  // namespace weft::cli
