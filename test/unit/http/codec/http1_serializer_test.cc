#include "http/codec/http1_serializer.h"

#include <gtest/gtest.h>

#include "http/codec/http1_parser.h"

namespace weft::http {
namespace {

TEST(Http1Serializer, RequestHeadWithContentLength) {
  RequestHead h;
  h.method = "POST";
  h.authority = "api.test:80";
  h.path = "/x";
  h.headers.add("X-Case", "Keep");
  h.headers.add("x-rep", "1");
  h.headers.add("x-rep", "2");
  h.headers.add("Content-Length", "999");  // stale framing in headers is ignored
  h.headers.add("Transfer-Encoding", "chunked");
  h.contentLength = 5;
  h.hasBody = true;
  std::string out;
  appendRequestHead(out, h, requestFraming(h));
  EXPECT_EQ(out,
            "POST /x HTTP/1.1\r\nHost: api.test:80\r\nX-Case: Keep\r\nx-rep: 1\r\nx-rep: 2\r\n"
            "Content-Length: 5\r\n\r\n");
}

TEST(Http1Serializer, RequestHeadRemovesHopByHopAndNamedFields) {
  RequestHead h;
  h.method = "GET";
  h.authority = "h";
  h.path = "/";
  h.headers.add("Connection", "X-Secret");
  h.headers.add("X-Secret", "s");
  h.headers.add("Keep-Alive", "timeout=5");
  h.headers.add("TE", "gzip");
  h.headers.add("X-Ok", "1");
  h.headers.add("X-Bad", "a\r\nInjected: 1");
  std::string out;
  appendRequestHead(out, h, requestFraming(h), {.close = true});
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nHost: h\r\nX-Ok: 1\r\nConnection: close\r\n\r\n");
}

TEST(Http1Serializer, ChunkedRequestAndUpgrade) {
  RequestHead h;
  h.method = "POST";
  h.authority = "h";
  h.path = "/s";
  h.hasBody = true;
  std::string out;
  appendRequestHead(out, h, requestFraming(h));
  EXPECT_EQ(out, "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");

  RequestHead u;
  u.method = "GET";
  u.authority = "h";
  u.path = "/ws";
  u.upgrade = true;
  u.upgradeProtocol = "websocket";
  out.clear();
  appendRequestHead(out, u, requestFraming(u), {.upgrade = true});
  EXPECT_EQ(out, "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
}

TEST(Http1Serializer, ResponseFramingChoices) {
  ResponseHead r;
  r.status = 200;
  r.hasBody = true;
  EXPECT_EQ(responseFraming(r, "GET", Version::kHttp11), BodyFraming::kChunked);
  EXPECT_EQ(responseFraming(r, "GET", Version::kHttp10), BodyFraming::kUntilClose);
  EXPECT_EQ(responseFraming(r, "HEAD", Version::kHttp11), BodyFraming::kNone);
  r.contentLength = 7;
  EXPECT_EQ(responseFraming(r, "GET", Version::kHttp10), BodyFraming::kContentLength);
  r.status = 204;
  EXPECT_EQ(responseFraming(r, "GET", Version::kHttp11), BodyFraming::kNone);
  r.status = 200;
  r.contentLength.reset();
  r.hasBody = false;
  EXPECT_EQ(responseFraming(r, "GET", Version::kHttp11), BodyFraming::kContentLength);
}

TEST(Http1Serializer, ResponseHeadAndChunksRoundTrip) {
  ResponseHead r;
  r.status = 200;
  r.headers.add("Content-Type", "text/plain");
  r.headers.add("Connection", "keep-alive");
  std::string out;
  appendResponseHead(out, r, BodyFraming::kChunked);
  appendChunkHeader(out, 11);
  out += "hello world";
  out += kCrlf;
  HeaderList trailers;
  trailers.add("grpc-status", "0");
  appendLastChunk(out, trailers);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            "b\r\nhello world\r\n0\r\ngrpc-status: 0\r\n\r\n");

  Http1ResponseParser p;
  size_t consumed = 0;
  std::string body;
  Http1Event ev = p.parse(out, consumed);
  ASSERT_EQ(ev, Http1Event::kHead);
  std::string_view rest = std::string_view(out).substr(consumed);
  while (ev != Http1Event::kDone && ev != Http1Event::kError && ev != Http1Event::kNeedMore) {
    ev = p.parse(rest, consumed);
    rest.remove_prefix(consumed);
  }
  EXPECT_EQ(ev, Http1Event::kDone);
  EXPECT_EQ(p.body(), "hello world");
  EXPECT_EQ(p.trailers().get("grpc-status"), "0");
}

TEST(Http1Serializer, ResponseConnectionOptions) {
  ResponseHead r;
  r.status = 503;
  r.contentLength = 0;
  std::string out;
  ResponseHeadOptions closeOpt;
  closeOpt.close = true;
  appendResponseHead(out, r, BodyFraming::kContentLength, closeOpt);
  EXPECT_EQ(out, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  out.clear();
  ResponseHeadOptions keepOpt;
  keepOpt.http10KeepAlive = true;
  appendResponseHead(out, r, BodyFraming::kContentLength, keepOpt);
  EXPECT_EQ(out, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
  ResponseHead s;
  s.status = 101;
  out.clear();
  appendResponseHead(out, s, BodyFraming::kNone, {.upgradeProtocol = "websocket"});
  EXPECT_EQ(out, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  ResponseHead head;
  head.status = 200;
  head.contentLength = 42;
  out.clear();
  ResponseHeadOptions headOpt;
  headOpt.headRequest = true;
  appendResponseHead(out, head, BodyFraming::kNone, headOpt);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");
}

// Numbers in heads: every digit of the largest length, an unusual status,
// and chunk sizes in hex.
TEST(Http1Serializer, NumbersAreWrittenInFull) {
  ResponseHead head;
  head.status = 299;  // no reason phrase known
  head.contentLength = UINT64_MAX;
  std::string out;
  appendResponseHead(out, head, BodyFraming::kContentLength, {});
  EXPECT_EQ(out, "HTTP/1.1 299 \r\nContent-Length: 18446744073709551615\r\n\r\n");
  out.clear();
  appendChunkHeader(out, 0xfedcba9876543210ull);
  appendChunkHeader(out, 0);
  EXPECT_EQ(out, "fedcba9876543210\r\n0\r\n");
}

}  // namespace
}  // namespace weft::http
