#include "cli/admin_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "net/address.h"

namespace weft::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;  // a /metrics of a big mesh fits

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Owns the socket; closes it on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

int msUntil(Clock::time_point t) {
  // Rounded up, so a wait "until t" never wakes just before t.
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1'000'000));
}

// Waits for `events` on fd until `deadline`. Returns 1 ready, 0 timed out, -1 error (errno set).
int waitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, msUntil(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return r;
    return 1;
  }
}

class Conn {
 public:
  Conn(const std::string& address, std::chrono::milliseconds timeout) : address_(address), timeout_(timeout) {}

  bool connect() {
    auto ep = net::parseEndpoint(address_);
    if (!ep) return fail("invalid address");
    fd_.fd = ::socket(ep->protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_.fd < 0) return failErrno("socket");
    int one = 1;
    ::setsockopt(fd_.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = ::connect(fd_.fd, ep->data(), static_cast<socklen_t>(ep->size()));
    if (r < 0 && errno != EINPROGRESS) return failErrno("connect");
    if (r < 0) {
      int w = waitFor(fd_.fd, POLLOUT, Clock::now() + timeout_);
      if (w == 0) return fail(fmt::format("connect: timed out after {} ms", timeout_.count()));
      if (w < 0) return failErrno("connect");
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        return failErrno("connect");
      }
    }
    return true;
  }

  bool sendAll(std::string_view data) {
    auto deadline = Clock::now() + timeout_;
    while (!data.empty()) {
      ssize_t n = ::send(fd_.fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN) return failErrno("send");
      int w = waitFor(fd_.fd, POLLOUT, deadline);
      if (w == 0) return fail("send: timed out");
      if (w < 0) return failErrno("send");
    }
    return true;
  }

  // Appends what arrives to buf_. 1: data, 0: orderly close, -1: error or timeout (error_ set).
  int readSome(Clock::time_point deadline) {
    char tmp[16 * 1024];
    for (;;) {
      ssize_t n = ::recv(fd_.fd, tmp, sizeof tmp, 0);
      if (n > 0) {
        buf_.append(tmp, static_cast<size_t>(n));
        return 1;
      }
      if (n == 0) return 0;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        failErrno("recv");
        return -1;
      }
      int w = waitFor(fd_.fd, POLLIN, deadline);
      if (w == 0) {
        timedOut_ = true;
        fail("read: timed out");
        return -1;
      }
      if (w < 0) {
        failErrno("recv");
        return -1;
      }
    }
  }

  bool fail(std::string what) {
    error_ = fmt::format("{}: {}", address_, what);
    return false;
  }
  bool failErrno(std::string_view what) { return fail(fmt::format("{}: {}", what, std::strerror(errno))); }

  std::string buf_;
  std::string error_;
  bool timedOut_ = false;

 private:
  std::string address_;
  std::chrono::milliseconds timeout_;
  Fd fd_;
};

}  // namespace

std::optional<std::string> normalizeAdminAddress(std::string_view address) {
  address = trim(address);
  if (address.empty()) return std::nullopt;
  if (std::all_of(address.begin(), address.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return fmt::format("127.0.0.1:{}", address);
  std::string a(address);
  if (a.rfind("localhost:", 0) == 0) a = "127.0.0.1:" + a.substr(10);
  if (a.rfind("http://", 0) == 0) a = a.substr(7);
  while (!a.empty() && a.back() == '/') a.pop_back();
  if (!net::parseEndpoint(a)) return std::nullopt;
  return a;
}

std::string probeTcp(std::string_view address, std::chrono::milliseconds timeout) {
  auto n = normalizeAdminAddress(address);
  if (!n) return fmt::format("'{}' is not an address (expected HOST:PORT)", address);
  Conn c(*n, timeout);
  return c.connect() ? std::string() : c.error_;
}

AdminClient::AdminClient(std::string_view address, std::chrono::milliseconds timeout) : timeout_(timeout) {
  auto n = normalizeAdminAddress(address);
  valid_ = n.has_value();
  address_ = n ? *n : std::string(address);
}

AdminResult AdminClient::get(std::string_view target) const {
  return request("GET", target, {}, nullptr, Clock::now() + timeout_, timeout_);
}
AdminResult AdminClient::put(std::string_view target, std::string_view body) const {
  return request("PUT", target, body, nullptr, Clock::now() + timeout_, timeout_);
}
AdminResult AdminClient::post(std::string_view target, std::string_view body) const {
  return request("POST", target, body, nullptr, Clock::now() + timeout_, timeout_);
}
AdminResult AdminClient::stream(std::string_view target, const std::function<bool(std::string_view)>& onData,
                                Clock::time_point until, std::chrono::milliseconds idleTimeout) const {
  return request("GET", target, {}, &onData, until, idleTimeout);
}

AdminResult AdminClient::request(std::string_view method, std::string_view target, std::string_view body,
                                 const std::function<bool(std::string_view)>* onData, Clock::time_point until,
                                 std::chrono::milliseconds idleTimeout) const {
  AdminResult res;
  if (!valid_) {
    res.error = fmt::format("'{}' is not an admin address (expected HOST:PORT, e.g. 127.0.0.1:4191)", address_);
    return res;
  }
  Conn c(address_, timeout_);
  if (!c.connect()) {
    res.error = c.error_;
    return res;
  }
  std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: weft-cli\r\nConnection: close\r\n", method,
                                target, address_);
  if (!body.empty() || method != "GET") req += fmt::format("Content-Length: {}\r\n", body.size());
  req += "\r\n";
  req.append(body);
  if (!c.sendAll(req)) {
    res.error = c.error_;
    return res;
  }

  // A non-streaming request has one deadline for the whole response; a
  // stream has an idle deadline per read, capped by `until`.
  auto nextDeadline = [&] {
    if (!onData) return until;
    return std::min(until, Clock::now() + idleTimeout);
  };

  // --- head ---
  size_t headEnd;
  while ((headEnd = c.buf_.find("\r\n\r\n")) == std::string::npos) {
    if (c.buf_.size() > kMaxHeadBytes) {
      res.error = fmt::format("{}: response head too large", address_);
      return res;
    }
    int r = c.readSome(onData ? std::min(until, Clock::now() + timeout_) : until);
    if (r <= 0) {
      res.error = r == 0 ? fmt::format("{}: connection closed before a response", address_) : c.error_;
      return res;
    }
  }
  std::string_view head(c.buf_.data(), headEnd);
  auto lineEnd = head.find("\r\n");
  std::string_view statusLine = head.substr(0, lineEnd);
  // "HTTP/1.1 200 OK"
  auto sp = statusLine.find(' ');
  int status = 0;
  if (statusLine.rfind("HTTP/1.", 0) != 0 || sp == std::string_view::npos ||
      std::from_chars(statusLine.data() + sp + 1, statusLine.data() + statusLine.size(), status).ec != std::errc{} ||
      status < 100 || status > 999) {
    res.error = fmt::format("{}: not an HTTP response (is this an admin port?)", address_);
    return res;
  }
  bool chunked = false;
  std::optional<size_t> contentLength;
  std::string_view rest = lineEnd == std::string_view::npos ? std::string_view{} : head.substr(lineEnd + 2);
  while (!rest.empty()) {
    auto e = rest.find("\r\n");
    auto line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto name = lower(trim(line.substr(0, colon)));
    auto value = trim(line.substr(colon + 1));
    if (name == "content-type") res.contentType = std::string(value);
    else if (name == "transfer-encoding") chunked = lower(value).find("chunked") != std::string::npos;
    else if (name == "content-length") {
      size_t n = 0;
      if (std::from_chars(value.data(), value.data() + value.size(), n).ec == std::errc{}) contentLength = n;
    }
  }
  res.status = status;
  c.buf_.erase(0, headEnd + 4);

  // --- body ---
  // Only a successful stream is streamed; an error's body is collected so
  // the caller can show it.
  if (onData && !res.ok()) onData = nullptr;
  std::string& out = res.body;
  auto deliver = [&](std::string_view piece) -> bool {
    if (piece.empty()) return true;
    if (onData) return (*onData)(piece);
    if (out.size() + piece.size() > kMaxBodyBytes) return false;
    out.append(piece);
    return true;
  };
  auto streamEndedByUs = [&] { return onData && (c.timedOut_ && Clock::now() >= until); };

  if (chunked) {
    for (;;) {
      // A chunk: "<hex>[;ext]\r\n<data>\r\n"; the last one is "0\r\n[trailers]\r\n".
      auto crlf = c.buf_.find("\r\n");
      if (crlf == std::string::npos) {
        int r = c.readSome(nextDeadline());
        if (r <= 0) break;
        continue;
      }
      size_t size = 0;
      auto line = std::string_view(c.buf_).substr(0, crlf);
      auto semi = line.find(';');
      if (semi != std::string_view::npos) line = line.substr(0, semi);
      line = trim(line);
      if (line.empty() || std::from_chars(line.data(), line.data() + line.size(), size, 16).ec != std::errc{}) {
        res.error = fmt::format("{}: malformed chunked body", address_);
        return res;
      }
      if (size == 0) return res;  // trailers, if any, are ignored
      while (c.buf_.size() < crlf + 2 + size + 2) {
        int r = c.readSome(nextDeadline());
        if (r <= 0) goto truncated;
      }
      if (!deliver(std::string_view(c.buf_).substr(crlf + 2, size))) return res;
      c.buf_.erase(0, crlf + 2 + size + 2);
    }
  truncated:
    if (streamEndedByUs()) return res;
    res.error = c.error_.empty() ? fmt::format("{}: response truncated", address_) : c.error_;
    return res;
  }

  size_t remaining = contentLength.value_or(SIZE_MAX);
  for (;;) {
    size_t take = std::min(remaining, c.buf_.size());
    if (!deliver(std::string_view(c.buf_).substr(0, take))) return res;
    c.buf_.erase(0, take);
    remaining -= take;
    if (remaining == 0) return res;
    int r = c.readSome(nextDeadline());
    if (r == 0) {
      if (contentLength) res.error = fmt::format("{}: response truncated", address_);
      return res;
    }
    if (r < 0) {
      if (!streamEndedByUs()) res.error = c.error_;
      return res;
    }
  }
}

}  // namespace weft::cli
