#pragma once
// GET /tap on the proxy admin: streams the tap (proxy/tap.h) as NDJSON,
// filtered per client by query parameters (docs/cli.md, "GET /tap").
//
// Admin thread only. Every connected client polls the shared hub every
// 25 ms; a poll drains all worker rings once and fans the records out to the
// clients whose filters match. Each client has a bounded queue: a client that
// cannot keep up loses records (counted as weft_tap_dropped_total
// {reason="client-slow"} and reported in its stream), never blocks a worker
// or another client.
#include <optional>
#include <string>
#include <string_view>

#include "admin/admin_server.h"
#include "proxy/tap.h"

namespace weft::proxy {

struct TapFilter {
  std::string authority;    // exact, normalized (a missing port means 80)
  std::string pathPrefix;
  std::string method;
  int direction = -1;       // -1 any, 0 outbound, 1 inbound
  int status = 0;           // exact status, or with statusClass a class
  bool statusClass = false; // status holds 1..5 for "1xx".."5xx"
  bool errorsOnly = false;  // 5xx, no status, a proxy error, or a non-OK grpc-status
  uint64_t limit = 0;       // end the stream after this many records (0: no limit)

  bool matches(const TapRecord& r) const;
};

// Parses the /tap query string; on error returns nullopt and sets `error`.
std::optional<TapFilter> parseTapFilter(std::string_view query, std::string& error);

// One NDJSON line (with '\n') for a request record.
void appendTapJson(const TapRecord& r, std::string& out);

// Registers GET /tap. `tap` must outlive the admin server's connections
// (runProxy stops the admin server before the tap goes).
void registerTapRoute(admin::AdminServer& admin, Tap& tap);

}  // namespace weft::proxy
