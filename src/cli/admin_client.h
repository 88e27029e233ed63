#pragma once
// A small synchronous HTTP/1.1 client for the admin APIs of weft proxies and
// controllers (docs/cli.md). Every CLI command (and `weft demo`) talks to the
// mesh through it and nothing else.
//
// It is not the data path: one blocking socket per request (Connection:
// close), POSIX I/O with poll() deadlines, so a hung peer can never hang the
// CLI. Thread contract: an AdminClient is used by one thread at a time;
// distinct clients are independent. No exceptions: failures come back as an
// AdminResult with status 0 and a one-line `error` that names the address and
// the cause ("127.0.0.1:4191: connect: connection refused").
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace weft::cli {

struct AdminResult {
  int status = 0;            // HTTP status; 0 when no response was read
  std::string contentType;
  std::string body;          // the whole body (de-chunked); empty for stream()
  std::string error;         // set when status == 0, or for a truncated stream
  bool ok() const { return status >= 200 && status < 300; }
  bool reached() const { return status != 0; }
};

// "127.0.0.1:4191", "[::1]:4191", "localhost:4191" (→ 127.0.0.1) or a bare
// port ("4191", → 127.0.0.1). nullopt when it is none of those.
std::optional<std::string> normalizeAdminAddress(std::string_view address);

// Connects to `address` (HOST:PORT) and closes at once: "is something
// listening". Empty on success, else a one-line error naming the address.
std::string probeTcp(std::string_view address, std::chrono::milliseconds timeout = std::chrono::seconds(2));

class AdminClient {
 public:
  // `address` as accepted by normalizeAdminAddress (an invalid one makes
  // every call fail with a clear error). `timeout` bounds connect, each
  // read and each write separately, and a whole non-streaming request.
  explicit AdminClient(std::string_view address, std::chrono::milliseconds timeout = std::chrono::seconds(3));

  const std::string& address() const { return address_; }

  AdminResult get(std::string_view target) const;
  AdminResult put(std::string_view target, std::string_view body) const;
  AdminResult post(std::string_view target, std::string_view body = {}) const;

  // A streaming GET (GET /tap): delivers the body in pieces as they arrive,
  // de-chunked, to `onData`, until it returns false, the server ends the
  // response, `until` passes, or nothing arrives for `idleTimeout`. The
  // result carries the status and headers; its body stays empty. A stream
  // ended by `until` or by onData is not an error. A non-2xx response is
  // not streamed: its body is returned in the result.
  AdminResult stream(std::string_view target, const std::function<bool(std::string_view)>& onData,
                     std::chrono::steady_clock::time_point until,
                     std::chrono::milliseconds idleTimeout = std::chrono::seconds(30)) const;

 private:
  AdminResult request(std::string_view method, std::string_view target, std::string_view body,
                      const std::function<bool(std::string_view)>* onData,
                      std::chrono::steady_clock::time_point until, std::chrono::milliseconds idleTimeout) const;

  std::string address_;
  bool valid_ = false;
  std::chrono::milliseconds timeout_;
};

}  // namespace weft::cli
