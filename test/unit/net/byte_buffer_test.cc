#include "net/byte_buffer.h"

#include <cstring>
#include <string>

#include <gtest/gtest.h>

namespace weft::net {
namespace {

TEST(ByteBuffer, HoldsNothingUntilBytesArrive) {
  ByteBuffer b;
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.view(), "");
}

TEST(ByteBuffer, PrepareCommitConsumeKeepsOrder) {
  ByteBuffer b;
  char* p = b.prepare(8);
  std::memcpy(p, "GET / HT", 8);
  b.commit(8);
  b.append("TP/1.1");
  EXPECT_EQ(b.view(), "GET / HTTP/1.1");
  b.consume(4);
  EXPECT_EQ(b.view(), "/ HTTP/1.1");
  b.consume(100);  // more than held: everything, never past the end
  EXPECT_TRUE(b.empty());
}

TEST(ByteBuffer, ReclaimsTheConsumedFrontBeforeGrowing) {
  ByteBuffer b;
  b.prepare(16);
  b.commit(16);
  size_t cap = b.capacity();
  b.consume(12);
  b.prepare(cap - 4);  // fits once the 12 consumed bytes are reclaimed
  EXPECT_EQ(b.capacity(), cap);
  EXPECT_EQ(b.size(), 4u);
}

TEST(ByteBuffer, GrowsKeepingUnreadBytes) {
  ByteBuffer b("abc");
  std::string big(10000, 'x');
  b.append(big);
  EXPECT_EQ(b.size(), 10003u);
  EXPECT_EQ(b.view().substr(0, 4), "abcx");
}

TEST(ByteBuffer, ReleaseGivesBackStorageOnlyWhenEmpty) {
  ByteBuffer b("abc");
  b.release();
  EXPECT_EQ(b.view(), "abc");  // unread bytes are never dropped
  b.consume(3);
  b.release();
  EXPECT_EQ(b.capacity(), 0u);
  b.append("again");
  EXPECT_EQ(b.view(), "again");
}

}  // namespace
}  // namespace weft::net
