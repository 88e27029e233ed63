// Round trips between a client Http2Codec and a server Http2Codec in memory:
// no sockets, every byte one side produces is fed to the other.
#include "http/codec/http2_codec.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

namespace weft::http {
namespace {

// The clock the rapid-reset tests inject (Http2CodecOptions::clock is a
// plain function, so the time it reads lives here).
std::chrono::steady_clock::time_point fakeNow;

struct Peer : Http2Events {
  struct Stream {
    std::vector<std::pair<std::string, std::string>> pseudo;
    HeaderList headers;
    HeaderList trailers;
    std::vector<Http2HeadersKind> kinds;
    std::string data;
    bool ended = false;
    bool closed = false;
    uint32_t closeCode = 0;
    int64_t rstReceived = -1;
    // Outgoing body.
    std::string out;
    size_t outOffset = 0;
    bool outEnd = true;
    HeaderList outTrailers;
    bool deferred = false;
  };

  Peer(Http2Mode mode, Http2CodecOptions options = {}) : codec(mode, *this, std::move(options)) { codec.start(); }

  void onHeadersBegin(int32_t id, Http2HeadersKind kind) override {
    streams[id].kinds.push_back(kind);
    kind_ = kind;
  }
  void onPseudoHeader(int32_t id, std::string_view n, std::string_view v) override {
    streams[id].pseudo.emplace_back(n, v);
  }
  void onHeader(int32_t id, std::string_view n, std::string_view v) override {
    (kind_ == Http2HeadersKind::kTrailers ? streams[id].trailers : streams[id].headers).add(n, v);
  }
  void onData(int32_t id, std::string_view d) override {
    streams[id].data.append(d);
    if (autoConsume) codec.consumeStream(id, d.size());
  }
  void onStreamEnd(int32_t id) override { streams[id].ended = true; }
  void onRstStream(int32_t id, uint32_t code) override { streams[id].rstReceived = code; }
  void onStreamClose(int32_t id, uint32_t code) override {
    streams[id].closed = true;
    streams[id].closeCode = code;
  }
  void onGoaway(int32_t last, uint32_t code, std::string_view) override {
    goawayLast = last;
    goawayCode = code;
  }
  void onAbuse(Http2Abuse kind, int32_t) override { abuses.push_back(kind); }
  void onRequestNotSent(int32_t id) override { notSent.push_back(id); }
  Http2BodyChunk readData(int32_t id, uint8_t* buf, size_t len) override {
    auto& s = streams[id];
    size_t n = std::min(len, s.out.size() - s.outOffset);
    if (n == 0 && !s.outEnd) {
      s.deferred = true;
      return {Http2BodyChunk::Kind::kDeferred};
    }
    std::copy_n(s.out.data() + s.outOffset, n, buf);
    s.outOffset += n;
    Http2BodyChunk c;
    c.length = n;
    c.end = s.outEnd && s.outOffset == s.out.size();
    c.trailers = &s.outTrailers;
    return c;
  }

  Http2Codec codec;
  std::map<int32_t, Stream> streams;
  bool autoConsume = true;
  int32_t goawayLast = -1;
  uint32_t goawayCode = 0;
  std::vector<Http2Abuse> abuses;
  std::vector<int32_t> notSent;
  Http2HeadersKind kind_ = Http2HeadersKind::kRequest;
};

// Moves bytes both ways until neither side has anything to say. Returns the
// number of bytes that crossed client → server.
size_t pump(Peer& client, Peer& server) {
  size_t total = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string a, b;
    client.codec.drainOutput(a);
    server.codec.drainOutput(b);
    if (a.empty() && b.empty()) return total;
    total += a.size();
    if (!a.empty()) server.codec.receive(a);
    if (!b.empty()) client.codec.receive(b);
  }
  ADD_FAILURE() << "pump did not settle";
  return total;
}

RequestHead makeRequest() {
  RequestHead r;
  r.method = "POST";
  r.scheme = "http";
  r.authority = "api.test:80";
  r.path = "/svc/Method";
  return r;
}

std::string pseudo(const Peer::Stream& s, std::string_view name) {
  for (auto& [n, v] : s.pseudo)
    if (n == name) return v;
  return {};
}

class HeaderTableSize : public ::testing::TestWithParam<uint32_t> {};

TEST_P(HeaderTableSize, RepeatedAndLargeHeadersRoundTripInOrder) {
  Http2CodecOptions opt;
  opt.headerTableSize = GetParam();
  opt.maxEncoderTableSize = GetParam();
  opt.maxHeaderListBytes = 1 << 20;
  Peer client(Http2Mode::kClient, opt), server(Http2Mode::kServer, opt);
  pump(client, server);

  RequestHead req = makeRequest();
  // 300 fields sharing a few names, interleaved, so any reordering or
  // dedup shows; the values vary so the dynamic table churns.
  for (int i = 0; i < 300; ++i) req.headers.add(i % 3 == 0 ? "actorscopes" : (i % 3 == 1 ? "Roles" : "x-r"), fmt::format("v{}-{}", i, std::string(i % 17, 'a' + i % 26)));
  // Values big enough that the block needs CONTINUATION frames.
  req.headers.add("x-big", std::string(40000, 'b'));
  req.headers.add("x-big", std::string(30000, 'c'));
  req.headers.add("actorscopes", "last");
  int32_t id = client.codec.submitRequest(req, false);
  ASSERT_GT(id, 0);
  pump(client, server);

  auto& s = server.streams[id];
  ASSERT_TRUE(s.ended);
  EXPECT_EQ(pseudo(s, ":method"), "POST");
  EXPECT_EQ(pseudo(s, ":authority"), "api.test:80");
  EXPECT_EQ(pseudo(s, ":path"), "/svc/Method");
  ASSERT_EQ(s.headers.size(), req.headers.size());
  for (size_t i = 0; i < req.headers.size(); ++i) {
    std::string lower = req.headers[i].name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(s.headers[i].name, lower) << i;
    EXPECT_EQ(s.headers[i].value, req.headers[i].value) << i;
  }

  // And back: a response with the same block.
  ResponseHead resp;
  resp.status = 200;
  resp.headers = req.headers;
  ASSERT_TRUE(server.codec.submitResponse(id, resp, false));
  pump(client, server);
  auto& c = client.streams[id];
  ASSERT_TRUE(c.ended);
  EXPECT_EQ(pseudo(c, ":status"), "200");
  ASSERT_EQ(c.headers.size(), resp.headers.size());
  for (size_t i = 0; i < resp.headers.size(); ++i) EXPECT_EQ(c.headers[i].value, resp.headers[i].value) << i;
  EXPECT_TRUE(c.closed);
  EXPECT_EQ(c.closeCode, h2error::kNoError);
}

INSTANTIATE_TEST_SUITE_P(Sizes, HeaderTableSize, ::testing::Values(0u, 256u, 4096u));

TEST(Http2Codec, DropsConnectionSpecificHeadersAndKeepsTeTrailers) {
  Peer client(Http2Mode::kClient), server(Http2Mode::kServer);
  RequestHead req = makeRequest();
  req.authority.clear();
  req.headers.add("Host", "from-host.test");
  req.headers.add("Connection", "keep-alive");
  req.headers.add("Keep-Alive", "5");
  req.headers.add("Transfer-Encoding", "chunked");
  req.headers.add("Upgrade", "h2c");
  req.headers.add("Proxy-Connection", "x");
  req.headers.add("TE", "trailers, deflate");
  req.headers.add("X-Mixed-Case", "Value Kept");
  int32_t id = client.codec.submitRequest(req, false);
  pump(client, server);
  auto& s = server.streams[id];
  ASSERT_TRUE(s.ended) << "server rejected the request";
  EXPECT_EQ(pseudo(s, ":authority"), "from-host.test");
  ASSERT_EQ(s.headers.size(), 2u);
  EXPECT_EQ(s.headers[0].name, "te");
  EXPECT_EQ(s.headers[0].value, "trailers");
  EXPECT_EQ(s.headers[1].name, "x-mixed-case");
  EXPECT_EQ(s.headers[1].value, "Value Kept");
}

TEST(Http2Codec, BodyAndTrailersBothWays) {
  Peer client(Http2Mode::kClient), server(Http2Mode::kServer);
  RequestHead req = makeRequest();
  req.headers.add("content-type", "application/grpc");
  req.headers.add("te", "trailers");
  int32_t id = client.codec.submitRequest(req, true);
  client.streams[id].out = std::string(100000, 'q');  // more than one window: needs consumption
  client.streams[id].outTrailers.add("x-req-trailer", "t1");
  pump(client, server);
  auto& s = server.streams[id];
  EXPECT_EQ(s.data, std::string(100000, 'q'));
  ASSERT_TRUE(s.ended);
  ASSERT_EQ(s.trailers.size(), 1u);
  EXPECT_EQ(s.trailers[0].value, "t1");
  EXPECT_EQ(s.kinds.back(), Http2HeadersKind::kTrailers);

  ResponseHead resp;
  resp.headers.add("content-type", "application/grpc");
  server.streams[id].out = "hello";
  server.streams[id].outTrailers.add("grpc-status", "0");
  server.streams[id].outTrailers.add("grpc-message", "");
  ASSERT_TRUE(server.codec.submitResponse(id, resp, true));
  pump(client, server);
  auto& c = client.streams[id];
  EXPECT_EQ(c.data, "hello");
  ASSERT_TRUE(c.ended);
  ASSERT_EQ(c.trailers.size(), 2u);
  EXPECT_EQ(c.trailers[0].name, "grpc-status");
  EXPECT_EQ(c.trailers[1].name, "grpc-message");
  EXPECT_EQ(c.trailers[1].value, "");
  EXPECT_TRUE(c.closed);
}

TEST(Http2Codec, InterimResponseIsNotTrailers) {
  Peer client(Http2Mode::kClient), server(Http2Mode::kServer);
  int32_t id = client.codec.submitRequest(makeRequest(), false);
  pump(client, server);
  // A non-final (1xx) HEADERS, as a server sends for 100-continue/103.
  const nghttp2_nv interim[] = {{(uint8_t*)":status", (uint8_t*)"103", 7, 3, NGHTTP2_NV_FLAG_NONE},
                                {(uint8_t*)"link", (uint8_t*)"</a>", 4, 4, NGHTTP2_NV_FLAG_NONE}};
  ASSERT_EQ(nghttp2_submit_headers(server.codec.raw(), NGHTTP2_FLAG_NONE, id, nullptr, interim, 2, nullptr), 0);
  pump(client, server);
  ResponseHead final;
  final.status = 204;
  server.codec.submitResponse(id, final, false);
  pump(client, server);
  auto& c = client.streams[id];
  ASSERT_EQ(c.kinds.size(), 2u);
  EXPECT_EQ(c.kinds[0], Http2HeadersKind::kResponse);
  EXPECT_EQ(c.kinds[1], Http2HeadersKind::kResponse);
  EXPECT_TRUE(c.trailers.empty());
}

TEST(Http2Codec, ResetBothWays) {
  Peer client(Http2Mode::kClient), server(Http2Mode::kServer);
  int32_t a = client.codec.submitRequest(makeRequest(), true);
  client.streams[a].outEnd = false;
  int32_t b = client.codec.submitRequest(makeRequest(), true);
  client.streams[b].outEnd = false;
  pump(client, server);
  client.codec.resetStream(a, h2error::kCancel);
  server.codec.resetStream(b, h2error::kRefusedStream);
  pump(client, server);
  EXPECT_EQ(server.streams[a].rstReceived, h2error::kCancel);
  EXPECT_TRUE(server.streams[a].closed);
  EXPECT_EQ(client.streams[b].rstReceived, h2error::kRefusedStream);
  EXPECT_TRUE(client.streams[b].closed);
  EXPECT_EQ(client.streams[b].closeCode, h2error::kRefusedStream);
}

TEST(Http2Codec, GoawayLastStreamIdRefusesLaterStreams) {
  Peer client(Http2Mode::kClient), server(Http2Mode::kServer);
  int32_t first = client.codec.submitRequest(makeRequest(), true);
  client.streams[first].outEnd = false;
  pump(client, server);
  int32_t second = client.codec.submitRequest(makeRequest(), true);
  client.streams[second].outEnd = false;
  // The server says goodbye having processed only `first`; `second` crosses it.
  server.codec.submitGoaway(h2error::kNoError, first);
  std::string toClient, toServer;
  server.codec.drainOutput(toClient);
  client.codec.drainOutput(toServer);
  client.codec.receive(toClient);
  server.codec.receive(toServer);
  pump(client, server);
  EXPECT_EQ(client.goawayLast, first);
  EXPECT_TRUE(client.codec.goawayReceived());
  EXPECT_TRUE(client.streams[second].closed);
  EXPECT_EQ(client.streams[second].closeCode, h2error::kRefusedStream);
  EXPECT_FALSE(client.streams[first].closed);
  // No new stream can be opened after GOAWAY.
  int32_t third = client.codec.submitRequest(makeRequest(), false);
  if (third > 0) {
    pump(client, server);
    EXPECT_FALSE(server.streams.count(third));
    EXPECT_TRUE(std::count(client.notSent.begin(), client.notSent.end(), third) == 1 || client.streams[third].closed);
  }
  // The first stream still completes.
  client.streams[first].outEnd = true;
  client.codec.resumeData(first);
  pump(client, server);
  EXPECT_TRUE(server.streams[first].ended);
}

TEST(Http2Codec, StreamWindowBoundsUnconsumedData) {
  Http2CodecOptions opt;
  opt.initialWindowSize = 16384;
  Peer client(Http2Mode::kClient), server(Http2Mode::kServer, opt);
  server.autoConsume = false;
  pump(client, server);
  int32_t a = client.codec.submitRequest(makeRequest(), true);
  client.streams[a].out = std::string(200000, 'x');
  int32_t b = client.codec.submitRequest(makeRequest(), true);
  client.streams[b].out = std::string(1000, 'y');
  pump(client, server);
  // The slow stream is held at its window; the other one is not held back.
  EXPECT_EQ(server.streams[a].data.size(), 16384u);
  EXPECT_EQ(server.streams[b].data.size(), 1000u);
  EXPECT_TRUE(server.streams[b].ended);
  // Draining reopens the window by exactly what was drained.
  server.codec.consumeStream(a, 16384);
  pump(client, server);
  EXPECT_EQ(server.streams[a].data.size(), 32768u);
}

TEST(Http2Codec, OversizedRequestHeadersGet431) {
  Http2CodecOptions small;
  small.maxHeaderListBytes = 4096;
  Http2CodecOptions big;
  big.maxHeaderListBytes = 1 << 20;
  Peer client(Http2Mode::kClient, big), server(Http2Mode::kServer, small);
  pump(client, server);
  RequestHead req = makeRequest();
  req.headers.add("x-huge", std::string(8000, 'h'));
  int32_t id = client.codec.submitRequest(req, false);
  pump(client, server);
  EXPECT_FALSE(server.streams.count(id) && !server.streams[id].headers.empty());
  EXPECT_EQ(pseudo(client.streams[id], ":status"), "431");
  ASSERT_EQ(server.abuses.size(), 1u);
  EXPECT_EQ(server.abuses[0], Http2Abuse::kHeaderListTooLarge);
  // The connection stays usable.
  int32_t next = client.codec.submitRequest(makeRequest(), false);
  pump(client, server);
  EXPECT_TRUE(server.streams[next].ended);
}

TEST(Http2Codec, RapidResetEndsConnectionWithEnhanceYourCalm) {
  auto& now = fakeNow;
  now = std::chrono::steady_clock::now();
  Http2CodecOptions opt;
  opt.resetBurst = 20;
  opt.resetsPerSecond = 1;
  opt.clock = [] { return fakeNow; };
  Peer client(Http2Mode::kClient), server(Http2Mode::kServer, opt);
  pump(client, server);
  std::vector<int32_t> ids;
  for (int i = 0; i < 30; ++i) {
    ids.push_back(client.codec.submitRequest(makeRequest(), true));
    client.streams[ids.back()].outEnd = false;
  }
  pump(client, server);  // nghttp2 drops a HEADERS reset before it was sent
  for (auto id : ids) client.codec.resetStream(id, h2error::kCancel);
  pump(client, server);
  ASSERT_FALSE(server.abuses.empty());
  EXPECT_EQ(server.abuses[0], Http2Abuse::kRapidReset);
  EXPECT_EQ(client.goawayCode, h2error::kEnhanceYourCalm);
  EXPECT_TRUE(server.codec.failed());
}

TEST(Http2Codec, ResetsWithinTheRateAreFine) {
  auto& now = fakeNow;
  now = std::chrono::steady_clock::now();
  Http2CodecOptions opt;
  opt.resetBurst = 20;
  opt.resetsPerSecond = 10;
  opt.clock = [] { return fakeNow; };
  Peer client(Http2Mode::kClient), server(Http2Mode::kServer, opt);
  pump(client, server);
  for (int i = 0; i < 60; ++i) {
    now += std::chrono::milliseconds(200);  // 5 per second, under the refill rate
    int32_t id = client.codec.submitRequest(makeRequest(), true);
    client.streams[id].outEnd = false;
    pump(client, server);
    client.codec.resetStream(id, h2error::kCancel);
    pump(client, server);
    ASSERT_EQ(server.streams[id].rstReceived, h2error::kCancel);
  }
  EXPECT_TRUE(server.abuses.empty());
  EXPECT_FALSE(server.codec.failed());
}

TEST(Http2Codec, GarbageAfterPrefaceIsAConnectionError) {
  Peer server(Http2Mode::kServer);
  std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  server.codec.receive(preface);
  // A DATA frame on stream 0 before SETTINGS is a protocol error.
  std::string junk("\x00\x00\x04\x00\x00\x00\x00\x00\x00junk", 13);
  server.codec.receive(junk);
  std::string out;
  server.codec.drainOutput(out);
  EXPECT_FALSE(server.codec.wantsRead());
  // The last frame out is a GOAWAY (type 7).
  ASSERT_GE(out.size(), 17u);
  EXPECT_NE(out.find(std::string("\x07\x00\x00\x00\x00\x00", 6)), std::string::npos);
}

TEST(Http2Codec, TracksAnOpenHeaderBlockUntilItsLastContinuation) {
  Peer client(Http2Mode::kClient);
  Peer server(Http2Mode::kServer);
  pump(client, server);
  EXPECT_FALSE(server.codec.headerBlockOpen());
  auto before = server.codec.headerBlocksBegun();
  // HEADERS without END_HEADERS (stream 1, :method GET), a CONTINUATION
  // without it, then the one that ends the block.
  auto frameHead = [](size_t len, uint8_t type, uint8_t flags) {
    return std::string{'\0', '\0', static_cast<char>(len), static_cast<char>(type), static_cast<char>(flags), '\0',
                       '\0', '\0', '\1'};
  };
  server.codec.receive(frameHead(1, 0x1, 0x1) + "\x82");
  EXPECT_TRUE(server.codec.headerBlockOpen());
  EXPECT_EQ(server.codec.headerBlocksBegun(), before + 1);
  server.codec.receive(frameHead(1, 0x9, 0x0) + "\x86");
  EXPECT_TRUE(server.codec.headerBlockOpen());
  // A partial frame: the block is still open whatever arrived of it.
  std::string last = frameHead(11, 0x9, 0x4) + "\x84\x41\x08svc.test";
  server.codec.receive(last.substr(0, 12));
  EXPECT_TRUE(server.codec.headerBlockOpen());
  server.codec.receive(last.substr(12));
  EXPECT_FALSE(server.codec.headerBlockOpen());
  EXPECT_EQ(server.codec.headerBlocksBegun(), before + 1);
  EXPECT_EQ(pseudo(server.streams[1], ":path"), "/");
  EXPECT_FALSE(server.codec.failed());
}

// DATA frame on `id` as raw bytes, END_STREAM set.
std::string rawData(int32_t id, std::string_view payload) {
  std::string f{'\0', '\0', static_cast<char>(payload.size()), '\0', '\1', '\0', '\0', '\0',
                static_cast<char>(id)};
  return f + std::string(payload);
}

TEST(Http2Codec, DataAfterThePeerEndedTheStreamIsStreamClosedButAfterOurResetIsIgnored) {
  Peer client(Http2Mode::kClient);
  Peer server(Http2Mode::kServer);
  auto req = makeRequest();
  int32_t done = client.codec.submitRequest(req, false);
  int32_t reset = client.codec.submitRequest(req, false);
  pump(client, server);
  ResponseHead head;
  head.status = 204;
  ASSERT_TRUE(server.codec.submitResponse(done, head, false));
  server.codec.resetStream(reset, h2error::kCancel);
  pump(client, server);
  ASSERT_TRUE(server.streams[done].closed);
  ASSERT_TRUE(server.streams[reset].closed);
  // Late DATA on a stream we reset: the peer may have sent it before our RST arrived.
  EXPECT_TRUE(server.codec.receive(rawData(reset, "late")));
  // DATA after the peer's own END_STREAM: a connection error (RFC 9113 §5.1).
  EXPECT_FALSE(server.codec.receive(rawData(done, "late")));
  std::string out;
  server.codec.drainOutput(out);
  ASSERT_GE(out.size(), 17u);
  auto at = out.find(std::string("\x07\x00\x00\x00\x00\x00", 6));
  ASSERT_NE(at, std::string::npos) << "no GOAWAY";
  EXPECT_EQ(static_cast<uint8_t>(out[at + 6 + 7]), h2error::kStreamClosed);
}

// DATA frame on any stream id as raw bytes, END_STREAM set.
std::string rawDataOn(int32_t id, std::string_view payload) {
  std::string f{'\0', '\0', static_cast<char>(payload.size()), '\0', '\1'};
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>((id >> shift) & 0xff));
  return f + std::string(payload);
}

// RST_STREAM on `id` as raw bytes.
std::string rawRst(int32_t id, uint32_t code) {
  std::string f{'\0', '\0', '\4', '\3', '\0'};
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>((id >> shift) & 0xff));
  for (int shift = 24; shift >= 0; shift -= 8) f.push_back(static_cast<char>((code >> shift) & 0xff));
  return f;
}

// receive() hands runs of frames to nghttp2 in one call, stopping before
// each DATA frame to check it against the streams as they are then. Fed the
// same bytes in one piece or one byte at a time, a server must see the same
// streams, fail the same way and answer the same bytes.
TEST(Http2Codec, OneReadOrByteByByteTheServerSeesAndAnswersTheSame) {
  for (bool lateDataIsAnError : {false, true}) {
    Peer client(Http2Mode::kClient);
    auto req = makeRequest();
    int32_t a = client.codec.submitRequest(req, true);
    int32_t b = client.codec.submitRequest(req, true);
    client.streams[a].out = "hello";
    client.streams[b].out = "world";
    std::string wire;
    client.codec.drainOutput(wire);  // preface, SETTINGS, two HEADERS and their DATA with END_STREAM
    // The client resets `a` (its own END_STREAM already sent: the stream closes) ...
    wire += rawRst(a, h2error::kCancel);
    // ... and a third request's HEADERS arrive after frames on closed streams.
    if (lateDataIsAnError) wire += rawDataOn(a, "late");  // after the peer's own RST: connection error
    int32_t c = client.codec.submitRequest(req, false);
    std::string third;
    client.codec.drainOutput(third);
    wire += third;

    Peer whole(Http2Mode::kServer);
    Peer bytewise(Http2Mode::kServer);
    bool wholeOk = whole.codec.receive(wire);
    bool bytewiseOk = true;
    for (char ch : wire)
      if (!bytewise.codec.receive(std::string_view(&ch, 1))) bytewiseOk = false;
    EXPECT_EQ(wholeOk, !lateDataIsAnError);
    EXPECT_EQ(bytewiseOk, wholeOk);
    EXPECT_EQ(whole.codec.failed(), bytewise.codec.failed());
    for (int32_t id : {a, b, c}) {
      EXPECT_EQ(whole.streams[id].data, bytewise.streams[id].data) << id;
      EXPECT_EQ(whole.streams[id].ended, bytewise.streams[id].ended) << id;
      EXPECT_EQ(whole.streams[id].closed, bytewise.streams[id].closed) << id;
    }
    EXPECT_EQ(whole.streams[b].data, "world");
    EXPECT_EQ(whole.streams.count(c) && !whole.streams[c].kinds.empty(), !lateDataIsAnError);
    std::string wholeOut, bytewiseOut;
    whole.codec.drainOutput(wholeOut);
    bytewise.codec.drainOutput(bytewiseOut);
    EXPECT_EQ(wholeOut, bytewiseOut);
  }
}

TEST(Http2Codec, ClosedStreamRecordKeepsTheLast128StreamsAndForgetsOlderOnes) {
  Peer client(Http2Mode::kClient);
  Peer server(Http2Mode::kServer);
  auto req = makeRequest();
  std::vector<int32_t> ids;
  for (int i = 0; i < 200; ++i) {  // client streams 1, 3, ..., 399, each ended by both sides
    int32_t id = client.codec.submitRequest(req, false);
    pump(client, server);
    ResponseHead head;
    head.status = 204;
    ASSERT_TRUE(server.codec.submitResponse(id, head, false));
    pump(client, server);
    ASSERT_TRUE(server.streams[id].closed) << id;
    ids.push_back(id);
  }
  // Stream k shares its record slot with stream k + 128: streams 0..71 were
  // replaced by 128..199 and are forgotten, so their late frames are ignored.
  EXPECT_TRUE(server.codec.receive(rawDataOn(ids[0], "late")));
  EXPECT_TRUE(server.codec.receive(rawDataOn(ids[71], "late")));
  // Stream 100 (id 201) is still known as ended by the peer: STREAM_CLOSED.
  EXPECT_FALSE(server.codec.receive(rawDataOn(ids[100], "late")));
  std::string out;
  server.codec.drainOutput(out);
  auto at = out.find(std::string("\x07\x00\x00\x00\x00\x00", 6));
  ASSERT_NE(at, std::string::npos) << "no GOAWAY";
  EXPECT_EQ(static_cast<uint8_t>(out[at + 6 + 7]), h2error::kStreamClosed);
}

}  // namespace
}  // namespace weft::http
