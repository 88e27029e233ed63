#pragma once
// Recently closed HTTP/2 streams and how each one closed: Http2Codec keeps
// no closed streams in nghttp2, and needs them for the RFC 9113 §5.1 errors
// nghttp2 cannot see once it forgot a stream.
//
// Direct-mapped by stream id: a stream's slot is (id / 2) mod 128, so the last
// 128 ids of one parity never collide, and recording or looking up is one
// slot, not a scan. A stream whose slot was taken by another is forgotten;
// evictedMax() is the highest id forgotten so.
//
// A slot is 4 bytes, not 8: its index stands for 7 bits of the id, so the
// rest of the id, its parity and how it closed fit in one word (512 bytes a
// connection instead of 1 KiB; docs/benchmarks.md "Idle HTTP/2 connections").
//
// Single-threaded (the codec's).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace weft::http {

class ClosedStreamRing {
 public:
  enum class How : uint8_t { kByUs, kPeerReset, kPeerEnded, kOther };
  static constexpr size_t kSlots = 128;

  // `id` (1 .. 2^31-1) closed. One recorded as closed by us stays so (the
  // peer's late frames on it stay excusable); otherwise the later record wins.
  void record(int32_t id, How how) {
    uint32_t& slot = slots_[slotOf(id)];
    if (slot & kValid) {
      int32_t held = idOf(slotOf(id), slot);
      if (held == id) {
        if (howOf(slot) != How::kByUs) slot = encode(id, how);
        return;
      }
      if (held > evictedMax_) evictedMax_ = held;
    }
    slot = encode(id, how);
  }
  // How `id` closed, if it is remembered.
  std::optional<How> find(int32_t id) const {
    uint32_t slot = slots_[slotOf(id)];
    if (!(slot & kValid) || idOf(slotOf(id), slot) != id) return std::nullopt;
    return howOf(slot);
  }
  int32_t evictedMax() const { return evictedMax_; }

 private:
  // Bit 31: in use; bits 3..25: id >> 8; bit 2: id's parity; bits 0..1: how.
  static constexpr uint32_t kValid = 1u << 31;
  static uint32_t slotOf(int32_t id) { return static_cast<uint32_t>(id) / 2 % kSlots; }
  static uint32_t encode(int32_t id, How how) {
    auto u = static_cast<uint32_t>(id);
    return kValid | (u >> 8) << 3 | (u & 1) << 2 | static_cast<uint32_t>(how);
  }
  static int32_t idOf(uint32_t index, uint32_t slot) {
    return static_cast<int32_t>(((slot & ~kValid) >> 3) << 8 | index << 1 | (slot >> 2 & 1));
  }
  static How howOf(uint32_t slot) { return static_cast<How>(slot & 3); }

  std::array<uint32_t, kSlots> slots_{};
  int32_t evictedMax_ = 0;
};

}  // namespace weft::http
