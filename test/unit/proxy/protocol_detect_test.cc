#include "proxy/protocol_detect.h"

#include <string>

#include <gtest/gtest.h>

namespace weft::proxy {
namespace {

TEST(ProtocolDetect, Http2PrefaceIsDetectedOnlyWhenComplete) {
  std::string preface(kHttp2Preface);
  for (size_t i = 1; i < preface.size(); ++i)
    EXPECT_EQ(detectProtocol(preface.substr(0, i)), DetectedProtocol::kNeedMore) << i;
  EXPECT_EQ(detectProtocol(preface), DetectedProtocol::kHttp2);
  EXPECT_EQ(detectProtocol(preface + "\x00\x00\x12\x04"), DetectedProtocol::kHttp2);
}

TEST(ProtocolDetect, Http1RequestLineAtEverySplit) {
  std::string line = "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n";
  size_t eol = line.find('\r');
  for (size_t i = 1; i <= eol; ++i)
    EXPECT_EQ(detectProtocol(line.substr(0, i)), DetectedProtocol::kNeedMore) << i;
  EXPECT_EQ(detectProtocol(line.substr(0, eol + 1)), DetectedProtocol::kHttp1);
  EXPECT_EQ(detectProtocol("POST /x HTTP/1.0\n"), DetectedProtocol::kHttp1);
}

TEST(ProtocolDetect, OtherProtocolsAreOpaque) {
  EXPECT_EQ(detectProtocol("\x16\x03\x01\x02\x00"), DetectedProtocol::kOpaque);  // TLS ClientHello
  EXPECT_EQ(detectProtocol("SSH-2.0-OpenSSH_9.2\r\n"), DetectedProtocol::kOpaque);
  EXPECT_EQ(detectProtocol("GET / HTTP/2.0\r\n"), DetectedProtocol::kOpaque);
  EXPECT_EQ(detectProtocol("GET /\r\n"), DetectedProtocol::kOpaque);
  EXPECT_EQ(detectProtocol(" GET / HTTP/1.1\r\n"), DetectedProtocol::kOpaque);
}

TEST(ProtocolDetect, EndlessTargetBecomesOpaqueAtTheLimit) {
  std::string s = "GET /" + std::string(kMaxDetectBytes, 'a');
  EXPECT_EQ(detectProtocol(s), DetectedProtocol::kOpaque);
}

}  // namespace
}  // namespace weft::proxy
