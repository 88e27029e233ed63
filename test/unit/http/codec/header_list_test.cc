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

TEST(HeaderList, RemovesTheKindsAskedForInTheSamePass) {
  HeaderList h;
  h.add("HOST", "a.test");
  h.add("Content-Length", "3");
  h.add("Connection", "close");
  h.add("Hosts", "not-host");  // a longer name is another field
  h.add("x-kept", "yes");
  h.removeHopByHop({FieldKind::kHost, FieldKind::kContentLength});
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].name, "Hosts");
  EXPECT_EQ(h[1].name, "x-kept");
  HeaderList only;
  only.add("Host", "a.test");
  only.add("content-length", "3");
  only.removeHopByHop({FieldKind::kContentLength});
  ASSERT_EQ(only.size(), 1u);
  EXPECT_EQ(only[0].name, "Host");
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

// iequals folds eight bytes at a time: every pair of byte values, at every
// position of names 1 to 19 bytes long (both halves of a word and the tail),
// must compare as the byte-by-byte ASCII rule says.
TEST(Iequals, EveryBytePairAtEveryPositionAgreesWithTheBytewiseRule) {
  auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? static_cast<unsigned char>(c + 32) : c; };
  for (size_t len = 1; len <= 19; ++len) {
    std::string a(len, 'k'), b(len, 'K');  // equal apart from case around the probed byte
    for (size_t pos = 0; pos < len; ++pos) {
      for (int x = 0; x < 256; ++x) {
        for (int y = 0; y < 256; ++y) {
          a[pos] = static_cast<char>(x);
          b[pos] = static_cast<char>(y);
          bool expected = lower(static_cast<unsigned char>(x)) == lower(static_cast<unsigned char>(y));
          ASSERT_EQ(iequals(a, b), expected) << "len " << len << " pos " << pos << " bytes " << x << "," << y;
        }
      }
      a[pos] = 'k';
      b[pos] = 'K';
    }
  }
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_FALSE(iequals("Content-Length", "content-lengti"));
  EXPECT_FALSE(iequals("ab", "abc"));
}

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
  // Every byte value at every position of every special name agrees with
  // case-insensitive comparison (iequals), the rule fieldKind() implements
  // a word at a time: only 'A'..'Z' fold, '-' and every other byte match
  // exactly.
  auto byIequals = [&](std::string_view n) {
    for (auto [name, kind] : special)
      if (iequals(n, name)) return kind;
    return FieldKind::kOther;
  };
  for (auto [name, kind] : special) {
    std::string probe(name);
    for (size_t pos = 0; pos < probe.size(); ++pos) {
      for (int b = 0; b < 256; ++b) {
        probe[pos] = static_cast<char>(b);
        ASSERT_EQ(fieldKind(probe), byIequals(probe)) << name << " pos " << pos << " byte " << b;
      }
      probe[pos] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[pos])));
    }
  }
  EXPECT_TRUE(isConnectionSpecific(fieldKind("Keep-Alive")));
  EXPECT_FALSE(isConnectionSpecific(fieldKind("TE")));
  EXPECT_FALSE(isConnectionSpecific(fieldKind("Host")));
}

}  // namespace
}  // namespace weft::http

namespace weft::http {
namespace {

// A field's kind is worked out once: on first use, or given by add() by a
// parser that knew it; copies keep it, and what is cached is what
// fieldKind() says for the name.
TEST(HeaderList, AFieldsKindIsCachedAndCopied) {
  HeaderList h;
  h.add("Content-Length", "3");
  h.add("connection", "close", FieldKind::kConnection);
  h.add("X-Other", "1");
  EXPECT_EQ(h[0].kind(), FieldKind::kContentLength);
  EXPECT_EQ(h[0].kind(), fieldKind(h[0].name));
  EXPECT_EQ(h[1].kind(), FieldKind::kConnection);
  EXPECT_EQ(h[2].kind(), FieldKind::kOther);
  HeaderList copy = h;
  EXPECT_EQ(copy[0].kind(), FieldKind::kContentLength);
  EXPECT_EQ(copy[1].kind(), FieldKind::kConnection);
  copy.removeHopByHop({FieldKind::kContentLength});
  ASSERT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy[0].name, "X-Other");
}

}  // namespace
}  // namespace weft::http
