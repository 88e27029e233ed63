// libFuzzer target: arbitrary bytes from an upstream HTTP/2 server into the
// client-side codec (no I/O). Upstream responses face a peer as much as
// client requests do: a broken or hostile upstream must never crash, hang or
// grow the proxy. The events side behaves like Http2ClientConnection — opens
// requests (some with bodies and trailers), tracks interim (1xx) and final
// heads, drains response DATA lagging behind (reopening the window), cancels
// some streams, opens new ones as others end (until GOAWAY) — so both the
// receive and the send paths run.
//
// Input: byte 0 picks the chunk size the rest is fed in (0 = all at once),
// so frame boundaries land anywhere in a read. The rest is what the server
// sends, starting with its SETTINGS.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "../http2_fuzz_driver.h"
#include "http/codec/http2_codec.h"

namespace {

using namespace weft::http;
using weft::http::fuzz::FuzzBody;

constexpr int kMaxStreamsOpened = 64;  // bounds one input's work

class FuzzClient : public Http2Events {
 public:
  FuzzClient() {
    Http2CodecOptions o;
    o.maxConcurrentStreams = 16;
    o.maxHeaderListBytes = 16 * 1024;
    o.initialWindowSize = 16 * 1024;
    codec_ = std::make_unique<Http2Codec>(Http2Mode::kClient, *this, o);
    codec_->start();
    for (int i = 0; i < 4; ++i) open();
  }
  Http2Codec& codec() { return *codec_; }

  void open() {
    if (opened_ >= kMaxStreamsOpened || codec_->goawayReceived()) return;
    RequestHead req;
    req.method = opened_ % 2 ? "POST" : "GET";
    req.authority = "upstream.test:80";
    req.path = "/r" + std::to_string(opened_);
    req.headers.add("x-request", std::to_string(opened_));
    req.headers.add("Connection", "dropped");  // must be filtered, never emitted
    if (opened_ % 3 == 0) req.headers.add("te", "trailers");
    bool withBody = opened_ % 2 == 1;
    ++opened_;
    int32_t id = codec_->submitRequest(req, withBody);
    if (id <= 0) return;
    auto& s = streams_[id];
    if (withBody) {
      s.out.body = std::string(200 + 700 * (opened_ % 4), 'q');
      s.out.trailers.add("x-checksum", "1");
    }
  }

  void onHeadersBegin(int32_t id, Http2HeadersKind kind) override {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second.inTrailers = kind == Http2HeadersKind::kTrailers;
    it->second.status = 0;
  }
  void onPseudoHeader(int32_t id, std::string_view name, std::string_view value) override {
    auto it = streams_.find(id);
    if (it == streams_.end() || name != ":status" || value.size() != 3) return;
    it->second.status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
  }
  void onHeader(int32_t id, std::string_view name, std::string_view value) override {
    auto it = streams_.find(id);
    if (it != streams_.end()) it->second.fieldBytes += name.size() + value.size();
  }
  void onHeadersEnd(int32_t id, bool) override {
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second.inTrailers) return;
    auto& s = it->second;
    if (s.status >= 100 && s.status < 200) return;  // interim: the final head follows
    s.final = true;
    // Like a retry of a discarded 503, or a client that gave up.
    if (s.status == 503 || s.fieldBytes % 11 == 5) codec_->resetStream(id, h2error::kCancel);
  }
  void onData(int32_t id, std::string_view data) override {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    // A reader that lags: half now, the rest when the stream ends.
    size_t now = data.size() / 2;
    codec_->consumeStream(id, now);
    it->second.unconsumed += data.size() - now;
  }
  void onStreamEnd(int32_t id) override { drain(id); }
  void onRstStream(int32_t id, uint32_t) override { drain(id); }
  void onStreamClose(int32_t id, uint32_t) override {
    streams_.erase(id);
    ++closed_;
  }
  void onRequestNotSent(int32_t id) override { streams_.erase(id); }
  Http2BodyChunk readData(int32_t id, uint8_t* buf, size_t length) override {
    auto it = streams_.find(id);
    if (it == streams_.end()) return {Http2BodyChunk::Kind::kReset};
    return it->second.out.read(buf, length, it->second.out.sent > 0);
  }

  // Between reads: resume deferred bodies, replace closed streams.
  void turn() {
    for (auto& [id, s] : streams_)
      if (s.out.deferredOnce) codec_->resumeData(id);
    while (closed_ > 0) {
      --closed_;
      open();
    }
  }

 private:
  void drain(int32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    codec_->consumeStream(id, it->second.unconsumed);
    it->second.unconsumed = 0;
  }

  struct Stream {
    FuzzBody out;
    size_t unconsumed = 0;
    size_t fieldBytes = 0;
    int status = 0;
    bool inTrailers = false;
    bool final = false;
  };
  std::unique_ptr<Http2Codec> codec_;
  std::unordered_map<int32_t, Stream> streams_;
  int opened_ = 0;
  int closed_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzClient client;  // its preface, SETTINGS and first requests go out first
  weft::http::fuzz::feedInReads(client.codec(), data, size, [&] { client.turn(); });
  return 0;
}
