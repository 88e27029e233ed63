#include "controller/file_source.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace weft::controller {
namespace {

class FileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/weft-file-source-XXXXXX";
    ASSERT_TRUE(::mkdtemp(tmpl));
    dir_ = tmpl;
    path_ = dir_ + "/services.yaml";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& text) {
    // Written beside and renamed, as editors and config tools do.
    auto tmp = path_ + ".tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, path_);
  }
  std::string dir_, path_;
};

TEST_F(FileSourceTest, AppliesValidEditsAndKeepsTheLastGoodStateOnInvalidOnes) {
  StateStore store;
  FileSource src(path_, store);
  EXPECT_EQ(src.poll(), FileSource::Outcome::kUnreadable);

  write("services: [{name: a.test, endpoints: [127.0.0.1:1]}]\n");
  EXPECT_EQ(src.poll(), FileSource::Outcome::kApplied);
  auto good = store.current();
  ASSERT_TRUE(good->find("a.test:80"));
  EXPECT_EQ(src.poll(), FileSource::Outcome::kUnchanged);

  write("services: [{name: a.test, endpoints: [not-an-address]}]\n");
  EXPECT_EQ(src.poll(), FileSource::Outcome::kRejected);
  EXPECT_NE(src.lastError().find("services[0].endpoints[0]"), std::string::npos) << src.lastError();
  EXPECT_EQ(store.current(), good);
  // The same bad content is not re-reported at every poll.
  EXPECT_EQ(src.poll(), FileSource::Outcome::kUnchanged);

  write("services: [{name: a.test, endpoints: [127.0.0.1:1, 127.0.0.1:2]}]\n");
  EXPECT_EQ(src.poll(), FileSource::Outcome::kApplied);
  EXPECT_EQ((*store.current()->find("a.test:80"))->endpoints.size(), 2u);
  EXPECT_TRUE(src.lastError().empty());

  // A valid document with the same content (reformatted) publishes nothing.
  write("services:\n  - name: a.test:80\n    endpoints: [127.0.0.1:2, 127.0.0.1:1]\n");
  EXPECT_EQ(src.poll(), FileSource::Outcome::kUnchanged);
}

TEST_F(FileSourceTest, SameSizeRewriteInPlaceIsSeen) {
  StateStore store;
  FileSource src(path_, store);
  std::ofstream(path_) << "services: [{name: a.test, endpoints: [127.0.0.1:1]}]\n";
  ASSERT_EQ(src.poll(), FileSource::Outcome::kApplied);
  std::ofstream(path_, std::ios::trunc) << "services: [{name: a.test, endpoints: [127.0.0.1:2]}]\n";
  ASSERT_EQ(src.poll(), FileSource::Outcome::kApplied);
  EXPECT_EQ((*store.current()->find("a.test:80"))->endpoints[0].address, "127.0.0.1:2");
}

}  // namespace
}  // namespace weft::controller
