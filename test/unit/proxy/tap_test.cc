#include "proxy/tap.h"

#include <thread>

#include <gtest/gtest.h>

#include "proxy/tap_route.h"

namespace weft::proxy {
namespace {

TapRecord rec(std::string_view path, uint16_t status = 200) {
  TapRecord r;
  r.method.set("GET");
  r.authority.set("api.test");
  r.path.set(path);
  r.status = status;
  r.endpoint.set("127.0.0.1:9001");
  return r;
}

TEST(Tap, NoClientMeansInactiveAndAttachActivates) {
  Tap tap(2, 8);
  tap.install();
  EXPECT_FALSE(Tap::anyClient());
  tap.attach();
  EXPECT_TRUE(Tap::anyClient());
  tap.detach();
  EXPECT_FALSE(Tap::anyClient());
  tap.uninstall();
}

TEST(Tap, FullRingDropsAndCountsNeverOverwrites) {
  Tap tap(1, 4);
  tap.install();
  tap.attach();
  for (int i = 0; i < 10; ++i) tap.push(0, rec("/" + std::to_string(i)));
  EXPECT_EQ(tap.ringDropped(), 6u);
  std::vector<TapRecord> out;
  tap.drain(out);
  ASSERT_EQ(out.size(), 4u);
  // The oldest four survive, in order: a full ring drops the new record.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i].path.view(), "/" + std::to_string(i));
  tap.push(0, rec("/again"));
  out.clear();
  tap.drain(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path.view(), "/again");
  tap.detach();
  tap.uninstall();
}

TEST(Tap, FirstAttachSkipsStaleRecords) {
  Tap tap(1, 8);
  tap.install();
  tap.push(0, rec("/before"));  // a worker that raced the last detach
  tap.attach();
  std::vector<TapRecord> out;
  tap.drain(out);
  EXPECT_TRUE(out.empty());
  tap.detach();
  tap.uninstall();
}

TEST(Tap, RingsAreAllocatedOnlyOnFirstAttach) {
  Tap tap(2, 8);
  tap.install();
  EXPECT_EQ(tap.ringBytes(), 0u);
  tap.push(1, rec("/nobody"));  // no ring yet: neither stored nor counted as dropped
  EXPECT_EQ(tap.ringDropped(), 0u);
  tap.attach();
  EXPECT_EQ(tap.ringBytes(), 2 * 8 * sizeof(TapRecord));
  tap.push(1, rec("/tapped"));
  std::vector<TapRecord> out;
  tap.drain(out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].path.view(), "/tapped");
  tap.detach();
  tap.attach();  // a second client reuses the rings
  EXPECT_EQ(tap.ringBytes(), 2 * 8 * sizeof(TapRecord));
  tap.detach();
  tap.uninstall();
}

TEST(Tap, ConcurrentProducerAndConsumerLoseNothingUnaccounted) {
  Tap tap(1, 64);
  tap.install();
  tap.attach();
  constexpr int kN = 200000;
  std::thread producer([&] {
    for (int i = 0; i < kN; ++i) {
      TapRecord r = rec("/x");
      r.latencyMicros = static_cast<uint32_t>(i);
      tap.push(0, r);
    }
  });
  std::vector<TapRecord> out;
  uint64_t got = 0;
  uint32_t last = 0;
  bool ordered = true;
  while (got + tap.ringDropped() < kN) {
    out.clear();
    tap.drain(out);
    for (auto& r : out) {
      if (got > 0 && r.latencyMicros <= last) ordered = false;
      last = r.latencyMicros;
      ++got;
    }
  }
  producer.join();
  out.clear();
  tap.drain(out);
  got += out.size();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(got + tap.ringDropped(), static_cast<uint64_t>(kN));
  tap.detach();
  tap.uninstall();
}

TEST(TapRecordText, TruncatesLongFields) {
  TapRecord r;
  std::string longPath(500, 'a');
  EXPECT_FALSE(r.path.set(longPath));
  EXPECT_EQ(r.path.view().size(), sizeof(r.path.data));
}

TEST(TapFilter, ParsesAndMatches) {
  std::string err;
  auto f = parseTapFilter("authority=API.test&path=%2Fv1&status=5xx&errors=true", err);
  ASSERT_TRUE(f) << err;
  EXPECT_EQ(f->authority, "api.test:80");
  auto r = rec("/v1/users", 503);
  EXPECT_TRUE(f->matches(r));
  r.status = 200;
  EXPECT_FALSE(f->matches(r));
  r.status = 503;
  r.path.set("/v2");
  EXPECT_FALSE(f->matches(r));

  auto g = parseTapFilter("errors", err);
  ASSERT_TRUE(g);
  auto ok = rec("/", 200);
  EXPECT_FALSE(g->matches(ok));
  ok.grpcStatus = 14;
  EXPECT_TRUE(g->matches(ok));

  EXPECT_FALSE(parseTapFilter("status=600", err));
  EXPECT_FALSE(parseTapFilter("direction=sideways", err));
  EXPECT_FALSE(parseTapFilter("colour=red", err));
  EXPECT_NE(err.find("unknown tap parameter"), std::string::npos);
  EXPECT_FALSE(parseTapFilter("limit=-1", err));
}

TEST(TapJson, OneEscapedLine) {
  auto r = rec("/a\"b\\c\n\xff", 502);
  r.error = ProxyError::kConnectFailed;
  r.retries = 2;
  r.grpcStatus = 14;
  std::string out;
  appendTapJson(r, out);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);
  EXPECT_NE(out.find(R"("path":"/a\"b\\c\n\u00ff")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("proxy_error":"connect-failed")"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("grpc_status":14)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("retries":2)"), std::string::npos) << out;
}

}  // namespace
}  // namespace weft::proxy
