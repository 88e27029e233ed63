#include "http/codec/http1_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weft::http {
namespace {

struct ParsedRequest {
  RequestHead head;
  std::string body;
  HeaderList trailers;
};

struct Outcome {
  std::vector<ParsedRequest> requests;
  Http1Error error = Http1Error::kNone;
  std::string leftover;  // bytes not consumed
};

// Feeds `wire` in pieces of `step` bytes (0: all at once), like a session
// would: unconsumed bytes stay in front of the buffer.
Outcome parseRequests(std::string_view wire, size_t step = 0, uint32_t maxHead = 64 * 1024) {
  Outcome out;
  Http1RequestParser parser(maxHead);
  std::string buf;
  size_t fed = 0;
  ParsedRequest current;
  int guard = 0;
  while (++guard < 1000000) {
    size_t consumed = 0;
    auto ev = parser.parse(buf, consumed);
    buf.erase(0, consumed);
    current.body += parser.body();
    parser.body().clear();
    if (ev == Http1Event::kError) {
      out.error = parser.error();
      return out;
    }
    if (ev == Http1Event::kHead) {
      current.head = parser.requestHead();
      if (parser.done()) ev = Http1Event::kDone;
      else continue;
    }
    if (ev == Http1Event::kDone) {
      current.trailers = parser.trailers();
      out.requests.push_back(std::move(current));
      current = {};
      parser.reset();
      continue;
    }
    if (ev == Http1Event::kBody) continue;
    // kNeedMore
    if (fed == wire.size()) break;
    size_t n = step == 0 ? wire.size() - fed : std::min(step, wire.size() - fed);
    buf.append(wire.substr(fed, n));
    fed += n;
  }
  out.leftover = buf;
  return out;
}

TEST(Http1RequestParser, SimpleGet) {
  auto o = parseRequests("GET /a?b=1 HTTP/1.1\r\nHost: Example.com:8080\r\nX-Foo: one\r\nx-foo: two\r\n\r\n");
  ASSERT_EQ(o.error, Http1Error::kNone);
  ASSERT_EQ(o.requests.size(), 1u);
  const auto& h = o.requests[0].head;
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.path, "/a?b=1");
  EXPECT_EQ(h.authority, "Example.com:8080");
  EXPECT_EQ(h.version, Version::kHttp11);
  EXPECT_TRUE(h.keepAlive);
  EXPECT_FALSE(h.hasBody);
  EXPECT_FALSE(h.headers.has("host"));
  ASSERT_EQ(h.headers.size(), 2u);
  EXPECT_EQ(h.headers[0].name, "X-Foo");
  EXPECT_EQ(h.headers[0].value, "one");
  EXPECT_EQ(h.headers[1].name, "x-foo");
  EXPECT_EQ(h.headers[1].value, "two");
}

TEST(Http1RequestParser, ContentLengthBodyAndHopByHopRemoved) {
  auto o = parseRequests(
      "POST /p HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"
      "Content-Length: 5\r\nX-End: e\r\n\r\nhello");
  ASSERT_EQ(o.error, Http1Error::kNone);
  ASSERT_EQ(o.requests.size(), 1u);
  const auto& r = o.requests[0];
  EXPECT_EQ(r.body, "hello");
  ASSERT_TRUE(r.head.contentLength.has_value());
  EXPECT_EQ(*r.head.contentLength, 5u);
  EXPECT_TRUE(r.head.hasBody);
  EXPECT_FALSE(r.head.headers.has("connection"));
  EXPECT_FALSE(r.head.headers.has("x-hop"));
  EXPECT_FALSE(r.head.headers.has("keep-alive"));
  EXPECT_FALSE(r.head.headers.has("content-length"));
  EXPECT_EQ(r.head.headers.get("x-end"), "e");
}

TEST(Http1RequestParser, ChunkedWithTrailers) {
  auto o = parseRequests(
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\ngrpc-status: 0\r\nX-Trailer: t\r\n\r\n");
  ASSERT_EQ(o.error, Http1Error::kNone);
  ASSERT_EQ(o.requests.size(), 1u);
  const auto& r = o.requests[0];
  EXPECT_EQ(r.body, "hello world");
  EXPECT_TRUE(r.head.hasBody);
  EXPECT_FALSE(r.head.contentLength.has_value());
  EXPECT_EQ(r.head.headers.get("te"), "trailers");
  ASSERT_EQ(r.trailers.size(), 2u);
  EXPECT_EQ(r.trailers[0].name, "grpc-status");
  EXPECT_EQ(r.trailers[0].value, "0");
  EXPECT_EQ(r.trailers.get("x-trailer"), "t");
}

TEST(Http1RequestParser, PipelinedRequestsInOrder) {
  std::string wire =
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n"
      "GET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  auto o = parseRequests(wire);
  ASSERT_EQ(o.error, Http1Error::kNone);
  ASSERT_EQ(o.requests.size(), 4u);
  EXPECT_EQ(o.requests[0].head.path, "/1");
  EXPECT_EQ(o.requests[1].head.path, "/2");
  EXPECT_EQ(o.requests[1].body, "abc");
  EXPECT_EQ(o.requests[2].head.path, "/3");
  EXPECT_EQ(o.requests[2].body, "xy");
  EXPECT_EQ(o.requests[3].head.path, "/4");
  EXPECT_FALSE(o.requests[3].head.keepAlive);
  EXPECT_TRUE(o.leftover.empty());
}

TEST(Http1RequestParser, EverySplitGivesTheSameResult) {
  std::string wire =
      "POST /split HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
      "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: v\r\n\r\n"
      "PUT /two HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nwxyz";
  auto whole = parseRequests(wire);
  ASSERT_EQ(whole.requests.size(), 2u);
  for (size_t step = 1; step <= wire.size(); ++step) {
    auto o = parseRequests(wire, step);
    ASSERT_EQ(o.error, Http1Error::kNone) << "step " << step;
    ASSERT_EQ(o.requests.size(), 2u) << "step " << step;
    EXPECT_EQ(o.requests[0].body, "abc0123456789abcdef") << "step " << step;
    EXPECT_EQ(o.requests[0].trailers.get("t"), "v") << "step " << step;
    EXPECT_EQ(o.requests[1].body, "wxyz") << "step " << step;
    EXPECT_EQ(o.requests[1].head.path, "/two");
  }
  // And every two-piece split at each byte boundary.
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    Http1RequestParser parser;
    std::string buf(wire.substr(0, cut));
    std::string body;
    int done = 0;
    bool fedRest = false;
    for (int guard = 0; guard < 10000; ++guard) {
      size_t consumed = 0;
      auto ev = parser.parse(buf, consumed);
      buf.erase(0, consumed);
      body += parser.body();
      parser.body().clear();
      ASSERT_NE(ev, Http1Event::kError) << "cut " << cut << " " << http1ErrorReason(parser.error());
      if (ev == Http1Event::kHead && parser.done()) ev = Http1Event::kDone;
      if (ev == Http1Event::kDone) {
        ++done;
        parser.reset();
        continue;
      }
      if (ev == Http1Event::kNeedMore) {
        if (fedRest) break;
        buf.append(wire.substr(cut));
        fedRest = true;
      }
    }
    EXPECT_EQ(done, 2) << "cut " << cut;
    EXPECT_EQ(body, "abc0123456789abcdefwxyz") << "cut " << cut;
  }
}

TEST(Http1RequestParser, Http10KeepAliveRules) {
  auto o = parseRequests("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].head.version, Version::kHttp10);
  EXPECT_FALSE(o.requests[0].head.keepAlive);
  o = parseRequests("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_TRUE(o.requests[0].head.keepAlive);
}

TEST(Http1RequestParser, ExpectContinueAndUpgrade) {
  auto o = parseRequests(
      "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_TRUE(o.requests[0].head.expectContinue);
  EXPECT_FALSE(o.requests[0].head.headers.has("expect"));

  o = parseRequests(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n"
      "rawbytes");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_TRUE(o.requests[0].head.upgrade);
  EXPECT_EQ(o.requests[0].head.upgradeProtocol, "websocket");
  EXPECT_FALSE(o.requests[0].head.headers.has("upgrade"));
  EXPECT_EQ(o.requests[0].head.headers.get("sec-websocket-key"), "k");
}

// What the head interprets but never forwards (Host, Content-Length, the
// fixed hop-by-hop fields) is left out of the field list as it is parsed;
// what only the Connection list or TE's value makes hop-by-hop is removed
// after. Either way the first of repeated fields is the one read.
TEST(Http1RequestParser, HopByHopFieldsGoWhereverTheyStand) {
  auto o = parseRequests(
      "GET /ws HTTP/1.1\r\nX-Named: 1\r\nHost: h\r\nUpgrade: \r\nConnection: upgrade\r\nTE: gzip\r\n"
      "Connection: close, x-named\r\nUpgrade: websocket\r\nKeep-Alive: 5\r\nX-Kept: k\r\n\r\n");
  ASSERT_EQ(o.error, Http1Error::kNone);
  ASSERT_EQ(o.requests.size(), 1u);
  const auto& h = o.requests[0].head;
  EXPECT_EQ(h.authority, "h");
  EXPECT_TRUE(h.upgrade);
  EXPECT_EQ(h.upgradeProtocol, "") << "the first Upgrade field, as a lookup finds it";
  EXPECT_FALSE(h.keepAlive);
  ASSERT_EQ(h.headers.size(), 1u) << "only X-Kept is forwarded";
  EXPECT_EQ(h.headers.get("x-kept"), "k");

  o = parseRequests("GET / HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].head.headers.get("te"), "trailers") << "TE: trailers is end to end";
  EXPECT_EQ(o.requests[0].head.headers.size(), 1u);
}

TEST(Http1RequestParser, AbsoluteFormTargetOverridesHost) {
  auto o = parseRequests("GET http://api.test:81/x?y HTTP/1.1\r\nHost: other\r\n\r\n");
  ASSERT_EQ(o.error, Http1Error::kNone);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].head.authority, "api.test:81");
  EXPECT_EQ(o.requests[0].head.path, "/x?y");
}

TEST(Http1RequestParser, LeadingEmptyLinesIgnored) {
  auto o = parseRequests("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(o.error, Http1Error::kNone);
  EXPECT_EQ(o.requests.size(), 1u);
}

// Content-Length values: a list of equal decimals folds into one; an empty
// element, a sign or a value past 2^64 - 1 is not a length.
TEST(Http1RequestParser, ContentLengthListsAndBounds) {
  auto o = parseRequests("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3 , 3\r\n\r\nabc");
  ASSERT_EQ(o.error, Http1Error::kNone);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(*o.requests[0].head.contentLength, 3u);
  EXPECT_EQ(o.requests[0].body, "abc");
  for (const char* bad : {"3,,3", "3,", "", "18446744073709551616", "0x10", "1 2"})
    EXPECT_EQ(parseRequests(std::string("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ") + bad + "\r\n\r\n").error,
              Http1Error::kBadContentLength)
        << bad;
  Http1RequestParser p;
  std::string wire = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n";
  size_t consumed = 0;
  ASSERT_EQ(p.parse(wire, consumed), Http1Event::kHead);
  EXPECT_EQ(*p.requestHead().contentLength, UINT64_MAX);
  EXPECT_FALSE(p.done());
}

TEST(Http1RequestParser, IdenticalDuplicateContentLengthIsFolded) {
  auto o = parseRequests("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_EQ(o.error, Http1Error::kNone);
  ASSERT_EQ(o.requests.size(), 1u);
  EXPECT_EQ(o.requests[0].body, "abc");
}

struct RejectCase {
  const char* name;
  const char* wire;
  Http1Error expected;
};

class Http1Smuggling : public ::testing::TestWithParam<RejectCase> {};

TEST_P(Http1Smuggling, RejectedWithReason) {
  const auto& c = GetParam();
  for (size_t step : {size_t{0}, size_t{1}, size_t{7}}) {
    auto o = parseRequests(c.wire, step);
    EXPECT_EQ(o.error, c.expected) << c.name << " step " << step << " got " << http1ErrorReason(o.error);
    // A rejected request must never be surfaced as a complete request
    // followed by a smuggled one.
    EXPECT_LE(o.requests.size(), 1u) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Http1Smuggling,
    ::testing::Values(
        RejectCase{"cl_te", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   Http1Error::kContentLengthWithTransferEncoding},
        RejectCase{"te_cl", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
                   Http1Error::kContentLengthWithTransferEncoding},
        RejectCase{"cl_differ", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
                   Http1Error::kConflictingContentLength},
        RejectCase{"cl_list_differ", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4, 5\r\n\r\nabcde",
                   Http1Error::kConflictingContentLength},
        RejectCase{"cl_negative", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
                   Http1Error::kBadContentLength},
        RejectCase{"cl_plus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +4\r\n\r\nabcd",
                   Http1Error::kBadContentLength},
        RejectCase{"te_gzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", Http1Error::kBadTransferEncoding},
        RejectCase{"te_chunked_not_final",
                   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                   Http1Error::kBadTransferEncoding},
        RejectCase{"te_xchunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n",
                   Http1Error::kBadTransferEncoding},
        RejectCase{"te_twice",
                   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                   Http1Error::kBadTransferEncoding},
        RejectCase{"te_space_before_colon", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
                   Http1Error::kSpaceBeforeColon},
        RejectCase{"te_tab_before_colon", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding\t: chunked\r\n\r\n",
                   Http1Error::kSpaceBeforeColon},
        RejectCase{"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  continued\r\n\r\n", Http1Error::kObsFold},
        RejectCase{"obs_fold_te",
                   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", Http1Error::kObsFold},
        RejectCase{"bare_cr", "GET / HTTP/1.1\r\nHost: h\rX-A: 1\r\n\r\n", Http1Error::kBareCr},
        RejectCase{"bare_lf", "GET / HTTP/1.1\nHost: h\r\n\r\n", Http1Error::kBareLf},
        RejectCase{"bare_lf_end", "GET / HTTP/1.1\r\nHost: h\n\n", Http1Error::kBareLf},
        RejectCase{"bad_name_char", "GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n", Http1Error::kBadHeaderName},
        RejectCase{"empty_name", "GET / HTTP/1.1\r\nHost: h\r\n: 1\r\n\r\n", Http1Error::kBadHeaderName},
        RejectCase{"no_colon", "GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", Http1Error::kBadHeaderName},
        RejectCase{"ctl_in_value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01" "b\r\n\r\n", Http1Error::kBadHeaderValue},
        RejectCase{"bad_chunk_size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
                   Http1Error::kBadChunk},
        RejectCase{"chunk_size_overflow",
                   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nab\r\n0\r\n\r\n",
                   Http1Error::kBadChunk},
        RejectCase{"chunk_missing_crlf",
                   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n", Http1Error::kBadChunk},
        RejectCase{"chunk_negative", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nab\r\n0\r\n\r\n",
                   Http1Error::kBadChunk},
        RejectCase{"missing_host", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", Http1Error::kMissingHost},
        RejectCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Http1Error::kMultipleHost},
        RejectCase{"bad_version", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", Http1Error::kBadVersion},
        RejectCase{"space_in_target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", Http1Error::kBadTarget},
        RejectCase{"bad_method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", Http1Error::kBadStartLine},
        RejectCase{"garbage", "\x16\x03\x01\x02\x01\xfc\x03\x03\r\n\r\n", Http1Error::kBadStartLine}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Http1RequestParser, NulInValueRejected) {
  std::string wire = std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a") + '\0' + "b\r\n\r\n";
  EXPECT_EQ(parseRequests(wire).error, Http1Error::kBadHeaderValue);
}

TEST(Http1RequestParser, OversizedHeadRejectedEvenWithoutTerminator) {
  std::string wire = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'a');
  auto o = parseRequests(wire, 100, 1024);
  EXPECT_EQ(o.error, Http1Error::kHeadTooLarge);
  wire += "\r\n\r\n";
  o = parseRequests(wire, 0, 1024);
  EXPECT_EQ(o.error, Http1Error::kHeadTooLarge);
  o = parseRequests(wire, 0, 4096);
  EXPECT_EQ(o.error, Http1Error::kNone);
}

TEST(Http1RequestParser, EndlessChunkSizeLineIsBounded) {
  std::string wire = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;" + std::string(4000, 'a');
  auto o = parseRequests(wire, 512, 1024);
  EXPECT_NE(o.error, Http1Error::kNone);
}

TEST(Http1RequestParser, OversizedTrailersRejected) {
  std::string wire = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  for (int i = 0; i < 100; ++i) wire += "X-T" + std::to_string(i) + ": " + std::string(50, 'v') + "\r\n";
  wire += "\r\n";
  auto o = parseRequests(wire, 0, 1024);
  EXPECT_EQ(o.error, Http1Error::kTrailersTooLarge);
}

TEST(ValidateHeadBytes, AcceptsCleanHead) {
  EXPECT_EQ(validateHeadBytes("GET / HTTP/1.1\r\nHost: h\r\nX: a b\tc\r\n\r\n", true), Http1Error::kNone);
  EXPECT_EQ(validateHeadBytes("HTTP/1.1 200 OK\r\nX: y\r\n\r\n", false), Http1Error::kNone);
}

// The pre-scan skips the per-byte checks of a line without control bytes
// (a word-at-a-time test). Every byte value at every position of values of
// 1 to 20 bytes (both sides of each 8-byte word boundary), in a request field
// and in a response's reason phrase, must get the verdict of the plain
// per-byte rule: CR is a bare CR, other CTLs but HTAB and DEL are rejected,
// everything else (obs-text included) passes.
TEST(ValidateHeadBytes, EveryByteAtEveryPositionGetsThePerByteVerdict) {
  auto expectedField = [](unsigned char u) {
    if (u == '\r') return Http1Error::kBareCr;
    if (u == '\n') return Http1Error::kBareLf;  // ends the line early: the "line" before it lacks its CR
    if ((u < 0x20 && u != '\t') || u == 0x7f) return Http1Error::kBadHeaderValue;
    return Http1Error::kNone;
  };
  auto expectedReason = [&](unsigned char u) {
    auto e = expectedField(u);
    return e == Http1Error::kBadHeaderValue ? Http1Error::kBadStartLine : e;
  };
  int checked = 0;
  for (size_t len = 1; len <= 20; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (int b = 0; b < 256; ++b) {
        auto u = static_cast<unsigned char>(b);
        std::string value(len, 'v');
        value[at] = static_cast<char>(u);
        std::string req = "GET / HTTP/1.1\r\nHost: h\r\nX-Field: " + value + "\r\n\r\n";
        ASSERT_EQ(validateHeadBytes(req, true), expectedField(u)) << "len " << len << " at " << at << " byte " << b;
        std::string resp = "HTTP/1.1 200 O" + value + "\r\nX: y\r\n\r\n";
        ASSERT_EQ(validateHeadBytes(resp, false), expectedReason(u)) << "len " << len << " at " << at << " byte " << b;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 210 * 256);
}

// ---------------------------------------------------------------- response

struct ParsedResponse {
  ResponseHead head;
  std::string body;
  HeaderList trailers;
  bool done = false;
  Http1Error error = Http1Error::kNone;
};

ParsedResponse parseResponse(std::string_view wire, bool headRequest = false, bool eof = true, size_t step = 0) {
  ParsedResponse r;
  Http1ResponseParser p;
  p.reset(headRequest);
  std::string buf;
  size_t fed = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    size_t consumed = 0;
    auto ev = p.parse(buf, consumed);
    buf.erase(0, consumed);
    r.body += p.body();
    p.body().clear();
    if (ev == Http1Event::kError) {
      r.error = p.error();
      return r;
    }
    if (ev == Http1Event::kHead) {
      r.head = p.responseHead();
      if (r.head.status >= 100 && r.head.status < 200 && r.head.status != 101) {
        p.reset(headRequest);
        continue;
      }
      if (p.done()) ev = Http1Event::kDone;
      else continue;
    }
    if (ev == Http1Event::kDone) {
      r.done = true;
      r.trailers = p.trailers();
      return r;
    }
    if (ev == Http1Event::kBody) continue;
    if (fed == wire.size()) break;
    size_t n = step == 0 ? wire.size() - fed : std::min(step, wire.size() - fed);
    buf.append(wire.substr(fed, n));
    fed += n;
  }
  if (eof) {
    auto ev = p.finishOnEof();
    r.body += p.body();
    if (ev == Http1Event::kDone) r.done = true;
    if (ev == Http1Event::kError) r.error = p.error();
  }
  return r;
}

TEST(Http1ResponseParser, ContentLength) {
  auto r = parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc", false, false);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "abc");
  EXPECT_TRUE(r.head.keepAlive);
  EXPECT_EQ(r.head.headers.get("x-a"), "1");
  EXPECT_FALSE(r.head.headers.has("content-length"));
}

TEST(Http1ResponseParser, ChunkedTrailersEverySplit) {
  std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n";
  for (size_t step = 1; step <= wire.size(); ++step) {
    auto r = parseResponse(wire, false, false, step);
    ASSERT_TRUE(r.done) << step;
    EXPECT_EQ(r.body, "abcd");
    EXPECT_EQ(r.trailers.get("grpc-status"), "0");
    EXPECT_EQ(r.trailers.get("grpc-message"), "ok");
  }
}

TEST(Http1ResponseParser, UntilCloseAndTruncation) {
  auto r = parseResponse("HTTP/1.1 200 OK\r\n\r\nstream until close", false, true);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.body, "stream until close");
  EXPECT_FALSE(r.head.keepAlive);
  r = parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false, true);
  EXPECT_FALSE(r.done);
  EXPECT_EQ(r.error, Http1Error::kTruncated);
  r = parseResponse("HTTP/1.1 200 OK\r\nContent-Le", false, true);
  EXPECT_EQ(r.error, Http1Error::kTruncated);
}

TEST(Http1ResponseParser, NoBodyCases) {
  auto r = parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, false);
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.head.hasBody);
  ASSERT_TRUE(r.head.contentLength.has_value());
  EXPECT_EQ(*r.head.contentLength, 10u);
  r = parseResponse("HTTP/1.1 204 No Content\r\n\r\n", false, false);
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.head.hasBody);
  r = parseResponse("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false, false);
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.head.hasBody);
}

TEST(Http1ResponseParser, InterimResponsesSkippedAndCloseHonoured) {
  auto r = parseResponse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
                         false, false);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.head.status, 201);
  EXPECT_FALSE(r.head.keepAlive);
  EXPECT_EQ(r.body, "x");
}

TEST(Http1ResponseParser, SwitchingProtocols) {
  Http1ResponseParser p;
  std::string wire = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nframes";
  size_t consumed = 0;
  ASSERT_EQ(p.parse(wire, consumed), Http1Event::kHead);
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.responseHead().status, 101);
  EXPECT_EQ(p.upgradeProtocol(), "websocket");
  EXPECT_EQ(wire.substr(consumed), "frames");
}

TEST(Http1ResponseParser, RejectsSmuggledFraming) {
  EXPECT_EQ(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").error,
            Http1Error::kContentLengthWithTransferEncoding);
  EXPECT_EQ(parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").error, Http1Error::kBadTransferEncoding);
  EXPECT_EQ(parseResponse("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n").error, Http1Error::kObsFold);
  EXPECT_EQ(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").error,
            Http1Error::kConflictingContentLength);
  EXPECT_EQ(parseResponse("HTTP/9.1 200 OK\r\n\r\n").error, Http1Error::kBadVersion);
}

// The status line: HTTP-version SP 3DIGIT [SP reason]. A missing reason
// phrase is accepted (some servers send "HTTP/1.1 200"); anything else
// around the code is not.
TEST(Http1ResponseParser, StatusLineGrammar) {
  auto r = parseResponse("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(r.error, Http1Error::kNone);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.head.status, 200);
  EXPECT_EQ(r.body, "ok");
  r = parseResponse("HTTP/1.0 404 \r\nContent-Length: 0\r\n\r\n");  // empty reason after SP
  EXPECT_EQ(r.error, Http1Error::kNone);
  EXPECT_EQ(r.head.status, 404);
  EXPECT_EQ(r.head.version, Version::kHttp10);
  for (const char* bad : {"HTTP/1.1 20x OK", "HTTP/1.1 2000 OK", "HTTP/1.1 099 Low", "HTTP/1.1 20", "HTTP/1.1  200 OK"})
    EXPECT_EQ(parseResponse(std::string(bad) + "\r\n\r\n").error, Http1Error::kBadStartLine) << bad;
  for (const char* bad : {"HTTP/2.0 200 OK", "HTTP/1.1", "HTTP/1.1-200 OK", "HTTX/1.1 200 OK", "HTTP/a.1 200 OK"})
    EXPECT_EQ(parseResponse(std::string(bad) + "\r\n\r\n").error, Http1Error::kBadVersion) << bad;
}

// Keep-alive comes from Connection and Proxy-Connection tokens (any case, in
// a list); a body that runs until the close never keeps the connection.
TEST(Http1ResponseParser, KeepAliveFromConnectionTokens) {
  EXPECT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nConnection: foo, CLOSE\r\nContent-Length: 0\r\n\r\n").head.keepAlive);
  EXPECT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 0\r\n\r\n").head.keepAlive);
  EXPECT_FALSE(parseResponse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").head.keepAlive);
  EXPECT_TRUE(parseResponse("HTTP/1.0 200 OK\r\nConnection: ,Keep-Alive\r\nContent-Length: 0\r\n\r\n").head.keepAlive);
  EXPECT_TRUE(parseResponse("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").head.keepAlive);
  EXPECT_EQ(parseResponse("HTTP/1.1 200 OK\r\nConnection: close x\r\n\r\n").error, Http1Error::kBadHeaderValue);
}

// A Content-Length body arrives in any pieces and ends exactly at its length:
// the next response's bytes stay unconsumed.
TEST(Http1ResponseParser, ContentLengthBodyEndsAtItsLengthInEveryPiece) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789HTTP/1.1 204 No Content\r\n\r\n";
  for (size_t step = 1; step <= wire.size(); ++step) {
    Http1ResponseParser p;
    std::string buf, body;
    size_t fed = 0, consumed = 0;
    Http1Event ev = Http1Event::kNeedMore;
    for (int guard = 0; guard < 10000 && ev != Http1Event::kDone && ev != Http1Event::kError; ++guard) {
      ev = p.parse(buf, consumed);
      buf.erase(0, consumed);
      body += p.body();
      p.body().clear();
      if (ev == Http1Event::kNeedMore && fed < wire.size()) {
        size_t n = std::min(step, wire.size() - fed);
        buf.append(wire.substr(fed, n));
        fed += n;
      }
      if (ev == Http1Event::kHead && p.done()) ev = Http1Event::kDone;
    }
    ASSERT_EQ(ev, Http1Event::kDone) << step;
    EXPECT_EQ(body, "0123456789") << step;
    EXPECT_EQ(buf + wire.substr(fed), "HTTP/1.1 204 No Content\r\n\r\n") << step;
  }
}

}  // namespace
}  // namespace weft::http

namespace weft::http {
namespace {

// Regression (found by the http1_request fuzz target): an empty chunked body
// whose last-chunk arrives as "0\r\n" and then one byte at a time made Beast
// assert (n >= 5) and abort the process.
TEST(Http1RequestParser, LastChunkArrivingByteByByteDoesNotAbort) {
  const std::string plain =
      "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  const std::string withTrailer =
      "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n0\r\nX-T: 1\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: a\r\n\r\n";
  for (const auto* wire : {&plain, &withTrailer}) {
    for (size_t step : {1, 2, 3, 4}) {
      auto out = parseRequests(*wire, step);
      ASSERT_EQ(out.error, Http1Error::kNone) << step;
      ASSERT_EQ(out.requests.size(), 2u) << step;
      EXPECT_EQ(out.requests[0].body, "");
      EXPECT_EQ(out.requests[1].head.path, "/b");
    }
  }
  auto out = parseRequests(withTrailer, 1);
  EXPECT_EQ(out.requests[0].trailers.get("x-t"), "1");
}

}  // namespace
}  // namespace weft::http
