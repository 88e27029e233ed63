#include "controller/config.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace weft::controller {
namespace {

class ControllerConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& yaml) {
    auto dir = std::filesystem::temp_directory_path() / ("weft-ctl-config-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    path_ = (dir / "controller.yaml").string();
    std::ofstream(path_) << yaml;
    return path_;
  }
  // The error a config must be refused with (a config that loads fails the test).
  ConfigError rejected(const std::string& yaml) {
    try {
      loadControllerConfig(write(yaml));
    } catch (const ConfigError& e) {
      return e;
    }
    ADD_FAILURE() << "accepted:\n" << yaml;
    return ConfigError("", "", "accepted");
  }
  void TearDown() override {
    if (!path_.empty()) std::filesystem::remove_all(std::filesystem::path(path_).parent_path());
  }
  std::string path_;
};

TEST_F(ControllerConfigTest, DefaultsAndRelativeSourceFile) {
  auto cfg = loadControllerConfig(write("source: {file: services.yaml}\n"));
  EXPECT_EQ(cfg.xds, "127.0.0.1:18000");
  EXPECT_EQ(cfg.admin, "127.0.0.1:9990");
  EXPECT_EQ(cfg.xdsKeepalive, std::chrono::seconds(30));
  EXPECT_EQ(cfg.xdsKeepaliveTimeout, std::chrono::seconds(10));
  EXPECT_EQ(cfg.sourceFile, (std::filesystem::path(path_).parent_path() / "services.yaml").string());
}

TEST_F(ControllerConfigTest, XdsKeepaliveIsConfigurable) {
  auto cfg = loadControllerConfig(
      write("xds_keepalive_ms: 120000\nxds_keepalive_timeout_ms: 2500\nsource: {file: s.yaml}\n"));
  EXPECT_EQ(cfg.xdsKeepalive, std::chrono::seconds(120));
  EXPECT_EQ(cfg.xdsKeepaliveTimeout, std::chrono::milliseconds(2500));
}

TEST_F(ControllerConfigTest, KeepaliveOutOfRangeNamesTheKey) {
  auto e = rejected("xds_keepalive_ms: 10\nsource: {file: s.yaml}\n");
  EXPECT_EQ(e.key, "xds_keepalive_ms");
  EXPECT_NE(std::string(e.what()).find("between 1000 and 3600000"), std::string::npos) << e.what();
  EXPECT_EQ(rejected("xds_keepalive_timeout_ms: soon\nsource: {file: s.yaml}\n").key, "xds_keepalive_timeout_ms");
}

TEST_F(ControllerConfigTest, UnknownTopLevelKeyListsTheKnownOnes) {
  auto e = rejected("keepalive: 1\nsource: {file: s.yaml}\n");
  EXPECT_EQ(e.key, "keepalive");
  EXPECT_NE(std::string(e.what()).find("xds_keepalive_ms"), std::string::npos) << e.what();
}

}  // namespace
}  // namespace weft::controller
