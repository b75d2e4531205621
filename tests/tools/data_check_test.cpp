// `mmfuse data check`: counts, problems named by manifest:line and field, exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "test_util.h"

namespace mmfuse {
namespace {

using ::mmfuse::testing::run_mmfuse;
using ::mmfuse::testing::TempDir;
using ::testing::HasSubstr;

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

TEST(DataCheck, BadLinesExitOneAndAreNamed) {
  TempDir dir;
  cv::imwrite(dir.file("a.png"), cv::Mat(8, 8, CV_8UC1, cv::Scalar(200)));
  write(dir.file("m.jsonl"),
        "{\"id\": \"s1\", \"image\": \"a.png\", \"text\": \"hi\", \"label\": \"x\"}\n"
        "{\"id\": \"s2\", \"image\": \"missing.png\", \"label\": \"y\"}\n"
        "{\"id\": \"s3\", \"image\": 7}\n"
        "{\"id\": \"s4\", \"text\": \"ok\", \"label\": \"x\"\n"
        "{\"id\": \"s5\", \"text\": \"fine\", \"label\": \"y\"}\n");
  auto r = run_mmfuse("data check " + dir.file("m.jsonl") + " --threads 2");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("2 valid samples of 5"));
  EXPECT_THAT(r.output, HasSubstr(dir.file("m.jsonl") + ":2: field 'image': " +
                                  dir.file("missing.png") + ": file not found"));
  EXPECT_THAT(r.output, HasSubstr(dir.file("m.jsonl") +
                                  ":3: field 'image': expected a path string or {\"file\", "
                                  "\"index\"}, got number"));
  EXPECT_THAT(r.output, HasSubstr(dir.file("m.jsonl") + ":4: malformed JSON"));
  EXPECT_THAT(r.output, HasSubstr("target label: 2 classes: x=1 y=1"));
  EXPECT_THAT(r.output, HasSubstr("3 problem(s)"));

  auto strict = run_mmfuse("data check --strict " + dir.file("m.jsonl"));
  EXPECT_EQ(strict.exit_code, 1);
  EXPECT_THAT(strict.output, HasSubstr("m.jsonl:2: field 'image'"));
  EXPECT_THAT(strict.output, ::testing::Not(HasSubstr(":3:")));
}

TEST(DataCheck, CleanManifestExitsZeroWithJson) {
  TempDir dir;
  write(dir.file("m.csv"), "id,text,tabular,label\na,hello,1 2,3\nb,,0.5 0.25,4\n");
  auto r = run_mmfuse("data check --json " + dir.file("m.csv"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("\"valid\": 2"));
  EXPECT_THAT(r.output, HasSubstr("\"problems\": []"));
  auto usage = run_mmfuse("data check");
  EXPECT_EQ(usage.exit_code, 2);
}

TEST(DataCheck, SharedAvmnistTestAndEmojiTrain) {
  MMFUSE_REQUIRE_SHARED();
  const std::string data = ::mmfuse::testing::shared_dir() + "/data";
  auto av = run_mmfuse("data check " + data + "/avmnist/test.jsonl");
  EXPECT_EQ(av.exit_code, 0) << av.output.substr(0, 2000);
  EXPECT_THAT(av.output, HasSubstr("10000 valid samples of 10000"));
  EXPECT_THAT(av.output, HasSubstr("image: 10000"));
  EXPECT_THAT(av.output, HasSubstr("audio: 10000"));
  EXPECT_THAT(av.output, HasSubstr("target label: 10 classes: 0=980 1=1135"));
  auto emoji = run_mmfuse("data check " + data + "/emoji/train.jsonl");
  EXPECT_EQ(emoji.exit_code, 0) << emoji.output.substr(0, 2000);
  EXPECT_THAT(emoji.output, HasSubstr("3200 valid samples of 3200"));
  EXPECT_THAT(emoji.output, HasSubstr("image: 3200"));
  EXPECT_THAT(emoji.output, HasSubstr("text: 3200"));
}

}  // namespace
}  // namespace mmfuse
