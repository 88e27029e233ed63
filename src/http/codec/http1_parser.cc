#include "http/codec/http1_parser.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <optional>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

namespace weft::http {

namespace beasthttp = boost::beast::http;
using boost::beast::error_code;

std::string_view http1ErrorReason(Http1Error e) {
  switch (e) {
    case Http1Error::kNone: return "none";
    case Http1Error::kHeadTooLarge: return "head-too-large";
    case Http1Error::kBadStartLine: return "bad-start-line";
    case Http1Error::kBadVersion: return "bad-version";
    case Http1Error::kBadTarget: return "bad-target";
    case Http1Error::kBadHeaderName: return "bad-header-name";
    case Http1Error::kSpaceBeforeColon: return "space-before-colon";
    case Http1Error::kObsFold: return "obs-fold";
    case Http1Error::kBareCr: return "bare-cr";
    case Http1Error::kBareLf: return "bare-lf";
    case Http1Error::kBadHeaderValue: return "bad-header-value";
    case Http1Error::kContentLengthWithTransferEncoding: return "content-length-with-transfer-encoding";
    case Http1Error::kConflictingContentLength: return "conflicting-content-length";
    case Http1Error::kBadContentLength: return "bad-content-length";
    case Http1Error::kBadTransferEncoding: return "bad-transfer-encoding";
    case Http1Error::kBadChunk: return "bad-chunk";
    case Http1Error::kTrailersTooLarge: return "trailers-too-large";
    case Http1Error::kMissingHost: return "missing-host";
    case Http1Error::kMultipleHost: return "multiple-host";
    case Http1Error::kTruncated: return "truncated";
    case Http1Error::kOther: return "other";
  }
  return "other";
}

namespace {

// RFC 9110 §5.6.2 tchar, as a table: the head pre-scan looks up every byte
// of every field name.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool isTchar(unsigned char c) { return kTchar[c]; }

// Whether any byte is a control character (below 0x20, HTAB included) or DEL,
// eight bytes at a time: a header line almost never has one, and then neither
// the search for a bare CR nor the per-byte value check is needed. Exact as a
// yes/no answer (the classic "has a byte less than n" word test, n <= 128;
// bytes of 0x80 and up are never flagged).
bool hasControlOrDel(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  auto hasByteBelow = [](uint64_t w, uint64_t n) { return ((w - kOnes * n) & ~w & kHighs) != 0; };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (hasByteBelow(w, 0x20) || hasByteBelow(w ^ (kOnes * 0x7f), 1)) return true;
  }
  for (; i < s.size(); ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Bare CR / bare LF among bytes [from, in.size()); a CR as the very last
// byte is undecided until its successor arrives. Returns the first
// unchecked position through `next`.
Http1Error scanLineEndings(std::string_view in, size_t from, size_t& next) {
  size_t i = from;
  for (; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\r') {
      if (i + 1 == in.size()) break;
      if (in[i + 1] != '\n') return Http1Error::kBareCr;
    } else if (c == '\n') {
      if (i == 0 || in[i - 1] != '\r') return Http1Error::kBareLf;
    }
  }
  next = i;
  return Http1Error::kNone;
}

// Per-message state shared by the Beast callbacks and our wrapper.
struct MessageState {
  uint32_t maxHeadBytes = 64 * 1024;
  std::string method;
  std::string target;
  int version = 11;
  int status = 0;
  HeaderList rawHeaders;
  HeaderList trailers;
  std::string body;
  size_t trailerBytes = 0;
  size_t hostCount = 0;
  bool sawContentLength = false;
  bool sawTransferEncoding = false;
  bool isRequest = true;
  Http1Error error = Http1Error::kNone;  // set by our own checks in callbacks

  void resetMessage() {
    method.clear();
    target.clear();
    version = 11;
    status = 0;
    rawHeaders.clear();
    trailers.clear();
    body.clear();
    trailerBytes = 0;
    hostCount = 0;
    sawContentLength = false;
    sawTransferEncoding = false;
    error = Http1Error::kNone;
  }
};

template <bool isRequest>
class BeastParser final : public beasthttp::basic_parser<isRequest> {
 public:
  explicit BeastParser(MessageState& s) : s_(s) {}

 private:
  void on_request_impl(beasthttp::verb, boost::beast::string_view method, boost::beast::string_view target,
                       int version, error_code& ec) override {
    s_.method.assign(method.data(), method.size());
    s_.target.assign(target.data(), target.size());
    s_.version = version;
    if (version != 10 && version != 11) {
      s_.error = Http1Error::kBadVersion;
      ec = beasthttp::error::bad_version;
    }
  }

  void on_response_impl(int code, boost::beast::string_view, int version, error_code& ec) override {
    s_.status = code;
    s_.version = version;
    if (version != 10 && version != 11) {
      s_.error = Http1Error::kBadVersion;
      ec = beasthttp::error::bad_version;
    } else if (code < 100 || code > 999) {
      s_.error = Http1Error::kBadStartLine;
      ec = beasthttp::error::bad_status;
    }
  }

  void on_field_impl(beasthttp::field f, boost::beast::string_view name, boost::beast::string_view value,
                     error_code& ec) override {
    std::string_view n(name.data(), name.size());
    std::string_view v(value.data(), value.size());
    if (this->is_header_done()) {
      // Trailer section of a chunked body.
      s_.trailerBytes += n.size() + v.size();
      if (s_.trailerBytes > s_.maxHeadBytes) {
        s_.error = Http1Error::kTrailersTooLarge;
        ec = beasthttp::error::header_limit;
        return;
      }
      s_.trailers.add(n, v);
      return;
    }
    if (f == beasthttp::field::host) ++s_.hostCount;
    if (f == beasthttp::field::content_length) s_.sawContentLength = true;
    if (f == beasthttp::field::transfer_encoding) {
      s_.sawTransferEncoding = true;
      // We do not decode transfer codings, so anything but exactly
      // "chunked" cannot be forwarded faithfully (and is a smuggling vector).
      if (!iequals(trimOws(v), "chunked")) {
        s_.error = Http1Error::kBadTransferEncoding;
        ec = beasthttp::error::bad_transfer_encoding;
        return;
      }
    }
    s_.rawHeaders.add(n, v);
  }

  void on_header_impl(error_code&) override {}
  void on_body_init_impl(boost::optional<std::uint64_t> const&, error_code&) override {}

  std::size_t on_body_impl(boost::beast::string_view body, error_code&) override {
    s_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body, error_code&) override {
    s_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_finish_impl(error_code&) override {}

  MessageState& s_;
};

Http1Error mapBeastError(const error_code& ec, const MessageState& s) {
  if (s.error != Http1Error::kNone) return s.error;
  using E = beasthttp::error;
  if (ec == E::header_limit) return Http1Error::kHeadTooLarge;
  if (ec == E::bad_method || ec == E::bad_status || ec == E::bad_reason) return Http1Error::kBadStartLine;
  if (ec == E::bad_target) return Http1Error::kBadTarget;
  if (ec == E::bad_version) return Http1Error::kBadVersion;
  if (ec == E::bad_field) return Http1Error::kBadHeaderName;
  if (ec == E::bad_value) return Http1Error::kBadHeaderValue;
  if (ec == E::bad_line_ending) return Http1Error::kBareCr;
  if (ec == E::bad_content_length)
    return s.sawTransferEncoding ? Http1Error::kContentLengthWithTransferEncoding : Http1Error::kBadContentLength;
  if (ec == E::multiple_content_length) return Http1Error::kConflictingContentLength;
  if (ec == E::bad_transfer_encoding)
    return s.sawContentLength ? Http1Error::kContentLengthWithTransferEncoding : Http1Error::kBadTransferEncoding;
  if (ec == E::bad_chunk || ec == E::bad_chunk_extension) return Http1Error::kBadChunk;
  if (ec == E::partial_message || ec == E::short_read) return Http1Error::kTruncated;
  return Http1Error::kOther;
}

// Shared driver for both directions.
template <bool isRequest>
struct Core {
  MessageState state;
  std::optional<BeastParser<isRequest>> parser;
  size_t scanned = 0;   // head bytes already checked for bare CR/LF
  bool started = false;
  bool headRequest = false;
  Http1Error error = Http1Error::kNone;
  // After Beast answered need_more without consuming anything (a chunk-size
  // line or the last-chunk + trailer section is incomplete), it is not called
  // again until the buffer holds at least this much. Beast assumes the
  // final-chunk section is re-presented with at least 5 bytes ("0\r\n" plus
  // part of the closing CRLF) and asserts otherwise, so "0\r\n" then "\r" in
  // separate reads would abort the process. The complete last chunk is at least
  // 5 bytes, so waiting never stalls a valid message.
  size_t retryAtSize = 0;

  void reset(uint32_t maxHeadBytes) {
    state.resetMessage();
    state.maxHeadBytes = maxHeadBytes;
    state.isRequest = isRequest;
    parser.emplace(state);
    parser->eager(true);
    parser->body_limit(boost::none);
    parser->header_limit(maxHeadBytes);
    if (!isRequest && headRequest) parser->skip(true);
    scanned = 0;
    started = false;
    error = Http1Error::kNone;
    retryAtSize = 0;
  }

  Http1Event fail(Http1Error e) {
    error = e;
    return Http1Event::kError;
  }

  // Parses the head once it is complete; `buildHead` fills the typed head.
  template <class BuildHead>
  Http1Event parseHead(std::string_view in, size_t& consumed, BuildHead&& buildHead) {
    if (isRequest && !started) {
      // RFC 9112 §2.2: ignore empty lines before the request line.
      while (in.size() >= 2 && in[0] == '\r' && in[1] == '\n') {
        in.remove_prefix(2);
        consumed += 2;
      }
      if (in.size() == 1 && in[0] == '\r') return Http1Event::kNeedMore;
    }
    if (in.empty()) return Http1Event::kNeedMore;
    started = true;
    size_t searchFrom = scanned >= 3 ? scanned - 3 : 0;
    size_t end = in.find("\r\n\r\n", searchFrom);
    if (end == std::string_view::npos) {
      size_t next = scanned;
      if (auto e = scanLineEndings(in, scanned, next); e != Http1Error::kNone) return fail(e);
      scanned = next;
      if (in.size() > state.maxHeadBytes) return fail(Http1Error::kHeadTooLarge);
      return Http1Event::kNeedMore;
    }
    size_t headLen = end + 4;
    if (headLen > state.maxHeadBytes) return fail(Http1Error::kHeadTooLarge);
    std::string_view head = in.substr(0, headLen);
    if (auto e = validateHeadBytes(head, isRequest); e != Http1Error::kNone) return fail(e);
    error_code ec;
    size_t n = parser->put(boost::beast::net::const_buffer(head.data(), head.size()), ec);
    if (ec && ec != beasthttp::error::need_more) return fail(mapBeastError(ec, state));
    if (!parser->is_header_done() || n != headLen) return fail(Http1Error::kOther);
    consumed += n;
    if (auto e = buildHead(); e != Http1Error::kNone) return fail(e);
    return Http1Event::kHead;
  }

  Http1Event parseBody(std::string_view in, size_t& consumed) {
    if (parser->is_done()) return Http1Event::kDone;
    if (in.empty() || in.size() < retryAtSize) return Http1Event::kNeedMore;
    error_code ec;
    size_t n = parser->put(boost::beast::net::const_buffer(in.data(), in.size()), ec);
    consumed += n;
    retryAtSize = ec == beasthttp::error::need_more && n == 0 ? std::max<size_t>(in.size() + 1, 5) : 0;
    if (ec == beasthttp::error::need_more) {
      // A chunk-size line or trailer section never ends: bound what the
      // caller has to buffer for it.
      if (n == 0 && in.size() > state.maxHeadBytes + 64) {
        return fail(state.trailers.empty() && state.trailerBytes == 0 ? Http1Error::kBadChunk
                                                                      : Http1Error::kTrailersTooLarge);
      }
      return Http1Event::kNeedMore;
    }
    if (ec) return fail(mapBeastError(ec, state));
    if (parser->is_done()) return Http1Event::kDone;
    return n == 0 ? Http1Event::kNeedMore : Http1Event::kBody;
  }

  Http1Event parse(std::string_view in, size_t& consumed, auto&& buildHead) {
    consumed = 0;
    if (error != Http1Error::kNone) return Http1Event::kError;
    if (!parser->is_header_done()) return parseHead(in, consumed, buildHead);
    return parseBody(in, consumed);
  }
};

bool hasToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (iequals(trimOws(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The parsed fields move into the typed head (no copy of every name and
// value); the parser starts its next list with room for a typical head.
void takeHeaders(MessageState& s, HeaderList& into) {
  into = std::move(s.rawHeaders);
  s.rawHeaders = HeaderList();
  s.rawHeaders.reserve(kExpectedFields);
}

}  // namespace

Http1Error validateHeadBytes(std::string_view head, bool isRequest) {
  size_t pos = 0;
  bool firstLine = true;
  while (pos < head.size()) {
    size_t eol = head.find('\n', pos);
    if (eol == std::string_view::npos) return Http1Error::kBareCr;  // no terminator: not a head
    if (eol == pos || head[eol - 1] != '\r') return Http1Error::kBareLf;
    std::string_view line = head.substr(pos, eol - 1 - pos);
    pos = eol + 1;
    if (line.empty()) break;  // end of head
    // Without a control byte the line has no bare CR and its value is clean:
    // only the name (and, on the first line, the target) is left to check.
    bool plain = !hasControlOrDel(line);
    if (!plain && line.find('\r') != std::string_view::npos) return Http1Error::kBareCr;
    if (firstLine) {
      firstLine = false;
      if (line.front() == ' ' || line.front() == '\t') return Http1Error::kBadStartLine;
      if (isRequest) {
        // method SP request-target SP HTTP-version; the target must be
        // visible ASCII (no CTL, SP or obs-text).
        auto sp1 = line.find(' ');
        auto sp2 = line.rfind(' ');
        if (sp1 == std::string_view::npos || sp1 == sp2 || sp1 == 0) return Http1Error::kBadStartLine;
        for (size_t i = 0; i < sp1; ++i)
          if (!isTchar(static_cast<unsigned char>(line[i]))) return Http1Error::kBadStartLine;
        std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        if (target.empty()) return Http1Error::kBadTarget;
        for (char c : target) {
          auto u = static_cast<unsigned char>(c);
          if (u <= 0x20 || u >= 0x7f) return Http1Error::kBadTarget;
        }
      } else if (!plain) {
        for (char c : line) {
          auto u = static_cast<unsigned char>(c);
          if ((u < 0x20 && u != '\t') || u == 0x7f) return Http1Error::kBadStartLine;
        }
      }
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') return Http1Error::kObsFold;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Http1Error::kBadHeaderName;
    for (size_t i = 0; i < colon; ++i) {
      auto u = static_cast<unsigned char>(line[i]);
      if (u == ' ' || u == '\t') return Http1Error::kSpaceBeforeColon;
      if (!isTchar(u)) return Http1Error::kBadHeaderName;
    }
    if (plain) continue;
    for (size_t i = colon + 1; i < line.size(); ++i) {
      auto u = static_cast<unsigned char>(line[i]);
      if ((u < 0x20 && u != '\t') || u == 0x7f) return Http1Error::kBadHeaderValue;
    }
  }
  if (firstLine) return Http1Error::kBadStartLine;
  return Http1Error::kNone;
}

// ---------------------------------------------------------------- request

struct Http1RequestParser::Impl {
  Core<true> core;
  RequestHead head;

  Http1Error buildHead() {
    auto& s = core.state;
    auto& p = *core.parser;
    head = RequestHead{};
    head.method = s.method;
    head.version = s.version == 10 ? Version::kHttp10 : Version::kHttp11;
    std::string_view target = s.target;
    std::string absoluteAuthority;
    bool absolute = false;
    if (!target.empty() && target.front() != '/' && target != "*") {
      // absolute-form (a client configured with us as its HTTP proxy):
      // the authority in the target wins over Host (RFC 9112 §3.2.2).
      auto schemeEnd = target.find("://");
      if (schemeEnd != std::string_view::npos && schemeEnd > 0) {
        absolute = true;
        head.scheme = std::string(target.substr(0, schemeEnd));
        for (auto& c : head.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto rest = target.substr(schemeEnd + 3);
        auto slash = rest.find_first_of("/?");
        absoluteAuthority = std::string(rest.substr(0, slash));
        head.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
        if (!head.path.empty() && head.path.front() == '?') head.path.insert(0, "/");
        if (absoluteAuthority.empty()) return Http1Error::kBadTarget;
      } else if (iequals(head.method, "CONNECT")) {
        head.path = std::string(target);  // authority-form
      } else {
        return Http1Error::kBadTarget;
      }
    } else {
      head.path = std::string(target);
    }
    if (s.hostCount > 1) return Http1Error::kMultipleHost;
    if (s.hostCount == 0 && head.version == Version::kHttp11 && !absolute) return Http1Error::kMissingHost;
    head.authority = absolute ? absoluteAuthority : std::string(s.rawHeaders.get("host"));

    bool chunked = p.chunked();
    if (auto cl = p.content_length(); cl && !chunked) head.contentLength = *cl;
    head.hasBody = chunked || (head.contentLength && *head.contentLength > 0);
    head.keepAlive = p.keep_alive();

    if (p.upgrade() && !head.hasBody) {
      head.upgrade = true;
      head.upgradeProtocol = std::string(trimOws(s.rawHeaders.get("upgrade")));
    }
    for (const auto& f : s.rawHeaders) {
      if (iequals(f.name, "expect") && iequals(trimOws(f.value), "100-continue")) {
        // We answer 100-continue ourselves when the body is first needed;
        // upstream gets the body without the handshake.
        head.expectContinue = head.hasBody && head.version == Version::kHttp11;
      }
    }
    if (hasToken(s.rawHeaders.get("connection"), "close")) head.keepAlive = false;
    takeHeaders(s, head.headers);
    head.headers.removeHopByHop({FieldKind::kHost, FieldKind::kContentLength});
    if (head.headers.has("expect")) {
      HeaderList kept;
      for (const auto& f : head.headers)
        if (!(iequals(f.name, "expect") && iequals(trimOws(f.value), "100-continue"))) kept.add(f.name, f.value);
      head.headers = std::move(kept);
    }
    return Http1Error::kNone;
  }
};

Http1RequestParser::Http1RequestParser(uint32_t maxHeadBytes)
    : impl_(std::make_unique<Impl>()), maxHeadBytes_(maxHeadBytes) {
  impl_->core.reset(maxHeadBytes_);
}
Http1RequestParser::~Http1RequestParser() = default;

Http1Event Http1RequestParser::parse(std::string_view in, size_t& consumed) {
  return impl_->core.parse(in, consumed, [this] { return impl_->buildHead(); });
}
void Http1RequestParser::reset() { impl_->core.reset(maxHeadBytes_); }
bool Http1RequestParser::headDone() const { return impl_->core.parser->is_header_done(); }
bool Http1RequestParser::done() const { return impl_->core.parser->is_done(); }
bool Http1RequestParser::started() const { return impl_->core.started; }
RequestHead& Http1RequestParser::requestHead() { return impl_->head; }
std::string& Http1RequestParser::body() { return impl_->core.state.body; }
HeaderList& Http1RequestParser::trailers() { return impl_->core.state.trailers; }
Http1Error Http1RequestParser::error() const { return impl_->core.error; }
bool Http1RequestParser::chunked() const { return headDone() && impl_->core.parser->chunked(); }

// ---------------------------------------------------------------- response

struct Http1ResponseParser::Impl {
  Core<false> core;
  ResponseHead head;
  std::string upgradeProtocol;

  Http1Error buildHead() {
    auto& s = core.state;
    auto& p = *core.parser;
    head = ResponseHead{};
    head.status = s.status;
    head.version = s.version == 10 ? Version::kHttp10 : Version::kHttp11;
    bool chunked = p.chunked();
    if (auto cl = p.content_length(); cl && !chunked) head.contentLength = *cl;
    bool noBody = s.status < 200 || s.status == 204 || s.status == 304 || core.headRequest;
    head.hasBody = !noBody && !(head.contentLength && *head.contentLength == 0);
    head.keepAlive = p.keep_alive() && !hasToken(s.rawHeaders.get("connection"), "close");
    upgradeProtocol = s.status == 101 ? std::string(trimOws(s.rawHeaders.get("upgrade"))) : std::string();
    takeHeaders(s, head.headers);
    head.headers.removeHopByHop({FieldKind::kContentLength});
    return Http1Error::kNone;
  }
};

Http1ResponseParser::Http1ResponseParser(uint32_t maxHeadBytes)
    : impl_(std::make_unique<Impl>()), maxHeadBytes_(maxHeadBytes) {
  impl_->core.reset(maxHeadBytes_);
}
Http1ResponseParser::~Http1ResponseParser() = default;

void Http1ResponseParser::reset(bool headRequest) {
  impl_->core.headRequest = headRequest;
  impl_->core.reset(maxHeadBytes_);
  impl_->upgradeProtocol.clear();
}
Http1Event Http1ResponseParser::parse(std::string_view in, size_t& consumed) {
  return impl_->core.parse(in, consumed, [this] { return impl_->buildHead(); });
}
Http1Event Http1ResponseParser::finishOnEof() {
  auto& c = impl_->core;
  if (c.error != Http1Error::kNone) return Http1Event::kError;
  if (c.parser->is_done()) return Http1Event::kDone;
  if (!c.parser->is_header_done()) return c.fail(Http1Error::kTruncated);
  error_code ec;
  c.parser->put_eof(ec);
  if (ec) return c.fail(mapBeastError(ec, c.state));
  return c.parser->is_done() ? Http1Event::kDone : c.fail(Http1Error::kTruncated);
}
bool Http1ResponseParser::headDone() const { return impl_->core.parser->is_header_done(); }
bool Http1ResponseParser::done() const { return impl_->core.parser->is_done(); }
bool Http1ResponseParser::started() const { return impl_->core.started; }
bool Http1ResponseParser::untilEof() const { return headDone() && impl_->core.parser->need_eof(); }
ResponseHead& Http1ResponseParser::responseHead() { return impl_->head; }
std::string& Http1ResponseParser::body() { return impl_->core.state.body; }
HeaderList& Http1ResponseParser::trailers() { return impl_->core.state.trailers; }
Http1Error Http1ResponseParser::error() const { return impl_->core.error; }
bool Http1ResponseParser::chunked() const { return headDone() && impl_->core.parser->chunked(); }
const std::string& Http1ResponseParser::upgradeProtocol() const { return impl_->upgradeProtocol; }

}  // namespace weft::http
