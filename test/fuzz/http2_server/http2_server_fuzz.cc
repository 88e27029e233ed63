// libFuzzer target: arbitrary bytes, after a valid client preface, into the
// server-side HTTP/2 codec (no I/O). The events side behaves like the real
// server session — answers each request with a body and trailers, drains
// request DATA (reopening the window), resets some streams — so the output
// paths run too. Must never crash, hang or grow without bound.
//
// Input: byte 0 picks the chunk size the rest is fed in (0 = all at once),
// so frame boundaries land anywhere in a read.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "../http2_fuzz_driver.h"
#include "http/codec/http2_codec.h"

namespace {

using namespace weft::http;
using weft::http::fuzz::FuzzBody;

class FuzzServer : public Http2Events {
 public:
  FuzzServer() {
    Http2CodecOptions o;
    o.maxConcurrentStreams = 100;
    o.maxHeaderListBytes = 16 * 1024;
    o.resetBurst = 50;
    o.resetsPerSecond = 10;
    codec_ = std::make_unique<Http2Codec>(Http2Mode::kServer, *this, o);
    codec_->start();
  }
  Http2Codec& codec() { return *codec_; }

  void onHeadersBegin(int32_t id, Http2HeadersKind kind) override { streams_[id].kind = kind; }
  void onHeader(int32_t id, std::string_view name, std::string_view value) override {
    auto& s = streams_[id];
    s.headerBytes += name.size() + value.size();
    if (s.kind == Http2HeadersKind::kTrailers) s.trailers.add(name, value);
  }
  void onHeadersEnd(int32_t id, bool endStream) override {
    auto& s = streams_[id];
    if (s.kind != Http2HeadersKind::kRequest) return;
    ResponseHead head;
    head.status = 200 + static_cast<int>(s.headerBytes % 5);
    head.headers.add("content-type", "application/grpc");
    head.headers.add("Connection", "dropped");  // must be filtered, never emitted
    s.out.body = std::string(s.headerBytes % 3000, 'r');
    s.out.trailers.add("grpc-status", "0");
    if (id % 7 == 3) {
      codec_->resetStream(id, h2error::kInternalError);
      return;
    }
    codec_->submitResponse(id, head, id % 5 != 1);
  }
  void onData(int32_t id, std::string_view data) override {
    // Drain half at once and the rest later, like a reader that lags.
    streams_[id].unconsumed += data.size();
    size_t now = data.size() / 2;
    codec_->consumeStream(id, now);
    streams_[id].unconsumed -= now;
  }
  void onStreamEnd(int32_t id) override {
    auto& s = streams_[id];
    codec_->consumeStream(id, s.unconsumed);
    s.unconsumed = 0;
    codec_->resumeData(id);
  }
  void onStreamClose(int32_t id, uint32_t) override { streams_.erase(id); }
  Http2BodyChunk readData(int32_t id, uint8_t* buf, size_t length) override {
    auto it = streams_.find(id);
    if (it == streams_.end()) return {Http2BodyChunk::Kind::kReset};
    auto& out = it->second.out;
    return out.read(buf, length, out.sent == out.body.size() && id % 3 == 0);
  }
  void resumeAll() {
    for (auto& [id, s] : streams_)
      if (s.out.deferredOnce) codec_->resumeData(id);
  }

 private:
  struct Stream {
    Http2HeadersKind kind = Http2HeadersKind::kRequest;
    size_t headerBytes = 0;
    size_t unconsumed = 0;
    FuzzBody out;
    HeaderList trailers;
  };
  std::unique_ptr<Http2Codec> codec_;
  std::unordered_map<int32_t, Stream> streams_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzServer server;
  server.codec().receive(std::string_view("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24));
  weft::http::fuzz::feedInReads(server.codec(), data, size, [&] { server.resumeAll(); });
  return 0;
}
