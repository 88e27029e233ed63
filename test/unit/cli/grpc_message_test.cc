#include "cli/grpc_message.h"

#include <gtest/gtest.h>

namespace weft::cli {
namespace {

TEST(GrpcMessage, EncodesPrefixAndParsesBack) {
  auto framed = encodeGrpcMessage("hello");
  ASSERT_EQ(framed.size(), 10u);
  EXPECT_EQ(framed.substr(0, 5), std::string("\0\0\0\0\5", 5));
  std::string_view m;
  EXPECT_EQ(parseGrpcUnary(framed, 64, m), GrpcUnaryParse::kOk);
  EXPECT_EQ(m, "hello");
}

TEST(GrpcMessage, EmptyMessageIsValid) {
  std::string_view m = "x";
  EXPECT_EQ(parseGrpcUnary(encodeGrpcMessage(""), 64, m), GrpcUnaryParse::kOk);
  EXPECT_TRUE(m.empty());
}

TEST(GrpcMessage, Rejections) {
  std::string_view m;
  EXPECT_EQ(parseGrpcUnary("", 64, m), GrpcUnaryParse::kNoMessage);
  EXPECT_EQ(parseGrpcUnary(std::string("\0\0\0", 3), 64, m), GrpcUnaryParse::kTruncated);
  EXPECT_EQ(parseGrpcUnary(std::string("\0\0\0\0\5abc", 8), 64, m), GrpcUnaryParse::kTruncated);
  EXPECT_EQ(parseGrpcUnary(std::string("\1\0\0\0\1a", 6), 64, m), GrpcUnaryParse::kCompressed);
  EXPECT_EQ(parseGrpcUnary(std::string("\2\0\0\0\1a", 6), 64, m), GrpcUnaryParse::kBadFlag);
  EXPECT_EQ(parseGrpcUnary(std::string("\0\0\0\1\0", 5), 64, m), GrpcUnaryParse::kTooLarge);
  EXPECT_EQ(parseGrpcUnary(encodeGrpcMessage("a") + encodeGrpcMessage("b"), 64, m), GrpcUnaryParse::kTrailingData);
}

TEST(GrpcMessage, ProtoStringField) {
  EXPECT_EQ(protoStringField1("hi"), std::string("\x0a\x02hi"));
  // A 200-byte string needs a two-byte varint length: 200 = 0xc8 → c8 01.
  auto long200 = protoStringField1(std::string(200, 'x'));
  EXPECT_EQ(long200.substr(0, 3), std::string("\x0a\xc8\x01"));
  EXPECT_EQ(long200.size(), 203u);
}

}  // namespace
}  // namespace weft::cli
