#pragma once
// A thin, I/O-free wrapper over one nghttp2 session (server or client side).
//
// Bytes in: receive() feeds what the socket read (nghttp2_session_mem_recv);
// events come out synchronously through Http2Events while it runs. Bytes out:
// drainOutput() appends every frame that is ready (nghttp2_session_mem_send);
// the session writes them in one batch. Bodies are pulled from the owner
// through Http2Events::readData while drainOutput() runs.
//
// Flow control is end to end: automatic WINDOW_UPDATE is off. The connection
// window is credited as soon as DATA arrives (the bytes then count against
// their stream's window, which bounds what we buffer), and a stream's window
// only when its owner says the bytes were drained (consumeStream). A slow
// reader therefore holds back only its own stream.
//
// Header fields are delivered in wire order with repeats kept and values
// byte-exact (nghttp2 does HPACK; nothing here reorders or truncates).
// Pseudo-headers come through onPseudoHeader, regular fields through onHeader.
// On output, names are lowercased, connection-specific fields are dropped and
// `te` is sent only as "trailers".
//
// Defences (reported through onAbuse, each also ends the stream or the
// connection): rapid reset (token bucket over received RST_STREAM, server
// side) → GOAWAY ENHANCE_YOUR_CALM; header lists over maxHeaderListBytes →
// 431 (request) or RST_STREAM (trailers, responses); CONTINUATION floods,
// SETTINGS/PING floods and oversized SETTINGS → GOAWAY; streams beyond
// SETTINGS_MAX_CONCURRENT_STREAMS → REFUSED_STREAM (counted).
//
// Thread: one thread, never re-entered: events must not call receive() or
// drainOutput(), but may call the submit*/reset/consume functions.
// Lifetime: the owner of the events object outlives the codec.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "http/codec/closed_stream_ring.h"
#include "http/codec/message.h"

struct nghttp2_session;

namespace weft::http {

// RFC 9113 §7 error codes used by name.
namespace h2error {
inline constexpr uint32_t kNoError = 0x0;
inline constexpr uint32_t kProtocolError = 0x1;
inline constexpr uint32_t kInternalError = 0x2;
inline constexpr uint32_t kFlowControlError = 0x3;
inline constexpr uint32_t kStreamClosed = 0x5;
inline constexpr uint32_t kRefusedStream = 0x7;
inline constexpr uint32_t kCancel = 0x8;
inline constexpr uint32_t kEnhanceYourCalm = 0xb;
}  // namespace h2error

enum class Http2Mode : uint8_t { kServer, kClient };

enum class Http2HeadersKind : uint8_t {
  kRequest,   // server: a new request
  kResponse,  // client: a response head (possibly 1xx interim; check :status)
  kTrailers,  // either side: trailers ending the peer's half of the stream
};

enum class Http2Abuse : uint8_t {
  kRapidReset,
  kHeaderListTooLarge,
  kContinuationFlood,
  kControlFlood,  // SETTINGS/PING ack flood, too many SETTINGS entries
  kTooManyStreams,
  kProtocol,      // any other fatal protocol error from the peer
};
// Metric label value (`kind`).
std::string_view http2AbuseName(Http2Abuse kind);

struct Http2CodecOptions {
  uint32_t maxConcurrentStreams = 1000;          // advertised (server); client: local cap only
  uint32_t initialWindowSize = 64 * 1024;        // per stream, advertised: the per-stream buffering bound
  uint32_t connectionWindowSize = 16 * 1024 * 1024;
  uint32_t headerTableSize = 4096;               // our decoder's dynamic table (SETTINGS_HEADER_TABLE_SIZE)
  uint32_t maxEncoderTableSize = 4096;           // cap on our encoder's table (peer's setting applies below it)
  uint32_t maxHeaderListBytes = 64 * 1024;       // RFC 9113 size: name + value + 32 per field
  // Rapid reset defence (server): a token bucket over received RST_STREAM.
  uint32_t resetBurst = 500;
  uint32_t resetsPerSecond = 100;
  // Injected in tests (a plain function, not a std::function: the codec keeps
  // its options, and every connection holds a codec); steady_clock by default.
  std::chrono::steady_clock::time_point (*clock)() = nullptr;
};

// What readData() hands back for one DATA frame.
struct Http2BodyChunk {
  enum class Kind : uint8_t { kData, kDeferred, kReset };
  Kind kind = Kind::kData;
  size_t length = 0;                     // bytes written into the buffer
  bool end = false;                      // nothing follows these bytes
  const HeaderList* trailers = nullptr;  // with end: sent as trailers when non-empty
};

class Http2Events {
 public:
  virtual ~Http2Events() = default;
  virtual void onHeadersBegin(int32_t streamId, Http2HeadersKind kind) {}
  virtual void onPseudoHeader(int32_t streamId, std::string_view name, std::string_view value) {}
  virtual void onHeader(int32_t streamId, std::string_view name, std::string_view value) {}
  // The header block is complete; `endStream`: the peer's half ends with it
  // (onStreamEnd follows).
  virtual void onHeadersEnd(int32_t streamId, bool endStream) {}
  virtual void onData(int32_t streamId, std::string_view data) {}
  // The peer ended its half of the stream (END_STREAM on DATA or HEADERS).
  virtual void onStreamEnd(int32_t streamId) {}
  virtual void onRstStream(int32_t streamId, uint32_t errorCode) {}
  // The stream is gone, for whatever reason (errorCode is the RST code, sent
  // or received, or kNoError). After this no event names the stream.
  virtual void onStreamClose(int32_t streamId, uint32_t errorCode) {}
  virtual void onGoaway(int32_t lastStreamId, uint32_t errorCode, std::string_view debug) {}
  virtual void onSettings() {}
  virtual void onPingAck(uint64_t opaque) {}
  // streamId is 0 for connection-level abuse.
  virtual void onAbuse(Http2Abuse kind, int32_t streamId) {}
  // Client: the HEADERS opening `streamId` went out (mem_send) / will never go
  // out (GOAWAY received, session closing): the peer never saw the request.
  virtual void onRequestSent(int32_t streamId) {}
  virtual void onRequestNotSent(int32_t streamId) {}
  // Body source for streams submitted with a body. Called from drainOutput().
  virtual Http2BodyChunk readData(int32_t streamId, uint8_t* buf, size_t length) = 0;
};

class Http2Codec {
 public:
  Http2Codec(Http2Mode mode, Http2Events& events, Http2CodecOptions options = {});
  ~Http2Codec();
  Http2Codec(const Http2Codec&) = delete;
  Http2Codec& operator=(const Http2Codec&) = delete;

  // Queues our SETTINGS (client: after the connection preface) and the
  // connection window. Call once, first.
  void start();
  // Feeds bytes from the peer. False on a fatal connection error: a GOAWAY is
  // queued; drain the output, send it and close.
  bool receive(std::string_view bytes);
  // Appends at most about `limit` bytes of ready frames to `out`; returns how
  // many were appended.
  size_t drainOutput(std::string& out, size_t limit = 1 << 20);
  // nghttp2's view: false when both sides are done (GOAWAY exchanged, no streams).
  bool wantsRead() const;
  bool wantsWrite() const;
  bool failed() const { return failed_; }
  // A HEADERS frame was received whose header block has not ended yet
  // (CONTINUATION frames still due). Nothing else may arrive meanwhile, so
  // a peer that stalls here stalls the whole connection.
  bool headerBlockOpen() const { return headerBlockOpen_; }
  // Counts header blocks begun: tells a new open block from the same one.
  uint64_t headerBlocksBegun() const { return headerBlocksBegun_; }
  std::string_view failure() const { return failure_; }

  // --- client ---
  // Opens a stream for `request` (pseudo-headers from the head fields; host
  // becomes :authority when the authority is empty). Returns the stream id or
  // a negative nghttp2 error (ids exhausted, session closing).
  int32_t submitRequest(const RequestHead& request, bool withBody);

  // --- server ---
  bool submitResponse(int32_t streamId, const ResponseHead& response, bool withBody);
  // GOAWAY with last-stream-id 2^31-1: "stop opening streams soon".
  void submitShutdownNotice();
  // Last stream id we processed (server), for the final GOAWAY.
  int32_t lastProcessedStreamId() const;

  // --- both ---
  void submitGoaway(uint32_t errorCode, int32_t lastStreamId, std::string_view debug = {});
  void submitPing(uint64_t opaque);
  void resetStream(int32_t streamId, uint32_t errorCode);
  // The stream's body source has data again after a kDeferred.
  void resumeData(int32_t streamId);
  // `n` received bytes of the stream were drained by their reader: reopen
  // the stream window by that much.
  void consumeStream(int32_t streamId, size_t n);
  // Queues GOAWAY(errorCode) and stops reading (fatal).
  void terminate(uint32_t errorCode);

  bool goawayReceived() const { return goawayReceived_; }
  bool goawaySent() const;
  uint32_t peerMaxConcurrentStreams() const;
  uint32_t nextStreamId() const;
  nghttp2_session* raw() const { return session_; }

 private:
  struct Callbacks;
  friend struct Callbacks;
  bool takeResetToken();
  // Frames on streams nghttp2 no longer holds (it keeps no closed streams):
  // RFC 9113 §5.1 errors it cannot see without them. 0 when the frame is
  // fine or must be ignored.
  uint32_t closedStreamError(uint8_t type, int32_t streamId);
  using Closed = ClosedStreamRing::How;
  void recordClosed(int32_t streamId, Closed how);

  Http2Mode mode_;
  Http2Events& events_;
  Http2CodecOptions options_;
  nghttp2_session* session_ = nullptr;
  bool failed_ = false;
  const char* failure_ = "";  // always a static string: nghttp2_strerror() or ours
  bool goawayReceived_ = false;
  uint32_t pendingTerminate_ = 0;
  bool pendingTerminateSet_ = false;
  bool ourGoaway_ = false;
  bool blockOversized_ = false;  // the header block being received went over the limit
  bool headerBlockOpen_ = false;
  uint64_t headerBlocksBegun_ = 0;
  // Per header block being received.
  size_t headerBytes_ = 0;
  int32_t headerStream_ = 0;
  Http2HeadersKind headerKind_ = Http2HeadersKind::kRequest;
  int responseStatus_ = 0;
  // A set of stream ids that is almost always empty and asked about for every
  // field and frame: no hashing then, and no table held (8 bytes instead of
  // 56 on every connection).
  class RareIds {
   public:
    bool contains(int32_t id) const { return set_ && set_->count(id); }
    void insert(int32_t id) {
      if (!set_) set_ = std::make_unique<std::unordered_set<int32_t>>();
      set_->insert(id);
    }
    bool erase(int32_t id) { return set_ && set_->erase(id); }

   private:
    std::unique_ptr<std::unordered_set<int32_t>> set_;
  };
  // Streams we stopped delivering (oversized request heads answered with 431).
  RareIds rejected_;
  // Client: streams whose last response head was interim (1xx).
  RareIds interim_;
  // Recently closed streams and how they closed. Every closed stream above
  // closed_.evictedMax() is in there; one whose slot was taken by another is
  // forgotten, and its late frames are ignored.
  ClosedStreamRing closed_;
  int32_t highestPeerStream_ = 0;  // server: highest stream id a client HEADERS named
  int32_t pendingNewStream_ = 0;   // server: that HEADERS, until nghttp2 opens its stream
  int32_t resetByPeer_ = 0;        // the RST_STREAM being processed
  // Frame boundaries in the received bytes (receive()).
  size_t prefaceLeft_ = 0;  // server: the client preface is not a frame
  uint8_t frameHead_[9] = {};
  size_t frameHeadLen_ = 0;
  uint32_t payloadLeft_ = 0;
  // Rapid reset token bucket.
  double resetTokens_;
  std::chrono::steady_clock::time_point resetRefill_;
};

}  // namespace weft::http
