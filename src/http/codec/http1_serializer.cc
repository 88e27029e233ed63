#include "http/codec/http1_serializer.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <concepts>
#include <ostream>  // boost/beast/http/status.hpp uses std::ostream without including it

#include <boost/beast/http/status.hpp>

#include "http/codec/token.h"

namespace weft::http {

namespace {

bool safeName(std::string_view n) {
  if (n.empty()) return false;
  for (char c : n)
    if (!isTokenChar(c)) return false;
  return true;
}

// A number as text, in `buf` (no formatting library, no allocation: a
// status code and a Content-Length go into every head).
struct Digits {
  char buf[20];
  std::string_view text;
  explicit Digits(std::integral auto v, int base = 10) {
    auto r = std::to_chars(buf, buf + sizeof buf, v, base);
    text = std::string_view(buf, static_cast<size_t>(r.ptr - buf));
  }
};

bool safeValue(std::string_view v) {
  if (!hasControlOrDel(v)) return true;  // nearly every value: no byte-by-byte look
  for (char c : v)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

bool isFramingOrHopByHop(FieldKind k) {
  return isConnectionSpecific(k) || k == FieldKind::kContentLength || k == FieldKind::kHost;
}

bool isTeTrailers(const HeaderField& f) {
  std::string_view v = f.value;
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return iequals(v, "trailers");
}

void appendField(std::string& out, std::string_view name, std::string_view value) {
  // One size check and four copies instead of four appends.
  size_t at = out.size();
  out.resize(at + name.size() + 2 + value.size() + 2);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  std::memcpy(p, ": ", 2);
  p += 2;
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  std::memcpy(p, "\r\n", 2);
}

// Writes end-to-end fields. A list that still carries Connection (built by
// hand, or from a peer we did not parse) is cleaned with removeHopByHop()
// first so the fields it names are dropped too.
void appendFields(std::string& out, const HeaderList& headers) {
  const HeaderList* list = &headers;
  HeaderList cleaned;
  if (std::any_of(headers.begin(), headers.end(), [](const HeaderField& f) { return f.kind() == FieldKind::kConnection; })) {
    cleaned = headers;
    cleaned.removeHopByHop();
    list = &cleaned;
  }
  for (const auto& f : *list) {
    FieldKind kind = f.kind();
    if (isFramingOrHopByHop(kind)) continue;
    if (kind == FieldKind::kTe && !isTeTrailers(f)) continue;
    if (!safeName(f.name) || !safeValue(f.value)) continue;
    appendField(out, f.name, f.value);
  }
}

}  // namespace

BodyFraming requestFraming(const RequestHead& head) {
  if (head.contentLength) return BodyFraming::kContentLength;
  if (head.hasBody) return BodyFraming::kChunked;
  return BodyFraming::kNone;
}

void appendRequestHead(std::string& out, const RequestHead& head, BodyFraming framing,
                       const RequestHeadOptions& options) {
  out.append(head.method);
  out.push_back(' ');
  out.append(head.path.empty() ? std::string_view("/") : std::string_view(head.path));
  out.append(" HTTP/1.1\r\n");
  std::string_view host = head.authority.empty() ? head.headers.get("host") : std::string_view(head.authority);
  if (safeValue(host)) appendField(out, "Host", host);
  appendFields(out, head.headers);
  switch (framing) {
    case BodyFraming::kContentLength:
      appendField(out, "Content-Length", Digits(head.contentLength.value_or(0)).text);
      break;
    case BodyFraming::kChunked:
      appendField(out, "Transfer-Encoding", "chunked");
      break;
    case BodyFraming::kNone:
    case BodyFraming::kUntilClose:
      break;
  }
  if (options.upgrade) {
    appendField(out, "Connection", "Upgrade");
    if (safeValue(head.upgradeProtocol)) appendField(out, "Upgrade", head.upgradeProtocol);
  } else if (options.close) {
    appendField(out, "Connection", "close");
  }
  out.append(kCrlf);
}

BodyFraming responseFraming(const ResponseHead& head, std::string_view method, Version clientVersion) {
  if (iequals(method, "HEAD") || head.status < 200 || head.status == 204 || head.status == 304)
    return BodyFraming::kNone;
  if (head.contentLength) return BodyFraming::kContentLength;
  if (!head.hasBody) return BodyFraming::kContentLength;  // explicit empty body: Content-Length: 0
  return clientVersion == Version::kHttp10 ? BodyFraming::kUntilClose : BodyFraming::kChunked;
}

void appendResponseHead(std::string& out, const ResponseHead& head, BodyFraming framing,
                        const ResponseHeadOptions& options) {
  out.append("HTTP/1.1 ");
  out.append(Digits(head.status).text);
  out.push_back(' ');
  out.append(reasonPhrase(head.status));
  out.append(kCrlf);
  appendFields(out, head.headers);
  switch (framing) {
    case BodyFraming::kContentLength:
      appendField(out, "Content-Length", Digits(head.contentLength.value_or(0)).text);
      break;
    case BodyFraming::kChunked:
      appendField(out, "Transfer-Encoding", "chunked");
      break;
    case BodyFraming::kNone:
      // A HEAD response (or 304) may announce the length of the body it omits.
      if (head.contentLength && (options.headRequest || head.status == 304))
        appendField(out, "Content-Length", Digits(*head.contentLength).text);
      break;
    case BodyFraming::kUntilClose:
      break;
  }
  if (!options.upgradeProtocol.empty() && head.status == 101) {
    appendField(out, "Connection", "Upgrade");
    if (safeValue(options.upgradeProtocol)) appendField(out, "Upgrade", options.upgradeProtocol);
  } else if (options.close || framing == BodyFraming::kUntilClose) {
    appendField(out, "Connection", "close");
  } else if (options.http10KeepAlive) {
    appendField(out, "Connection", "keep-alive");
  }
  out.append(kCrlf);
}

void appendChunkHeader(std::string& out, size_t size) {
  out.append(Digits(size, 16).text);
  out.append(kCrlf);
}

void appendLastChunk(std::string& out, const HeaderList& trailers) {
  out.append("0\r\n");
  for (const auto& f : trailers) {
    if (isFramingOrHopByHop(f.kind()) || !safeName(f.name) || !safeValue(f.value)) continue;
    appendField(out, f.name, f.value);
  }
  out.append(kCrlf);
}

std::string_view reasonPhrase(int status) {
  if (status < 100 || status > 999) return "";
  auto code = boost::beast::http::int_to_status(static_cast<unsigned>(status));
  if (code == boost::beast::http::status::unknown) return "";
  auto sv = boost::beast::http::obsolete_reason(code);
  return std::string_view(sv.data(), sv.size());
}

}  // namespace weft::http
