#include "http/codec/grpc.h"

#include <gtest/gtest.h>

namespace weft::http {
namespace {
using namespace std::chrono;

TEST(GrpcTimeout, ParsesEveryUnit) {
  EXPECT_EQ(parseGrpcTimeout("1H"), duration_cast<microseconds>(hours(1)));
  EXPECT_EQ(parseGrpcTimeout("2M"), duration_cast<microseconds>(minutes(2)));
  EXPECT_EQ(parseGrpcTimeout("3S"), duration_cast<microseconds>(seconds(3)));
  EXPECT_EQ(parseGrpcTimeout("250m"), duration_cast<microseconds>(milliseconds(250)));
  EXPECT_EQ(parseGrpcTimeout("7u"), microseconds(7));
  EXPECT_EQ(parseGrpcTimeout("1500n"), microseconds(2));  // rounded up, never to zero
}

TEST(GrpcTimeout, RejectsMalformed) {
  EXPECT_FALSE(parseGrpcTimeout(""));
  EXPECT_FALSE(parseGrpcTimeout("S"));
  EXPECT_FALSE(parseGrpcTimeout("10"));
  EXPECT_FALSE(parseGrpcTimeout("10x"));
  EXPECT_FALSE(parseGrpcTimeout("123456789S"));  // more than 8 digits
  EXPECT_FALSE(parseGrpcTimeout("-1S"));
}

}  // namespace
}  // namespace weft::http
