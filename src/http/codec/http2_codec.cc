#include "http/codec/http2_codec.h"

#include <algorithm>
#include <charconv>
#include <forward_list>
#include <optional>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <nghttp2/nghttp2.h>

namespace weft::http {

std::string_view http2AbuseName(Http2Abuse kind) {
  switch (kind) {
    case Http2Abuse::kRapidReset: return "rapid_reset";
    case Http2Abuse::kHeaderListTooLarge: return "header_list_too_large";
    case Http2Abuse::kContinuationFlood: return "continuation_flood";
    case Http2Abuse::kControlFlood: return "control_flood";
    case Http2Abuse::kTooManyStreams: return "too_many_streams";
    case Http2Abuse::kProtocol: return "protocol";
  }
  return "unknown";
}

namespace {

constexpr uint32_t kFieldOverhead = 32;  // RFC 9113 §6.5.2 header list size accounting

bool listsTrailers(std::string_view te) {
  while (!te.empty()) {
    auto comma = te.find(',');
    auto token = te.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    auto semi = token.find(';');
    token = token.substr(0, semi);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (iequals(token, "trailers")) return true;
    if (comma == std::string_view::npos) break;
    te.remove_prefix(comma + 1);
  }
  return false;
}

// Builds the nghttp2_nv array for one header block. nghttp2 copies names and
// values during submit, so the storage only has to live for that call.
class NvBuilder {
 public:
  explicit NvBuilder(size_t expected) { nv_.reserve(expected + 5); }  // beyond the inline room only
  void addPseudo(std::string_view name, std::string_view value) { push(name, value); }
  // Regular field: lowercased, connection-specific fields dropped, te kept
  // only as "trailers", stray pseudo-headers dropped (they would make the
  // block malformed).
  void addField(std::string_view name, std::string_view value) { addField(name, value, std::nullopt); }
  // `known`: fieldKind(name), when the caller has it (a HeaderField keeps it).
  void addField(std::string_view name, std::string_view value, std::optional<FieldKind> known) {
    if (name.empty() || name.front() == ':') return;
    std::string_view n = name;
    if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      std::string& lower = lowered_.emplace_front(name);
      for (auto& c : lower)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      n = lower;
    }
    FieldKind kind = known ? *known : fieldKind(n);
    if (isConnectionSpecific(kind) || (kind == FieldKind::kHost && dropHost)) return;
    if (kind == FieldKind::kContentLength) sawContentLength = true;
    if (kind == FieldKind::kTe) {
      if (listsTrailers(value)) push(n, "trailers");
      return;
    }
    push(n, value);
  }
  void addAll(const HeaderList& headers) {
    for (const auto& f : headers) addField(f.name, f.value, f.kind());
  }
  const nghttp2_nv* data() const { return nv_.data(); }
  // Requests: Host is not sent, :authority carries it (RFC 9113 §8.3.1).
  bool dropHost = false;
  bool sawContentLength = false;  // addField() took a content-length
  size_t size() const { return nv_.size(); }

 private:
  void push(std::string_view name, std::string_view value) {
    nghttp2_nv nv;
    nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
    nv.namelen = name.size();
    nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
    nv.valuelen = value.size();
    nv.flags = NGHTTP2_NV_FLAG_NONE;
    nv_.push_back(nv);
  }
  // A typical header block fits inline: no allocation per submitted block.
  boost::container::small_vector<nghttp2_nv, kExpectedFields + 8> nv_;
  // nv_ points into these: list nodes never move. Only names that needed
  // lowering are stored (HTTP/2 peers already send lowercase), and an empty
  // list allocates nothing, where a std::deque allocated two blocks per
  // header block.
  std::forward_list<std::string> lowered_;
};

std::string_view sv(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

}  // namespace

struct Http2Codec::Callbacks {
  static Http2Codec& self(void* user) { return *static_cast<Http2Codec*>(user); }

  // Tracks whether a header block is being received: from the first byte
  // of its HEADERS frame until the block completes. Frame headers are the
  // only signal nghttp2 gives for CONTINUATION, and a block it decodes but
  // ignores (an invalid stream) has no "received" event: the next frame of
  // another type ends it too.
  static int onBeginFrame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
    auto& c = self(user);
    if (c.pendingNewStream_) {
      // The previous frame named a new stream that nghttp2 did not open
      // (refused over the limit, or ignored): its late frames are excusable.
      c.recordClosed(c.pendingNewStream_, Closed::kByUs);
      c.pendingNewStream_ = 0;
    }
    bool begins = hd->type == NGHTTP2_HEADERS || hd->type == NGHTTP2_PUSH_PROMISE;
    if (begins) ++c.headerBlocksBegun_;
    c.headerBlockOpen_ = begins || hd->type == NGHTTP2_CONTINUATION;
    if (uint32_t code = c.closedStreamError(hd->type, hd->stream_id)) {
      c.events_.onAbuse(Http2Abuse::kProtocol, 0);
      c.pendingTerminateSet_ = true;
      c.pendingTerminate_ = code;
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    int32_t id = frame->hd.stream_id;
    if (id == c.pendingNewStream_) c.pendingNewStream_ = 0;
    c.headerStream_ = id;
    c.headerBytes_ = 0;
    c.responseStatus_ = 0;
    c.blockOversized_ = false;
    if (c.rejected_.contains(id)) return 0;
    switch (frame->headers.cat) {
      case NGHTTP2_HCAT_REQUEST: c.headerKind_ = Http2HeadersKind::kRequest; break;
      case NGHTTP2_HCAT_RESPONSE: c.headerKind_ = Http2HeadersKind::kResponse; break;
      case NGHTTP2_HCAT_HEADERS:
        c.headerKind_ = (c.mode_ == Http2Mode::kClient && c.interim_.contains(id)) ? Http2HeadersKind::kResponse
                                                                                 : Http2HeadersKind::kTrailers;
        break;
      default: return 0;  // push promises are disabled
    }
    c.events_.onHeadersBegin(id, c.headerKind_);
    return 0;
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
                      const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto& c = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    int32_t id = frame->hd.stream_id;
    if (c.rejected_.contains(id) || c.blockOversized_) return 0;
    c.headerBytes_ += namelen + valuelen + kFieldOverhead;
    if (c.headerBytes_ > c.options_.maxHeaderListBytes) {
      c.blockOversized_ = true;
      c.events_.onAbuse(Http2Abuse::kHeaderListTooLarge, id);
      if (c.headerKind_ == Http2HeadersKind::kRequest && c.mode_ == Http2Mode::kServer) {
        // Forget the stream now; it is answered with 431 once the block ends.
        c.rejected_.insert(id);
        c.events_.onStreamClose(id, h2error::kRefusedStream);
      } else {
        nghttp2_submit_rst_stream(c.session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
      }
      return 0;
    }
    auto n = sv(name, namelen);
    auto v = sv(value, valuelen);
    if (!n.empty() && n.front() == ':') {
      if (c.headerKind_ == Http2HeadersKind::kResponse && n == ":status")
        std::from_chars(v.data(), v.data() + v.size(), c.responseStatus_);
      c.events_.onPseudoHeader(id, n, v);
    } else {
      c.events_.onHeader(id, n, v);
    }
    return 0;
  }

  static int onFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    int32_t id = frame->hd.stream_id;
    bool endStream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        c.headerBlockOpen_ = false;
        if (c.rejected_.contains(id)) {
          if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            const nghttp2_nv nv[] = {
                {(uint8_t*)":status", (uint8_t*)"431", 7, 3, NGHTTP2_NV_FLAG_NONE},
                {(uint8_t*)"content-length", (uint8_t*)"0", 14, 1, NGHTTP2_NV_FLAG_NONE},
            };
            nghttp2_submit_response(session, id, nv, 2, nullptr);
          }
          return 0;
        }
        if (c.blockOversized_) return 0;  // the stream is being reset
        if (frame->headers.cat != NGHTTP2_HCAT_REQUEST && frame->headers.cat != NGHTTP2_HCAT_RESPONSE &&
            frame->headers.cat != NGHTTP2_HCAT_HEADERS)
          return 0;
        if (c.mode_ == Http2Mode::kClient && c.headerKind_ == Http2HeadersKind::kResponse) {
          if (c.responseStatus_ >= 100 && c.responseStatus_ < 200)
            c.interim_.insert(id);
          else
            c.interim_.erase(id);
        }
        c.events_.onHeadersEnd(id, endStream);
        if (endStream) c.events_.onStreamEnd(id);
        return 0;
      }
      case NGHTTP2_DATA:
        if (endStream && !c.rejected_.contains(id)) c.events_.onStreamEnd(id);
        return 0;
      case NGHTTP2_RST_STREAM:
        c.resetByPeer_ = id;  // nghttp2 closes the stream right after this callback
        if (!c.rejected_.contains(id)) c.events_.onRstStream(id, frame->rst_stream.error_code);
        if (c.mode_ == Http2Mode::kServer && !c.takeResetToken()) {
          c.events_.onAbuse(Http2Abuse::kRapidReset, 0);
          c.pendingTerminateSet_ = true;
          c.pendingTerminate_ = h2error::kEnhanceYourCalm;
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        return 0;
      case NGHTTP2_GOAWAY:
        c.goawayReceived_ = true;
        c.events_.onGoaway(frame->goaway.last_stream_id, frame->goaway.error_code,
                           sv(frame->goaway.opaque_data, frame->goaway.opaque_data_len));
        return 0;
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) c.events_.onSettings();
        return 0;
      case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
          uint64_t opaque = 0;
          for (int i = 0; i < 8; ++i) opaque = (opaque << 8) | frame->ping.opaque_data[i];
          c.events_.onPingAck(opaque);
        }
        return 0;
      default: return 0;
    }
  }

  static int onDataChunk(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
    auto& c = self(user);
    // The connection window is the sum of stream windows' worth of buffering
    // at most: credit it at once so one slow stream never stalls the others.
    nghttp2_session_consume_connection(session, len);
    if (c.rejected_.contains(id)) {
      nghttp2_session_consume_stream(session, id, len);
      return 0;
    }
    c.events_.onData(id, sv(data, len));
    return 0;
  }

  static int onStreamClose(nghttp2_session* session, int32_t id, uint32_t errorCode, void* user) {
    auto& c = self(user);
    if (c.resetByPeer_ == id)
      c.recordClosed(id, Closed::kPeerReset);
    else if (nghttp2_session_get_stream_remote_close(session, id) == 1)
      c.recordClosed(id, Closed::kPeerEnded);
    else
      c.recordClosed(id, Closed::kOther);
    c.resetByPeer_ = 0;
    c.interim_.erase(id);
    if (c.rejected_.erase(id)) return 0;
    c.events_.onStreamClose(id, errorCode);
    return 0;
  }

  static int onFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& c = self(user);
    int32_t id = frame->hd.stream_id;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
        if (c.mode_ == Http2Mode::kClient && frame->headers.cat == NGHTTP2_HCAT_REQUEST) c.events_.onRequestSent(id);
        // Tell a client still sending a rejected request to stop (RFC 9113 §8.1).
        if (c.rejected_.contains(id) && nghttp2_session_get_stream_remote_close(session, id) == 0)
          nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
        return 0;
      case NGHTTP2_RST_STREAM:
        // Whatever the peer still had in flight on it is ignored (RFC 9113
        // §5.1), also for refused streams, which were never opened.
        c.recordClosed(id, Closed::kByUs);
        if (c.mode_ == Http2Mode::kServer && frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM)
          c.events_.onAbuse(Http2Abuse::kTooManyStreams, id);
        return 0;
      case NGHTTP2_GOAWAY:
        if (frame->goaway.error_code != NGHTTP2_NO_ERROR && !c.ourGoaway_) c.events_.onAbuse(Http2Abuse::kProtocol, 0);
        return 0;
      default: return 0;
    }
  }

  static int onFrameNotSend(nghttp2_session*, const nghttp2_frame* frame, int, void* user) {
    auto& c = self(user);
    if (c.mode_ == Http2Mode::kClient && frame->hd.type == NGHTTP2_HEADERS &&
        frame->headers.cat == NGHTTP2_HCAT_REQUEST)
      c.events_.onRequestNotSent(frame->hd.stream_id);
    return 0;
  }

  static ssize_t readData(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                          nghttp2_data_source*, void* user) {
    auto& c = self(user);
    Http2BodyChunk chunk = c.events_.readData(id, buf, length);
    switch (chunk.kind) {
      case Http2BodyChunk::Kind::kDeferred: return NGHTTP2_ERR_DEFERRED;
      case Http2BodyChunk::Kind::kReset: return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      case Http2BodyChunk::Kind::kData: break;
    }
    if (chunk.end) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (chunk.trailers && !chunk.trailers->empty()) {
        NvBuilder nv(chunk.trailers->size());
        nv.addAll(*chunk.trailers);
        if (nv.size() > 0 && nghttp2_submit_trailer(session, id, nv.data(), nv.size()) == 0)
          *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
    return static_cast<ssize_t>(std::min(chunk.length, length));
  }
};

Http2Codec::Http2Codec(Http2Mode mode, Http2Events& events, Http2CodecOptions options)
    : mode_(mode), events_(events), options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return std::chrono::steady_clock::now(); };
  resetTokens_ = options_.resetBurst;
  resetRefill_ = options_.clock();

  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::onBeginFrame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::onBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::onHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::onFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::onDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::onStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::onFrameSend);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, &Callbacks::onFrameNotSend);

  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, options_.maxEncoderTableSize);
  nghttp2_option_set_max_outbound_ack(opt, 1000);
  nghttp2_option_set_max_settings(opt, 32);
  // Enough CONTINUATION frames for a maximal legitimate header list cut into
  // small frames, and no more (an endless CONTINUATION sequence is a flood).
  nghttp2_option_set_max_continuations(opt, 8 + options_.maxHeaderListBytes / 2048);
  // nghttp2's own reset limiter answers with INTERNAL_ERROR; ours (tighter,
  // ENHANCE_YOUR_CALM, counted) runs first and this stays a backstop.
  nghttp2_option_set_stream_reset_rate_limit(opt, uint64_t{options_.resetBurst} * 4 + 1000,
                                             uint64_t{options_.resetsPerSecond} * 4 + 100);
  nghttp2_option_set_no_closed_streams(opt, 1);
  // The outgoing header block limit is nghttp2's own 64 KiB by default; make it
  // follow our list limit so large legitimate blocks can be forwarded.
  nghttp2_option_set_max_send_header_block_length(opt, std::max<size_t>(65536, options_.maxHeaderListBytes * 2));

  if (mode_ == Http2Mode::kServer) prefaceLeft_ = NGHTTP2_CLIENT_MAGIC_LEN;
  if (mode_ == Http2Mode::kServer)
    nghttp2_session_server_new2(&session_, cbs, this, opt);
  else
    nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);
}

Http2Codec::~Http2Codec() { nghttp2_session_del(session_); }

void Http2Codec::start() {
  std::vector<nghttp2_settings_entry> settings;
  settings.push_back({NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, options_.headerTableSize});
  settings.push_back({NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.initialWindowSize});
  settings.push_back({NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.maxHeaderListBytes});
  if (mode_ == Http2Mode::kServer) {
    settings.push_back({NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.maxConcurrentStreams});
  } else {
    settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  }
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(std::min<uint32_t>(options_.connectionWindowSize,
                                                                                NGHTTP2_MAX_WINDOW_SIZE)));
}

void Http2Codec::recordClosed(int32_t streamId, Closed how) {
  closed_.record(streamId, how);  // after our RST the peer's frames stay excusable
}

uint32_t Http2Codec::closedStreamError(uint8_t type, int32_t streamId) {
  if ((type != NGHTTP2_DATA && type != NGHTTP2_HEADERS) || streamId <= 0) return 0;
  bool peerInitiated = (streamId % 2 == 1) == (mode_ == Http2Mode::kServer);
  if (mode_ == Http2Mode::kServer && type == NGHTTP2_HEADERS && peerInitiated && streamId > highestPeerStream_) {
    highestPeerStream_ = streamId;  // a new stream
    pendingNewStream_ = streamId;
    return 0;
  }
  if (nghttp2_session_find_stream(session_, streamId)) return 0;
  if (auto how = closed_.find(streamId)) {
    // After the peer ended its half or reset the stream it may send nothing
    // more there (§5.1: STREAM_CLOSED); after our RST its late frames are fine.
    return *how == Closed::kPeerEnded || *how == Closed::kPeerReset ? h2error::kStreamClosed : 0;
  }
  // A client stream id below the highest one it used that we never saw
  // open or close: opening streams out of order (§5.1.1).
  if (mode_ == Http2Mode::kServer && type == NGHTTP2_HEADERS && peerInitiated && streamId > closed_.evictedMax())
    return h2error::kProtocolError;
  return 0;
}

bool Http2Codec::takeResetToken() {
  auto now = options_.clock();
  double elapsed = std::chrono::duration<double>(now - resetRefill_).count();
  resetRefill_ = now;
  resetTokens_ = std::min<double>(options_.resetBurst, resetTokens_ + elapsed * options_.resetsPerSecond);
  if (resetTokens_ < 1) return false;
  resetTokens_ -= 1;
  return true;
}

bool Http2Codec::receive(std::string_view bytes) {
  if (failed_) return false;
  // nghttp2 drops DATA on streams it no longer holds before any callback
  // sees it, so each DATA frame's header is looked at here, once everything
  // before it was processed (stream states are then current). Other frames
  // are checked in onBeginFrame, so runs of them go to nghttp2 in one call:
  // feeding it frame by frame (header, then payload) was six calls per h2c
  // request.
  ssize_t rv = 0;
  while (!bytes.empty()) {
    size_t n = 0;  // bytes for this call of nghttp2_session_mem_recv
    while (n < bytes.size()) {
      const size_t left = bytes.size() - n;
      if (prefaceLeft_) {
        size_t k = std::min(left, prefaceLeft_);
        prefaceLeft_ -= k;
        n += k;
        continue;
      }
      if (payloadLeft_) {
        size_t k = std::min<size_t>(left, payloadLeft_);
        payloadLeft_ -= k;
        n += k;
        continue;
      }
      const char* head = bytes.data() + n;
      // A frame header starts here. With earlier bytes still unfed, stop
      // before it if it may be DATA (or cannot be told yet): its check needs
      // them processed first.
      if (frameHeadLen_ == 0 && n > 0 && (left < sizeof frameHead_ || head[3] == NGHTTP2_DATA)) break;
      size_t k = std::min(left, sizeof frameHead_ - frameHeadLen_);
      std::copy_n(head, k, frameHead_ + frameHeadLen_);
      frameHeadLen_ += k;
      n += k;
      if (frameHeadLen_ < sizeof frameHead_) continue;  // the rest comes with the next read
      frameHeadLen_ = 0;
      payloadLeft_ = (uint32_t{frameHead_[0]} << 16) | (uint32_t{frameHead_[1]} << 8) | frameHead_[2];
      if (frameHead_[3] == NGHTTP2_DATA) {
        int32_t id = static_cast<int32_t>(((uint32_t{frameHead_[5]} << 24) | (uint32_t{frameHead_[6]} << 16) |
                                           (uint32_t{frameHead_[7]} << 8) | frameHead_[8]) & 0x7fffffff);
        if (uint32_t code = closedStreamError(NGHTTP2_DATA, id)) {
          events_.onAbuse(Http2Abuse::kProtocol, 0);
          failed_ = true;
          failure_ = "DATA on a closed stream";
          terminate(code);
          return false;
        }
      }
    }
    rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()), n);
    if (rv < 0) break;
    bytes.remove_prefix(n);
  }
  if (rv >= 0) return true;
  failed_ = true;
  failure_ = nghttp2_strerror(static_cast<int>(rv));
  uint32_t code = h2error::kProtocolError;
  if (pendingTerminateSet_) {
    code = pendingTerminate_;
  } else {
    switch (rv) {
      case NGHTTP2_ERR_FLOODED:
      case NGHTTP2_ERR_TOO_MANY_SETTINGS:
        events_.onAbuse(Http2Abuse::kControlFlood, 0);
        code = h2error::kEnhanceYourCalm;
        break;
      case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        events_.onAbuse(Http2Abuse::kContinuationFlood, 0);
        code = h2error::kEnhanceYourCalm;
        break;
      case NGHTTP2_ERR_NOMEM: code = h2error::kInternalError; break;
      default: events_.onAbuse(Http2Abuse::kProtocol, 0); break;
    }
  }
  terminate(code);
  return false;
}

size_t Http2Codec::drainOutput(std::string& out, size_t limit) {
  size_t before = out.size();
  while (out.size() - before < limit) {
    const uint8_t* data = nullptr;
    auto n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) {
      failed_ = true;
      failure_ = nghttp2_strerror(static_cast<int>(n));
      break;
    }
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  return out.size() - before;
}

bool Http2Codec::wantsRead() const { return !failed_ && nghttp2_session_want_read(session_); }
bool Http2Codec::wantsWrite() const { return nghttp2_session_want_write(session_); }

int32_t Http2Codec::submitRequest(const RequestHead& request, bool withBody) {
  NvBuilder nv(request.headers.size());
  std::string_view authority = request.authority;
  if (authority.empty()) authority = request.headers.get("host");
  nv.addPseudo(":method", request.method);
  if (request.method != "CONNECT") {
    nv.addPseudo(":scheme", request.scheme.empty() ? std::string_view("http") : std::string_view(request.scheme));
    if (!authority.empty()) nv.addPseudo(":authority", authority);
    nv.addPseudo(":path", request.path.empty() ? std::string_view("/") : std::string_view(request.path));
  } else {
    nv.addPseudo(":authority", authority);
  }
  nv.dropHost = true;
  nv.addAll(request.headers);
  nghttp2_data_provider provider{};
  provider.read_callback = &Callbacks::readData;
  return nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), withBody ? &provider : nullptr, nullptr);
}

bool Http2Codec::submitResponse(int32_t streamId, const ResponseHead& response, bool withBody) {
  char status[8];
  auto [end, ec] = std::to_chars(status, status + sizeof status, response.status);
  NvBuilder nv(response.headers.size() + 1);
  nv.addPseudo(":status", std::string_view(status, static_cast<size_t>(end - status)));
  nv.addAll(response.headers);
  std::string length;
  if (response.contentLength && !nv.sawContentLength) {
    length = std::to_string(*response.contentLength);
    nv.addField("content-length", length);
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &Callbacks::readData;
  return nghttp2_submit_response(session_, streamId, nv.data(), nv.size(), withBody ? &provider : nullptr) == 0;
}

void Http2Codec::submitShutdownNotice() {
  ourGoaway_ = true;
  nghttp2_submit_shutdown_notice(session_);
}

int32_t Http2Codec::lastProcessedStreamId() const { return nghttp2_session_get_last_proc_stream_id(session_); }

void Http2Codec::submitGoaway(uint32_t errorCode, int32_t lastStreamId, std::string_view debug) {
  ourGoaway_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, lastStreamId, errorCode,
                        reinterpret_cast<const uint8_t*>(debug.data()), debug.size());
}

void Http2Codec::submitPing(uint64_t opaque) {
  uint8_t data[8];
  for (int i = 7; i >= 0; --i) {
    data[i] = static_cast<uint8_t>(opaque & 0xff);
    opaque >>= 8;
  }
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, data);
}

void Http2Codec::resetStream(int32_t streamId, uint32_t errorCode) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, streamId, errorCode);
}

void Http2Codec::resumeData(int32_t streamId) { nghttp2_session_resume_data(session_, streamId); }

void Http2Codec::consumeStream(int32_t streamId, size_t n) {
  if (n) nghttp2_session_consume_stream(session_, streamId, n);
}

void Http2Codec::terminate(uint32_t errorCode) {
  ourGoaway_ = true;
  nghttp2_session_terminate_session(session_, errorCode);
}

bool Http2Codec::goawaySent() const { return ourGoaway_; }

uint32_t Http2Codec::peerMaxConcurrentStreams() const {
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

uint32_t Http2Codec::nextStreamId() const { return nghttp2_session_get_next_stream_id(session_); }

}  // namespace weft::http
