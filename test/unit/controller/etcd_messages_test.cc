#include "controller/etcd_messages.h"

#include <gtest/gtest.h>

namespace weft::controller::etcd {
namespace {

TEST(EtcdMessages, Base64RoundTripAndStrictness) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto enc = base64Encode(s);
    EXPECT_EQ(base64Decode(enc), s) << enc;
  }
  EXPECT_EQ(base64Encode("/weft/"), "L3dlZnQv");
  for (const char* bad : {"a", "abc", "ab=c", "a===", "ab!=", "ab==ab=="}) EXPECT_FALSE(base64Decode(bad)) << bad;
}

TEST(EtcdMessages, PrefixRangeEnd) {
  EXPECT_EQ(prefixRangeEnd("/weft/"), "/weft0");
  EXPECT_EQ(prefixRangeEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefixRangeEnd(std::string("\xff", 1)), std::string(1, '\0'));
}

// Captured from etcd 3.4.23's gateway.
TEST(EtcdMessages, ParsesRangeResponses) {
  auto r = parseRangeResponse(
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"},"kvs":[{"key":"L3dlZnQvc2VydmljZXMvYTo4MC9pMQ==","create_revision":"2","mod_revision":"2","version":"1","value":"eyJhZGRyZXNzIjoiMTI3LjAuMC4xOjEifQ==","lease":"4111120363685009413"}],"count":"1"})",
      nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->revision, 2);
  ASSERT_EQ(r->kvs.size(), 1u);
  EXPECT_EQ(r->kvs[0].key, "/weft/services/a:80/i1");
  EXPECT_EQ(r->kvs[0].value, R"({"address":"127.0.0.1:1"})");
  EXPECT_EQ(r->kvs[0].lease, 4111120363685009413);
  EXPECT_FALSE(r->more);
  auto empty = parseRangeResponse(R"({"header":{"revision":"7"}})", nullptr);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->kvs.empty());
  std::string why;
  EXPECT_FALSE(parseRangeResponse(R"({"kvs":[]})", &why));
  EXPECT_FALSE(parseRangeResponse(R"({"header":{"revision":"x"}})", &why));
  EXPECT_FALSE(parseRangeResponse(R"({"header":{"revision":"3"},"kvs":[{"key":"***"}]})", &why));
}

TEST(EtcdMessages, ParsesWatchMessages) {
  auto created = parseWatchMessage(R"({"result":{"header":{"revision":"2"},"created":true}})", nullptr);
  ASSERT_TRUE(created);
  EXPECT_TRUE(created->created);
  EXPECT_TRUE(created->events.empty());

  auto events = parseWatchMessage(
      R"({"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"YQ==","mod_revision":"2","value":"Yg=="}},{"type":"DELETE","kv":{"key":"YQ==","mod_revision":"3"}}]}})",
      nullptr);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_FALSE(events->events[0].isDelete);  // PUT is the proto default: omitted
  EXPECT_EQ(events->events[0].kv.value, "b");
  EXPECT_TRUE(events->events[1].isDelete);
  EXPECT_EQ(events->revision, 3);

  auto compacted = parseWatchMessage(
      R"({"result":{"header":{"cluster_id":"1","raft_term":"2"},"canceled":true,"compact_revision":"3"}})", nullptr);
  ASSERT_TRUE(compacted);
  EXPECT_TRUE(compacted->canceled);
  EXPECT_EQ(compacted->compactRevision, 3);

  auto error = parseWatchMessage(R"({"error":{"grpc_code":14,"http_code":503,"message":"unavailable"}})", nullptr);
  ASSERT_TRUE(error);
  EXPECT_TRUE(error->isError);
  EXPECT_EQ(error->errorMessage, "unavailable");

  std::string why;
  for (const char* bad : {"", "[]", "{}", R"({"result":1})", R"({"result":{"events":{}}})",
                          R"({"result":{"events":[{"type":"MOVE","kv":{"key":"YQ=="}}]}})",
                          R"({"result":{"events":[{"type":"PUT"}]}})", R"({"result":{"canceled":"yes"}})"}) {
    EXPECT_FALSE(parseWatchMessage(bad, &why)) << bad;
  }
}

TEST(EtcdMessages, RequestsEncodeKeysInBase64) {
  EXPECT_EQ(rangeRequest("/weft/", "/weft0", 0, 0), R"({"key":"L3dlZnQv","range_end":"L3dlZnQw"})");
  EXPECT_EQ(rangeRequest("a", "b", 5, 10), R"({"key":"YQ==","range_end":"Yg==","revision":"5","limit":"10"})");
  EXPECT_EQ(watchCreateRequest("a", "b", 4),
            R"({"create_request":{"key":"YQ==","range_end":"Yg==","start_revision":"4","progress_notify":true}})");
}

}  // namespace
}  // namespace weft::controller::etcd
