#pragma once
// Incremental HTTP/1.x parsers (no I/O): bytes in, heads/body/trailers out.
//
// Hardened against request smuggling. A head is parsed only once it is
// complete, in one pass over its lines: each line's bytes are checked first
// (obs-fold, bare CR / bare LF, whitespace between a field name and its colon,
// non-token name characters, control characters in values; the checks alone
// are validateHeadBytes), then the line is split and interpreted: version,
// status, and the framing the fields declare (Content-Length with
// Transfer-Encoding, differing Content-Lengths, any Transfer-Encoding other
// than exactly "chunked", missing or repeated Host in HTTP/1.1). A chunked
// body is decoded by Boost.Beast's basic_parser. (Beast used to parse the
// heads as well; its general field machinery was a third of an HTTP/1.1
// request's parsing instructions: docs/benchmarks.md.) Every rejection names
// its reason (a stable, low-cardinality string for metrics), so a peer's bad
// input is counted and never crashes us.
//
// Usage: keep the unconsumed input contiguous and call parse() with all of
// it; drop `consumed` bytes from the front; take body() bytes after every
// call. Heads are all-or-nothing: nothing is consumed until a whole head is
// present. After kDone call reset() for the next message (keep-alive,
// pipelining); bytes after the message stay unconsumed.
//
// Single-threaded, no suspension; one parser per connection direction.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "http/codec/header_list.h"
#include "http/codec/message.h"

namespace weft::http {

enum class Http1Error : uint8_t {
  kNone = 0,
  kHeadTooLarge,
  kBadStartLine,
  kBadVersion,
  kBadTarget,
  kBadHeaderName,
  kSpaceBeforeColon,
  kObsFold,
  kBareCr,
  kBareLf,
  kBadHeaderValue,
  kContentLengthWithTransferEncoding,
  kConflictingContentLength,
  kBadContentLength,
  kBadTransferEncoding,
  kBadChunk,
  kTrailersTooLarge,
  kMissingHost,
  kMultipleHost,
  kTruncated,  // the peer closed in the middle of a message
  kOther,
};

// Stable reason label, e.g. "content-length-with-transfer-encoding".
std::string_view http1ErrorReason(Http1Error e);

enum class Http1Event : uint8_t {
  kNeedMore,  // all usable input consumed; feed more bytes
  kHead,      // a head is complete (requestHead()/responseHead())
  kBody,      // progress in the body; call parse() again
  kDone,      // the message is complete; trailers() holds chunked trailers
  kError,     // error() says why; the parser is dead
};

class Http1RequestParser {
 public:
  explicit Http1RequestParser(uint32_t maxHeadBytes = 64 * 1024);
  ~Http1RequestParser();
  Http1RequestParser(const Http1RequestParser&) = delete;
  Http1RequestParser& operator=(const Http1RequestParser&) = delete;

  Http1Event parse(std::string_view in, size_t& consumed);
  // Starts the next message on the same connection.
  void reset();

  bool headDone() const;
  bool done() const;
  // Some byte of the current message has been consumed.
  bool started() const;
  // The head of the current request; valid after kHead (movable out).
  RequestHead& requestHead();
  // Body bytes parsed so far and not yet taken.
  std::string& body();
  HeaderList& trailers();
  Http1Error error() const;
  // True when the body is chunked (request or response).
  bool chunked() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint32_t maxHeadBytes_;
};

class Http1ResponseParser {
 public:
  explicit Http1ResponseParser(uint32_t maxHeadBytes = 64 * 1024);
  ~Http1ResponseParser();
  Http1ResponseParser(const Http1ResponseParser&) = delete;
  Http1ResponseParser& operator=(const Http1ResponseParser&) = delete;

  // `headRequest`: the response answers a HEAD request, so it has no body.
  void reset(bool headRequest = false);
  Http1Event parse(std::string_view in, size_t& consumed);
  // The peer closed the connection: completes an until-close body, or kError
  // (kTruncated) when the message was cut short.
  Http1Event finishOnEof();

  bool headDone() const;
  bool done() const;
  bool started() const;
  // The body runs until the connection closes (no length, not chunked).
  bool untilEof() const;
  ResponseHead& responseHead();
  std::string& body();
  HeaderList& trailers();
  Http1Error error() const;
  bool chunked() const;
  // Upgrade protocol named by a 101 response (empty otherwise).
  const std::string& upgradeProtocol() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint32_t maxHeadBytes_;
};

// Checks one complete raw head (start line through the blank line) for the
// byte-level smuggling vectors, without interpreting it. Exposed for tests.
Http1Error validateHeadBytes(std::string_view head, bool isRequest);

}  // namespace weft::http
