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

namespace mmfuse {
namespace {

// A corpus with one of each kind of bad input: every one is named by line, field and file, the
// good samples are still counted, and nothing crashes.
TEST(DataCheck, CorruptFileCorpusGivesClearErrors) {
  TempDir dir;
  cv::imwrite(dir.file("ok.png"), cv::Mat(8, 8, CV_8UC1, cv::Scalar(10)));
  {
    std::vector<uchar> png;
    cv::imencode(".png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(10)), png);
    std::ofstream(dir.file("cut.png"), std::ios::binary)
        .write(reinterpret_cast<const char*>(png.data()),
               static_cast<std::streamsize>(png.size() / 2));
  }
  // A WAV header promising 8000 frames followed by only 100 bytes of data.
  {
    std::ofstream w(dir.file("cut.wav"), std::ios::binary);
    auto u32 = [&](uint32_t v) { w.write(reinterpret_cast<const char*>(&v), 4); };
    auto u16 = [&](uint16_t v) { w.write(reinterpret_cast<const char*>(&v), 2); };
    w << "RIFF";
    u32(36 + 16000);
    w << "WAVEfmt ";
    u32(16), u16(1), u16(1), u32(8000), u32(16000), u16(2), u16(16);
    w << "data";
    u32(16000);
    w << std::string(100, '\0');
  }
  write(dir.file("noise.wav"), "RIFF garbage, not a WAV file");
  write(dir.file("m.jsonl"),
        "{\"id\": \"good\", \"image\": \"ok.png\", \"text\": \"fine\", \"tabular\": [1, 2]}\n"
        "{\"id\": \"png\", \"image\": \"cut.png\"}\n"
        "{\"id\": \"wav\", \"audio\": \"cut.wav\"}\n"
        "{\"id\": \"garbage\", \"audio\": \"noise.wav\"}\n"
        "{\"id\": \"utf8\", \"text\": \"caf\xc3\"}\n"
        "{\"id\": \"nan\", \"tabular\": [1, NaN]}\n"
        "{\"id\": \"idx\", \"image\": {\"file\": \"ok.png\", \"index\": 3}}\n"
        "not json at all\n");
  auto r = run_mmfuse("data check " + dir.file("m.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("1 valid samples of 8"));
  const std::string m = dir.file("m.jsonl");
  EXPECT_THAT(r.output, HasSubstr(m + ":2: field 'image': " + dir.file("cut.png")));
  EXPECT_THAT(r.output, HasSubstr(m + ":3: field 'audio': " + dir.file("cut.wav")));
  EXPECT_THAT(r.output, HasSubstr(m + ":4: field 'audio': " + dir.file("noise.wav")));
  EXPECT_THAT(r.output, HasSubstr(m + ":5: field 'text'"));
  EXPECT_THAT(r.output, HasSubstr(m + ":6: field 'tabular'"));
  EXPECT_THAT(r.output, HasSubstr(m + ":7: field 'image'"));
  EXPECT_THAT(r.output, HasSubstr(m + ":8: malformed JSON"));
  EXPECT_THAT(r.output, HasSubstr("7 problem(s)"));
}

}  // namespace
}  // namespace mmfuse
