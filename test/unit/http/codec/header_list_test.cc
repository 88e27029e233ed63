#include "http/codec/header_list.h"

#include <gtest/gtest.h>

namespace weft::http {
namespace {

TEST(HeaderList, KeepsOrderAndRepeats) {
  HeaderList h;
  h.add("X-A", "1");
  h.add("x-b", "2");
  h.add("x-a", "3");
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0].name, "X-A");
  EXPECT_EQ(h[2].value, "3");
  EXPECT_EQ(h.count("x-a"), 2u);
  EXPECT_EQ(h.get("X-B"), "2");
}

TEST(HeaderList, RemovesHopByHopIncludingConnectionNamedFields) {
  HeaderList h;
  h.add("Connection", "keep-alive, X-Private");
  h.add("Keep-Alive", "timeout=5");
  h.add("X-Private", "secret");
  h.add("TE", "trailers");
  h.add("Transfer-Encoding", "chunked");
  h.add("Upgrade", "websocket");
  h.add("Proxy-Connection", "close");
  h.add("X-Kept", "yes");
  h.removeHopByHop();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].name, "TE");
  EXPECT_EQ(h[1].name, "X-Kept");
}

TEST(HeaderList, TeOtherThanTrailersIsDropped) {
  HeaderList h;
  h.add("te", "gzip");
  h.removeHopByHop();
  EXPECT_TRUE(h.empty());
}

}  // namespace
}  // namespace weft::http
