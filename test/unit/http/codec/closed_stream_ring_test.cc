#include "http/codec/closed_stream_ring.h"

#include <gtest/gtest.h>

namespace weft::http {
namespace {

using How = ClosedStreamRing::How;

TEST(ClosedStreamRing, RemembersHowEachStreamClosed) {
  ClosedStreamRing ring;
  ring.record(1, How::kPeerEnded);
  ring.record(3, How::kPeerReset);
  ring.record(5, How::kByUs);
  ring.record(7, How::kOther);
  EXPECT_EQ(ring.find(1), How::kPeerEnded);
  EXPECT_EQ(ring.find(3), How::kPeerReset);
  EXPECT_EQ(ring.find(5), How::kByUs);
  EXPECT_EQ(ring.find(7), How::kOther);
  EXPECT_EQ(ring.find(9), std::nullopt);
  EXPECT_EQ(ring.evictedMax(), 0);
}

TEST(ClosedStreamRing, AnEmptySlotIsNoStream) {
  ClosedStreamRing ring;
  for (int32_t id = 1; id < 600; ++id) EXPECT_EQ(ring.find(id), std::nullopt) << id;
}

TEST(ClosedStreamRing, OursStaysOursAndOtherwiseTheLaterRecordWins) {
  ClosedStreamRing ring;
  ring.record(1, How::kByUs);
  ring.record(1, How::kPeerEnded);
  EXPECT_EQ(ring.find(1), How::kByUs);
  ring.record(3, How::kOther);
  ring.record(3, How::kPeerReset);
  EXPECT_EQ(ring.find(3), How::kPeerReset);
}

TEST(ClosedStreamRing, TheLast128IdsOfOneParityAllFit) {
  ClosedStreamRing ring;
  for (int32_t id = 1001; id < 1001 + 2 * 128; id += 2) ring.record(id, How::kPeerEnded);
  for (int32_t id = 1001; id < 1001 + 2 * 128; id += 2) EXPECT_EQ(ring.find(id), How::kPeerEnded) << id;
  EXPECT_EQ(ring.evictedMax(), 0);
}

TEST(ClosedStreamRing, AStreamWhoseSlotIsTakenIsForgottenAndCountedAsEvicted) {
  ClosedStreamRing ring;
  ring.record(1, How::kPeerEnded);
  ring.record(1 + 2 * 128, How::kByUs);  // the same slot
  EXPECT_EQ(ring.find(1), std::nullopt);
  EXPECT_EQ(ring.find(1 + 2 * 128), How::kByUs);
  EXPECT_EQ(ring.evictedMax(), 1);
  ring.record(1 + 4 * 128, How::kOther);
  EXPECT_EQ(ring.evictedMax(), 1 + 2 * 128);
}

TEST(ClosedStreamRing, AnEvenAndAnOddIdSharingASlotAreToldApart) {
  ClosedStreamRing ring;
  ring.record(2, How::kByUs);  // slot 1, like 3
  EXPECT_EQ(ring.find(3), std::nullopt);
  ring.record(3, How::kPeerEnded);
  EXPECT_EQ(ring.find(2), std::nullopt);
  EXPECT_EQ(ring.find(3), How::kPeerEnded);
  EXPECT_EQ(ring.evictedMax(), 2);
}

TEST(ClosedStreamRing, TheHighestStreamIdsRoundTrip) {
  ClosedStreamRing ring;
  constexpr int32_t kMax = 0x7fffffff;
  ring.record(kMax, How::kPeerReset);
  ring.record(kMax - 1, How::kOther);  // the same slot: evicts kMax
  EXPECT_EQ(ring.find(kMax), std::nullopt);
  EXPECT_EQ(ring.find(kMax - 1), How::kOther);
  EXPECT_EQ(ring.evictedMax(), kMax);
  ring.record(kMax - 2, How::kPeerEnded);
  EXPECT_EQ(ring.find(kMax - 2), How::kPeerEnded);
  EXPECT_EQ(ring.find(kMax - 2 - 2 * 128), std::nullopt);
}

}  // namespace
}  // namespace weft::http
