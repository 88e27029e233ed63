// weft tap: live requests through a proxy, from its GET /tap stream.
#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include "cli/admin_client.h"
#include "cli/commands.h"
#include "cli/json_util.h"

namespace weft::cli {
namespace {

volatile std::sig_atomic_t gInterrupted = 0;
void onInterrupt(int) { gInterrupted = 1; }

std::string urlEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~' || c == '/' || c == ':')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

// "07:10:00.123" from "2026-12-01T07:10:00.123456Z".
std::string shortTime(std::string_view iso) {
  auto t = iso.find('T');
  if (t == std::string_view::npos || iso.size() < t + 13) return std::string(iso);
  return std::string(iso.substr(t + 1, 12));
}

std::string readable(const boost::json::value& v) {
  std::string line = fmt::format("{} {:<3} {:<6} {}{}", shortTime(jsonString(v, "time")),
                                 jsonString(v, "direction") == "inbound" ? "in" : "out", jsonString(v, "method"),
                                 jsonString(v, "authority"), jsonString(v, "path"));
  auto status = static_cast<int>(jsonNumber(v, "status"));
  line += fmt::format("  {}", status ? std::to_string(status) : std::string("---"));
  auto& o = v.as_object();
  if (auto* g = o.if_contains("grpc_status"); g && !g->is_null()) line += fmt::format(" grpc-status={}", jsonString(v, "grpc_status"));
  line += fmt::format("  {:.1f}ms", jsonNumber(v, "latency_ms"));
  auto endpoint = jsonString(v, "endpoint");
  line += fmt::format("  -> {}", endpoint.empty() ? "(no endpoint)" : endpoint);
  if (auto r = jsonNumber(v, "retries"); r > 0) line += fmt::format("  retries={}", r);
  if (auto e = jsonString(v, "proxy_error"); !e.empty()) {
    line += fmt::format("  weft-proxy-error={}", e);
    if (jsonString(v, "proxy_error_source") == "upstream") line += " (from upstream)";
  }
  return line;
}

}  // namespace

int runTap(const TapOptions& o) {
  std::string target = "/tap";
  auto add = [&](std::string_view key, const std::string& value) {
    if (value.empty()) return;
    target += target.size() == 4 ? '?' : '&';
    target += fmt::format("{}={}", key, urlEncode(value));
  };
  add("authority", o.authority);
  add("path", o.path);
  add("status", o.status);
  add("method", o.method);
  add("direction", o.direction);
  if (o.errors) add("errors", "true");
  if (o.count) add("limit", std::to_string(o.count));

  std::signal(SIGINT, onInterrupt);
  std::signal(SIGTERM, onInterrupt);
  AdminClient client(o.proxy);
  auto until = o.duration.count() > 0 ? std::chrono::steady_clock::now() + o.duration
                                      : std::chrono::steady_clock::time_point::max();
  uint64_t shown = 0, ringDropped = 0, slowDropped = 0;
  std::string pending;
  auto onData = [&](std::string_view piece) -> bool {
    if (gInterrupted) return false;
    pending.append(piece);
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      auto v = parseJson(line);
      if (!v || !v->is_object()) continue;
      auto type = jsonString(*v, "type");
      if (type == "start") {
        if (!o.json)
          std::fprintf(stderr, "tapping %s (Ctrl-C to stop)\n", client.address().c_str());
      } else if (type == "request") {
        ++shown;
        if (o.json) std::printf("%s\n", line.c_str());
        else std::printf("%s\n", readable(*v).c_str());
      } else if (type == "dropped") {
        auto ring = static_cast<uint64_t>(jsonNumber(*v, "ring_full"));
        auto slow = static_cast<uint64_t>(jsonNumber(*v, "client_slow"));
        ringDropped += ring;
        slowDropped += slow;
        if (o.json) std::printf("%s\n", line.c_str());
        else std::printf("-- dropped %llu record(s): %llu ring full, %llu client too slow --\n",
                         static_cast<unsigned long long>(ring + slow), static_cast<unsigned long long>(ring),
                         static_cast<unsigned long long>(slow));
      }
      std::fflush(stdout);
      if (o.count && shown >= o.count) return false;
    }
    return !gInterrupted;
  };
  // The proxy writes a heartbeat every second, so 5 s of silence means it is gone.
  auto res = client.stream(target, onData, until, std::chrono::seconds(5));
  std::string body = res.body.substr(0, 2048);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
  if (!res.reached()) {
    std::fprintf(stderr, "weft tap: %s\n", res.error.c_str());
    return kExitUnreachable;
  }
  if (res.status == 400) {
    std::fprintf(stderr, "weft tap: the proxy rejected the filter: %s\n", body.c_str());
    return kExitUsage;
  }
  if (!res.ok()) {
    std::fprintf(stderr, "weft tap: %s answered %d for %s%s%s\n", client.address().c_str(), res.status,
                 target.c_str(), body.empty() ? "" : ": ", body.c_str());
    return kExitUnreachable;
  }
  if (!res.error.empty() && !gInterrupted) {
    std::fprintf(stderr, "weft tap: stream ended: %s\n", res.error.c_str());
    return kExitUnreachable;
  }
  if (!o.json)
    std::fprintf(stderr, "%llu request(s) shown, %llu dropped (%llu ring full, %llu client too slow)\n",
                 static_cast<unsigned long long>(shown), static_cast<unsigned long long>(ringDropped + slowDropped),
                 static_cast<unsigned long long>(ringDropped), static_cast<unsigned long long>(slowDropped));
  return kExitOk;
}

}  // namespace weft::cli
