#include "net/read_scratch.h"

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

namespace weft::net {
namespace {

TEST(ReadScratch, EveryTurnOnAThreadReadsIntoTheSameBuffer) {
  char* first = nullptr;
  {
    ReadScratch lease;
    EXPECT_TRUE(lease.shared());
    first = lease.data();
    std::memset(lease.data(), 'x', ReadScratch::size());  // all of it is writable
  }
  ReadScratch again;
  EXPECT_TRUE(again.shared());
  EXPECT_EQ(again.data(), first);
}

TEST(ReadScratch, ANestedLeaseNeverOverwritesBytesStillBeingProcessed) {
  ReadScratch outer;
  std::memset(outer.data(), 'a', ReadScratch::size());
  {
    ReadScratch nested;
    EXPECT_FALSE(nested.shared());
    EXPECT_NE(nested.data(), outer.data());
    std::memset(nested.data(), 'b', ReadScratch::size());
  }
  EXPECT_EQ(outer.data()[0], 'a');
  EXPECT_EQ(outer.data()[ReadScratch::size() - 1], 'a');
}

TEST(ReadScratch, TheThreadsBufferIsFreeAgainAfterTheOuterLeaseEnds) {
  char* shared = nullptr;
  {
    ReadScratch outer;
    shared = outer.data();
    ReadScratch nested;
    EXPECT_FALSE(nested.shared());
  }
  ReadScratch next;
  EXPECT_TRUE(next.shared());
  EXPECT_EQ(next.data(), shared);
}

TEST(ReadScratch, EachThreadHasItsOwn) {
  ReadScratch here;
  char* there = nullptr;
  bool thereShared = false;
  std::thread t([&] {
    ReadScratch lease;
    there = lease.data();
    thereShared = lease.shared();
  });
  t.join();
  EXPECT_TRUE(thereShared);  // not nested: this thread's lease is not that thread's
  EXPECT_NE(there, here.data());
}

}  // namespace
}  // namespace weft::net
