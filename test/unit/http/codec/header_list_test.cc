#include "http/codec/header_list.h"

#include <cctype>
#include <string>
#include <utility>

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

namespace weft::http {
namespace {

TEST(FieldKind, RecognisesEachSpecialNameInAnyCaseAndNothingElse) {
  const std::pair<std::string_view, FieldKind> special[] = {
      {"te", FieldKind::kTe},
      {"host", FieldKind::kHost},
      {"upgrade", FieldKind::kUpgrade},
      {"connection", FieldKind::kConnection},
      {"keep-alive", FieldKind::kKeepAlive},
      {"content-length", FieldKind::kContentLength},
      {"proxy-connection", FieldKind::kProxyConnection},
      {"transfer-encoding", FieldKind::kTransferEncoding},
  };
  for (auto [name, kind] : special) {
    EXPECT_EQ(fieldKind(name), kind) << name;
    std::string upper(name);
    for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(fieldKind(upper), kind) << upper;
    // One character off, same length: not special (the switch is on length only).
    std::string near(name);
    near.back() = near.back() == 'x' ? 'y' : 'x';
    EXPECT_EQ(fieldKind(near), FieldKind::kOther) << near;
  }
  // Same lengths as special names, other fields.
  for (std::string_view other : {"ab", "date", "expires", "connectioo", "keep-alivf", "content-type", "x-request-id",
                                 "accept-encoding", "", "t", "content-lengths"})
    EXPECT_EQ(fieldKind(other), FieldKind::kOther) << other;
  EXPECT_TRUE(isConnectionSpecific(fieldKind("Keep-Alive")));
  EXPECT_FALSE(isConnectionSpecific(fieldKind("TE")));
  EXPECT_FALSE(isConnectionSpecific(fieldKind("Host")));
}

}  // namespace
}  // namespace weft::http
