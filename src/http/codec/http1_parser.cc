#include "http/codec/http1_parser.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <optional>

#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include "http/codec/token.h"

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

// Per-message state: what the head said, and the body and trailers parsed
// so far.
struct MessageState {
  uint32_t maxHeadBytes = 64 * 1024;
  // The start line's parts: views into the head bytes, valid only while the
  // head is being parsed (buildHead copies what it keeps).
  std::string_view method;
  std::string_view target;
  int version = 11;
  int status = 0;
  HeaderList rawHeaders;
  HeaderList trailers;
  std::string body;
  size_t trailerBytes = 0;
  size_t hostCount = 0;
  bool sawContentLength = false;
  bool sawTransferEncoding = false;
  // Fields the head interprets but does not forward never enter rawHeaders
  // (an erase pass over every head cost ~2 % of an HTTP/1 request): the
  // fixed hop-by-hop fields, Content-Length and, in a request, Host. Host
  // and Upgrade are kept here for buildHead. hopByHopPass: the head still
  // has fields only a removeHopByHop() pass finds (TE, or a field named in
  // Connection).
  std::string host;
  std::string upgrade;
  bool sawUpgrade = false;
  bool hopByHopPass = false;
  Http1Error error = Http1Error::kNone;  // set by our own checks in Beast's callbacks

  void resetMessage() {
    method = {};
    target = {};
    version = 11;
    status = 0;
    rawHeaders.clear();
    trailers.clear();
    body.clear();
    trailerBytes = 0;
    hostCount = 0;
    sawContentLength = false;
    sawTransferEncoding = false;
    host.clear();
    upgrade.clear();
    sawUpgrade = false;
    hopByHopPass = false;
    error = Http1Error::kNone;
  }
};

// A chunked body is decoded by Beast's parser, which has the chunk-size,
// extension, last-chunk and trailer grammar (and its hardening) right. The
// head is ours (scanHead), so Beast is handed a head of its own that says
// only "chunked" (kChunkedHead), then the body bytes. The trailers come
// back through on_field_impl.
constexpr std::string_view kChunkedHead = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";

class ChunkedBodyParser final : public beasthttp::basic_parser<true> {
 public:
  explicit ChunkedBodyParser(MessageState& s) : s_(s) {}

 private:
  void on_request_impl(beasthttp::verb, boost::beast::string_view, boost::beast::string_view, int,
                       error_code&) override {}
  void on_response_impl(int, boost::beast::string_view, int, error_code&) override {}
  void on_field_impl(beasthttp::field, boost::beast::string_view name, boost::beast::string_view value,
                     error_code& ec) override {
    if (!this->is_header_done()) return;  // kChunkedHead's own field
    std::string_view n(name.data(), name.size());
    std::string_view v(value.data(), value.size());
    s_.trailerBytes += n.size() + v.size();
    if (s_.trailerBytes > s_.maxHeadBytes) {
      s_.error = Http1Error::kTrailersTooLarge;
      ec = beasthttp::error::header_limit;
      return;
    }
    s_.trailers.add(n, v);
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
  if (ec == E::header_limit) return Http1Error::kTrailersTooLarge;
  if (ec == E::bad_field) return Http1Error::kBadHeaderName;
  if (ec == E::bad_value) return Http1Error::kBadHeaderValue;
  if (ec == E::bad_line_ending) return Http1Error::kBareCr;
  // Framing fields in the trailer section (Beast checks them there too; a
  // chunked body's Content-Length is one with Transfer-Encoding).
  if (ec == E::bad_content_length)
    return s.sawTransferEncoding ? Http1Error::kContentLengthWithTransferEncoding : Http1Error::kBadContentLength;
  if (ec == E::multiple_content_length) return Http1Error::kConflictingContentLength;
  if (ec == E::bad_transfer_encoding)
    return s.sawContentLength ? Http1Error::kContentLengthWithTransferEncoding : Http1Error::kBadTransferEncoding;
  if (ec == E::bad_chunk || ec == E::bad_chunk_extension) return Http1Error::kBadChunk;
  if (ec == E::partial_message || ec == E::short_read) return Http1Error::kTruncated;
  return Http1Error::kOther;
}

// A decimal Content-Length element: digits only, no sign, no overflow.
bool parseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    auto d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// "HTTP/" DIGIT "." DIGIT, as 10 * major + minor; -1 when not that shape.
int parseVersion(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.') return -1;
  if (v[5] < '0' || v[5] > '9' || v[7] < '0' || v[7] > '9') return -1;
  return (v[5] - '0') * 10 + (v[7] - '0');
}

// One pass over a complete head (start line through the blank line): every
// byte is checked for the smuggling vectors Beast tolerated (bare CR or LF,
// obs-fold, whitespace before a colon, non-token names or methods, control
// characters), and each line, once checked, is handed to `sink` split:
// sink.startLine(line) once, then sink.field(name, value) per field, the
// value without its surrounding whitespace. A byte-level error anywhere in
// the head wins over the sink's (its reason names the smuggling vector: an
// obs-folded Transfer-Encoding is "obs-fold", not a bad coding); after the
// sink's first error the lines are still checked but no longer handed out.
template <class Sink>
Http1Error scanHead(std::string_view head, bool isRequest, Sink& sink) {
  Http1Error interpreted = Http1Error::kNone;
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
          if (!isTokenChar(line[i])) return Http1Error::kBadStartLine;
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
      interpreted = sink.startLine(line);
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') return Http1Error::kObsFold;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Http1Error::kBadHeaderName;
    for (size_t i = 0; i < colon; ++i) {
      auto u = static_cast<unsigned char>(line[i]);
      // One lookup per byte; which error only once one is found.
      if (!kTokenChars[u]) return u == ' ' || u == '\t' ? Http1Error::kSpaceBeforeColon : Http1Error::kBadHeaderName;
    }
    if (!plain) {
      for (size_t i = colon + 1; i < line.size(); ++i) {
        auto u = static_cast<unsigned char>(line[i]);
        if ((u < 0x20 && u != '\t') || u == 0x7f) return Http1Error::kBadHeaderValue;
      }
    }
    if (interpreted == Http1Error::kNone) interpreted = sink.field(line.substr(0, colon), trimOws(line.substr(colon + 1)));
  }
  if (firstLine) return Http1Error::kBadStartLine;
  return interpreted;
}

// How the body of the message being parsed is delimited.
enum class Framing : uint8_t {
  kNone,      // no body: the message ended with its head
  kLength,    // Content-Length bytes
  kChunked,   // chunked transfer coding (ChunkedBodyParser)
  kUntilEof,  // a response without either: until the server closes
};

// Shared driver for both directions.
template <bool isRequest>
struct Core {
  MessageState state;
  std::optional<ChunkedBodyParser> chunks;  // only while a chunked body is parsed
  size_t scanned = 0;   // head bytes already checked for bare CR/LF
  bool started = false;
  bool headRequest = false;
  bool headDone = false;
  bool done = false;
  Framing framing = Framing::kNone;
  std::optional<uint64_t> contentLength;  // as the head said
  uint64_t remaining = 0;                 // of a kLength body
  // What the head's Connection (and Proxy-Connection) tokens and fields said.
  bool connectionClose = false;
  bool connectionKeepAlive = false;
  bool connectionUpgrade = false;
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
    chunks.reset();
    scanned = 0;
    started = false;
    headDone = false;
    done = false;
    framing = Framing::kNone;
    contentLength.reset();
    remaining = 0;
    connectionClose = connectionKeepAlive = connectionUpgrade = false;
    error = Http1Error::kNone;
    retryAtSize = 0;
  }

  Http1Event fail(Http1Error e) {
    error = e;
    return Http1Event::kError;
  }

  // Keep-alive as RFC 9112 §9.3 has it: HTTP/1.1 unless "close", HTTP/1.0
  // only with "keep-alive"; never when the body runs until the close.
  bool keepAlive() const {
    if (state.version >= 11 ? connectionClose : !connectionKeepAlive) return false;
    return framing != Framing::kUntilEof;
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
    if (auto e = scanHead(head, isRequest, *this); e != Http1Error::kNone) return fail(e);
    if (auto e = decideFraming(); e != Http1Error::kNone) return fail(e);
    if (auto e = buildHead(); e != Http1Error::kNone) return fail(e);
    consumed += headLen;
    headDone = true;
    return Http1Event::kHead;
  }

  // scanHead()'s sink: the start line and each field, already checked byte
  // by byte (each line ended in CRLF; the method, target and names are
  // well-formed; no value holds a control character). What is left is the
  // grammar above bytes (version, status) and the framing the fields declare.
  Http1Error startLine(std::string_view line) {
    if constexpr (isRequest) {
      auto sp1 = line.find(' ');
      auto sp2 = line.rfind(' ');
      state.method = line.substr(0, sp1);
      state.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      state.version = parseVersion(line.substr(sp2 + 1));
      if (state.version != 10 && state.version != 11) return Http1Error::kBadVersion;
    } else {
      // HTTP-version SP 3DIGIT [SP reason-phrase]. A missing reason phrase
      // (and its SP) is accepted, as nginx and llhttp do: the reason is
      // never used.
      state.version = parseVersion(line.substr(0, 8));
      if (state.version < 0 || line.size() < 9 || line[8] != ' ') return Http1Error::kBadVersion;
      if (state.version != 10 && state.version != 11) return Http1Error::kBadVersion;
      std::string_view rest = line.substr(9);
      if (rest.size() < 3 || (rest.size() > 3 && rest[3] != ' ')) return Http1Error::kBadStartLine;
      int code = 0;
      for (size_t i = 0; i < 3; ++i) {
        if (rest[i] < '0' || rest[i] > '9') return Http1Error::kBadStartLine;
        code = code * 10 + (rest[i] - '0');
      }
      if (code < 100) return Http1Error::kBadStartLine;
      state.status = code;
    }
    return Http1Error::kNone;
  }

  Http1Error field(std::string_view name, std::string_view value) {
    FieldKind kind = fieldKind(name);
    switch (kind) {
      case FieldKind::kHost:
        if (++state.hostCount == 1) state.host = value;
        break;
      case FieldKind::kContentLength:
        if (auto e = contentLengthField(value); e != Http1Error::kNone) return e;
        break;
      case FieldKind::kTransferEncoding:
        state.sawTransferEncoding = true;
        // A second one would apply a coding twice; with Content-Length it
        // is the classic smuggling pair. And we do not decode transfer
        // codings, so anything but exactly "chunked" cannot be forwarded
        // faithfully.
        if (framing == Framing::kChunked) return Http1Error::kBadTransferEncoding;
        if (contentLength) return Http1Error::kContentLengthWithTransferEncoding;
        if (!iequals(value, "chunked")) return Http1Error::kBadTransferEncoding;
        framing = Framing::kChunked;
        break;
      case FieldKind::kConnection:
      case FieldKind::kProxyConnection: {
        bool namesFields = false;
        if (!connectionTokens(value, namesFields)) return Http1Error::kBadHeaderValue;
        if (namesFields && kind == FieldKind::kConnection) {
          // removeHopByHop() reads the names from the field itself.
          state.hopByHopPass = true;
          state.rawHeaders.add(name, value, kind);
          return Http1Error::kNone;
        }
        break;
      }
      case FieldKind::kUpgrade:
        if (!state.sawUpgrade) state.upgrade = trimOws(value);  // the first, as a lookup would find
        state.sawUpgrade = true;
        break;
      case FieldKind::kTe:
        state.hopByHopPass = true;  // forwarded only as "trailers"
        break;
      default:
        break;
    }
    bool forwarded = !isConnectionSpecific(kind) && kind != FieldKind::kContentLength &&
                     !(isRequest && kind == FieldKind::kHost);
    if (forwarded) state.rawHeaders.add(name, value, kind);
    return Http1Error::kNone;
  }

  // A comma-separated list (RFC 9110 §5.6.1: empty elements allowed) of
  // tokens; notes close, keep-alive and upgrade, and (`namesFields`) a
  // token naming a field that is hop-by-hop only because it is listed.
  // False when an element is not a token.
  bool connectionTokens(std::string_view list, bool& namesFields) {
    while (!list.empty()) {
      auto comma = list.find(',');
      auto token = trimOws(list.substr(0, comma));
      for (char c : token)
        if (!isTokenChar(c)) return false;
      if (iequals(token, "close")) connectionClose = true;
      else if (iequals(token, "keep-alive")) connectionKeepAlive = true;
      else if (iequals(token, "upgrade")) connectionUpgrade = true;
      // As removeHopByHop() reads the list: any token but a fixed
      // hop-by-hop field's name ("close" too) names a field to drop.
      if (!token.empty() && !isConnectionSpecific(fieldKind(token))) namesFields = true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return true;
  }

  // One Content-Length field: a value, or a list of equal values (RFC 9110
  // §8.6: a recipient may fold "4, 4"); every field must agree.
  Http1Error contentLengthField(std::string_view list) {
    state.sawContentLength = true;
    if (framing == Framing::kChunked) return Http1Error::kContentLengthWithTransferEncoding;
    for (;;) {
      auto comma = list.find(',');
      uint64_t v = 0;
      if (!parseDecimal(trimOws(list.substr(0, comma)), v)) return Http1Error::kBadContentLength;
      if (contentLength && *contentLength != v) return Http1Error::kConflictingContentLength;
      contentLength = v;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return Http1Error::kNone;
  }

  // RFC 9112 §6.3, in its order: no body for a HEAD response, 1xx, 204 and
  // 304 whatever the fields say; then chunked or Content-Length; otherwise a
  // request has none and a response runs until the close.
  Http1Error decideFraming() {
    bool noBody = !isRequest && (headRequest || state.status / 100 == 1 || state.status == 204 || state.status == 304);
    if (noBody) {
      framing = Framing::kNone;
    } else if (framing == Framing::kChunked) {
      chunks.emplace(state);
      chunks->eager(true);
      chunks->body_limit(boost::none);
      chunks->header_limit(static_cast<uint32_t>(kChunkedHead.size()) + state.maxHeadBytes);
      error_code ec;
      chunks->put(boost::beast::net::const_buffer(kChunkedHead.data(), kChunkedHead.size()), ec);
      if (ec || !chunks->is_header_done()) return Http1Error::kOther;
    } else if (contentLength) {
      framing = *contentLength > 0 ? Framing::kLength : Framing::kNone;
      remaining = *contentLength;
    } else {
      framing = isRequest ? Framing::kNone : Framing::kUntilEof;
    }
    done = framing == Framing::kNone;
    return Http1Error::kNone;
  }

  Http1Event parseBody(std::string_view in, size_t& consumed) {
    if (done) return Http1Event::kDone;
    if (framing == Framing::kLength) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining, in.size()));
      if (take == 0) return Http1Event::kNeedMore;
      state.body.append(in.data(), take);
      consumed += take;
      remaining -= take;
      done = remaining == 0;
      return done ? Http1Event::kDone : Http1Event::kBody;
    }
    if (framing == Framing::kUntilEof) {
      if (in.empty()) return Http1Event::kNeedMore;
      state.body.append(in);
      consumed += in.size();
      return Http1Event::kBody;
    }
    if (in.empty() || in.size() < retryAtSize) return Http1Event::kNeedMore;
    error_code ec;
    size_t n = chunks->put(boost::beast::net::const_buffer(in.data(), in.size()), ec);
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
    done = chunks->is_done();
    if (done) return Http1Event::kDone;
    return n == 0 ? Http1Event::kNeedMore : Http1Event::kBody;
  }

  Http1Event parse(std::string_view in, size_t& consumed, auto&& buildHead) {
    consumed = 0;
    if (error != Http1Error::kNone) return Http1Event::kError;
    if (!headDone) return parseHead(in, consumed, buildHead);
    return parseBody(in, consumed);
  }

  // The peer closed the connection.
  Http1Event finishOnEof() {
    if (error != Http1Error::kNone) return Http1Event::kError;
    if (done) return Http1Event::kDone;
    if (!headDone || framing != Framing::kUntilEof) return fail(Http1Error::kTruncated);
    done = true;
    return Http1Event::kDone;
  }
};

// The parsed fields move into the typed head (no copy of every name and
// value); the parser starts its next list with room for a typical head.
void takeHeaders(MessageState& s, HeaderList& into) {
  into = std::move(s.rawHeaders);
  s.rawHeaders = HeaderList();
  s.rawHeaders.reserve(kExpectedFields);
}

}  // namespace

Http1Error validateHeadBytes(std::string_view head, bool isRequest) {
  struct NoSink {
    Http1Error startLine(std::string_view) { return Http1Error::kNone; }
    Http1Error field(std::string_view, std::string_view) { return Http1Error::kNone; }
  } sink;
  return scanHead(head, isRequest, sink);
}

// ---------------------------------------------------------------- request

struct Http1RequestParser::Impl {
  Core<true> core;
  RequestHead head;

  Http1Error buildHead() {
    auto& s = core.state;
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
    head.authority = absolute ? std::move(absoluteAuthority) : std::move(s.host);

    bool chunked = core.framing == Framing::kChunked;
    if (core.contentLength && !chunked) head.contentLength = *core.contentLength;
    head.hasBody = chunked || (head.contentLength && *head.contentLength > 0);
    head.keepAlive = core.keepAlive();

    if (core.connectionUpgrade && !head.hasBody) {
      head.upgrade = true;
      head.upgradeProtocol = std::move(s.upgrade);
    }
    for (const auto& f : s.rawHeaders) {
      if (iequals(f.name, "expect") && iequals(trimOws(f.value), "100-continue")) {
        // We answer 100-continue ourselves when the body is first needed;
        // upstream gets the body without the handshake.
        head.expectContinue = head.hasBody && head.version == Version::kHttp11;
      }
    }
    takeHeaders(s, head.headers);
    if (s.hopByHopPass) head.headers.removeHopByHop();
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
bool Http1RequestParser::headDone() const { return impl_->core.headDone; }
bool Http1RequestParser::done() const { return impl_->core.done; }
bool Http1RequestParser::started() const { return impl_->core.started; }
RequestHead& Http1RequestParser::requestHead() { return impl_->head; }
std::string& Http1RequestParser::body() { return impl_->core.state.body; }
HeaderList& Http1RequestParser::trailers() { return impl_->core.state.trailers; }
Http1Error Http1RequestParser::error() const { return impl_->core.error; }
bool Http1RequestParser::chunked() const { return headDone() && impl_->core.framing == Framing::kChunked; }

// ---------------------------------------------------------------- response

struct Http1ResponseParser::Impl {
  Core<false> core;
  ResponseHead head;
  std::string upgradeProtocol;

  Http1Error buildHead() {
    auto& s = core.state;
    head = ResponseHead{};
    head.status = s.status;
    head.version = s.version == 10 ? Version::kHttp10 : Version::kHttp11;
    bool chunked = core.framing == Framing::kChunked;
    if (core.contentLength && !chunked) head.contentLength = *core.contentLength;
    bool noBody = s.status < 200 || s.status == 204 || s.status == 304 || core.headRequest;
    head.hasBody = !noBody && !(head.contentLength && *head.contentLength == 0);
    head.keepAlive = core.keepAlive();
    upgradeProtocol = s.status == 101 ? std::move(s.upgrade) : std::string();
    takeHeaders(s, head.headers);
    if (s.hopByHopPass) head.headers.removeHopByHop();
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
Http1Event Http1ResponseParser::finishOnEof() { return impl_->core.finishOnEof(); }
bool Http1ResponseParser::headDone() const { return impl_->core.headDone; }
bool Http1ResponseParser::done() const { return impl_->core.done; }
bool Http1ResponseParser::started() const { return impl_->core.started; }
bool Http1ResponseParser::untilEof() const { return headDone() && impl_->core.framing == Framing::kUntilEof; }
ResponseHead& Http1ResponseParser::responseHead() { return impl_->head; }
std::string& Http1ResponseParser::body() { return impl_->core.state.body; }
HeaderList& Http1ResponseParser::trailers() { return impl_->core.state.trailers; }
Http1Error Http1ResponseParser::error() const { return impl_->core.error; }
bool Http1ResponseParser::chunked() const { return headDone() && impl_->core.framing == Framing::kChunked; }
const std::string& Http1ResponseParser::upgradeProtocol() const { return impl_->upgradeProtocol; }

}  // namespace weft::http
