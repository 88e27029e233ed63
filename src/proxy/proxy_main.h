#pragma once
// Runs the proxy until SIGTERM/SIGINT or POST /shutdown; returns the exit code.
// Called once from main() on the main thread.
#include "proxy/config.h"

namespace weft::proxy {

int runProxy(ProxyConfig config);

}  // namespace weft::proxy
