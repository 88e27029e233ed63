// weft log-level: get or set a proxy's (or controller's) run-time log level.
#include <cstdio>

#include <fmt/format.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/json_util.h"

namespace weft::cli {

int runLogLevel(const LogLevelOptions& o) {
  AdminClient client(o.proxy);
  auto res = o.level.empty() ? client.get("/proxy-log-level") : client.put("/proxy-log-level", o.level);
  std::string body = res.body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  if (!res.reached()) {
    std::fprintf(stderr, "weft log-level: %s\n", res.error.c_str());
    return kExitUnreachable;
  }
  if (res.status == 400) {
    std::fprintf(stderr, "weft log-level: %s\n", body.c_str());
    return kExitUsage;
  }
  if (res.status == 403) {
    std::fprintf(stderr, "weft log-level: %s refused: %s (run it on the proxy's host)\n", client.address().c_str(),
                 body.c_str());
    return kExitProblem;
  }
  if (!res.ok()) {
    std::fprintf(stderr, "weft log-level: %s answered %d: %s\n", client.address().c_str(), res.status, body.c_str());
    return kExitUnreachable;
  }
  if (o.json)
    std::printf("{\"proxy\":%s,\"level\":%s,\"changed\":%s}\n", quote(client.address()).c_str(), quote(body).c_str(),
                o.level.empty() ? "false" : "true");
  else if (o.level.empty())
    std::printf("%s\n", body.c_str());
  else
    std::printf("%s: log level set to %s\n", client.address().c_str(), body.c_str());
  return kExitOk;
}

}  // namespace weft::cli
