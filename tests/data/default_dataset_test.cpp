// The built-in default dataset: layout, decodable files, text statistics and determinism, on a
// small dataset made through the library API.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/utf8.h"
#include "mmfuse/data/default_dataset/make_default_dataset.h"
#include "test_util.h"

namespace mmfuse::data::default_dataset {
namespace {

namespace fs = std::filesystem;
using mmfuse::testing::TempDir;

// What making the dataset needs: scikit-learn's digits and espeak-ng ("" when both are there).
std::string missing_tools() {
  std::string m = mmfuse::testing::missing_file(kSklearnDigitsCsv, "python3-sklearn");
  return m.empty() ? mmfuse::testing::missing_espeak() : m;
}

#define REQUIRE_TOOLS() MMFUSE_REQUIRE(missing_tools())

DefaultDatasetOptions small_options(uint64_t seed) {
  DefaultDatasetOptions o;
  o.seed = seed;
  o.samples = 60;
  o.speech.voices_per_split = {2, 1, 1};
  o.noise.babble_talkers = 2;
  o.noise.seconds = 2.0;
  return o;
}

std::vector<nlohmann::json> read_manifest(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

struct Audio {
  int rate = 0, channels = 0;
  double rms = 0, seconds = 0;
};

Audio read_audio(const std::string& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  EXPECT_NE(f, nullptr) << path;
  Audio a;
  if (!f) return a;
  std::vector<float> x(static_cast<std::size_t>(info.frames * info.channels));
  sf_readf_float(f, x.data(), info.frames);
  sf_close(f);
  double sum = 0;
  for (float v : x) sum += static_cast<double>(v) * v;
  a.rate = info.samplerate;
  a.channels = info.channels;
  a.rms = x.empty() ? 0 : std::sqrt(sum / x.size());
  a.seconds = static_cast<double>(info.frames) / info.samplerate;
  return a;
}

// Relative path -> bytes of every file under `dir`.
std::map<std::string, std::string> all_files(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = read_file(e.path());
  }
  return files;
}

// One dataset shared by the tests (made once: espeak-ng is slow).
class DefaultDataset : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!missing_tools().empty()) return;  // each test skips (or fails) in REQUIRE_TOOLS
    dir_ = new TempDir();
    summary_ = new DefaultDatasetSummary(make_default_dataset(dir_->str(), small_options(7)));
  }
  static void TearDownTestSuite() {
    delete summary_;
    delete dir_;
    summary_ = nullptr;
    dir_ = nullptr;
  }
  std::vector<nlohmann::json> all_lines() const {
    std::vector<nlohmann::json> lines;
    for (const char* split : {"train", "val", "test"}) {
      for (auto& j : read_manifest(dir_->file(std::string(split) + ".jsonl"))) lines.push_back(j);
    }
    return lines;
  }
  static TempDir* dir_;
  static DefaultDatasetSummary* summary_;
};
TempDir* DefaultDataset::dir_ = nullptr;
DefaultDatasetSummary* DefaultDataset::summary_ = nullptr;

TEST_F(DefaultDataset, ManifestsHaveSplitCountsAndTargets) {
  REQUIRE_TOOLS();
  const std::map<std::string, std::size_t> expected = {{"train", 40}, {"val", 10}, {"test", 10}};
  std::set<std::string> ids;
  for (const auto& [split, count] : expected) {
    auto lines = read_manifest(dir_->file(split + ".jsonl"));
    ASSERT_EQ(lines.size(), count) << split;
    std::array<int, 10> per_class{};
    for (const auto& j : lines) {
      ASSERT_TRUE(j.contains("id") && j.contains("label") && j.contains("value")) << j.dump();
      EXPECT_EQ(j["id"].get<std::string>().rfind(split + "-", 0), 0u) << j.dump();
      EXPECT_TRUE(ids.insert(j["id"].get<std::string>()).second) << "duplicate id " << j["id"];
      const int label = j["label"].get<int>();
      ASSERT_GE(label, 0);
      ASSERT_LE(label, 9);
      EXPECT_DOUBLE_EQ(j["value"].get<double>(), label);
      ++per_class[label];
    }
    for (int c : per_class) EXPECT_EQ(c, static_cast<int>(count / 10)) << split;  // balanced
  }
  EXPECT_TRUE(fs::exists(dir_->file("dataset.yaml")));
  EXPECT_NE(read_file(dir_->file("dataset.yaml")).find("value: {field: value, type: regression}"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(dir_->file("README.md")));
}

TEST_F(DefaultDataset, ImagesDecodeTo28x28WithInk) {
  REQUIRE_TOOLS();
  for (const auto& j : all_lines()) {
    ASSERT_TRUE(j.contains("image")) << j.dump();
    cv::Mat img = cv::imread(dir_->file(j["image"].get<std::string>()), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(img.empty()) << j["image"];
    EXPECT_EQ(img.rows, 28);
    EXPECT_EQ(img.cols, 28);
    EXPECT_EQ(img.channels(), 1);
    double min_v, max_v;
    cv::minMaxLoc(img, &min_v, &max_v);
    EXPECT_GT(max_v - min_v, 100) << j["image"];
  }
}

TEST_F(DefaultDataset, AudioAndNoiseReadBackAt8kHzAndAreNotSilent) {
  REQUIRE_TOOLS();
  const auto options = small_options(7);
  std::set<std::string> train_speech, test_speech;
  for (const auto& j : all_lines()) {
    ASSERT_TRUE(j.contains("audio")) << j.dump();
    const auto& audio = j["audio"];
    Audio speech = read_audio(dir_->file(audio["file"].get<std::string>()));
    EXPECT_EQ(speech.rate, 8000);
    EXPECT_EQ(speech.channels, 1);
    EXPECT_GT(speech.rms, 0.01) << audio["file"];
    EXPECT_LT(speech.seconds, 1.5) << audio["file"];
    Audio noise = read_audio(dir_->file(audio["noise"]["file"].get<std::string>()));
    EXPECT_EQ(noise.rate, 8000);
    EXPECT_NEAR(noise.rms, 0.1, 0.01);
    const double snr = audio["noise"]["snr_db"].get<double>();
    EXPECT_GE(snr, options.min_snr_db);
    EXPECT_LE(snr, options.max_snr_db);
    const double offset = audio["noise"]["offset_s"].get<double>();
    EXPECT_GE(offset, 0.0);
    EXPECT_LE(offset, noise.seconds);
    const std::string id = j["id"].get<std::string>();
    if (id.rfind("train", 0) == 0) train_speech.insert(audio["file"].get<std::string>());
    if (id.rfind("test", 0) == 0) test_speech.insert(audio["file"].get<std::string>());
  }
  for (const auto& f : test_speech) EXPECT_EQ(train_speech.count(f), 0u) << f;
}

TEST_F(DefaultDataset, TextIsValidUtf8AtTheConfiguredRate) {
  REQUIRE_TOOLS();
  int present = 0, han = 0, total = 0;
  for (const auto& j : all_lines()) {
    ++total;
    if (!j.contains("text")) continue;
    ++present;
    const auto text = j["text"].get<std::string>();
    ASSERT_TRUE(utf8::is_valid(text)) << text;
    EXPECT_FALSE(text.empty());
    for (char32_t cp : utf8::decode(text)) han += cp >= 0x4E00 && cp <= 0x9FFF;
  }
  // 60 samples, 25% absent: 45 expected, binomial sd 3.4.
  EXPECT_NEAR(present, total * 0.75, 12);
  int64_t texts = 0, chinese = 0;
  for (const auto& s : summary_->splits) {
    texts += s.texts;
    chinese += s.text_languages[index_of(Language::zh)];
  }
  EXPECT_EQ(texts, present);
  ASSERT_GT(chinese, 0) << "seed 7 draws no Chinese text: the hanzi check below would be empty";
  EXPECT_GT(han, 0) << "Chinese drawn " << chinese << " times but no hanzi";
}

TEST_F(DefaultDataset, SameSeedGivesIdenticalBytesOtherSeedDiffers) {
  REQUIRE_TOOLS();
  TempDir again, other;
  make_default_dataset(again.str(), small_options(7));
  make_default_dataset(other.str(), small_options(8));
  const auto first = all_files(dir_->str()), second = all_files(again.str());
  ASSERT_EQ(first.size(), second.size());
  for (const auto& [name, bytes] : first) {
    auto it = second.find(name);
    ASSERT_NE(it, second.end()) << name;
    EXPECT_TRUE(it->second == bytes) << name << " differs between two runs with the same seed";
  }
  const auto third = all_files(other.str());
  EXPECT_NE(third.at("train.jsonl"), first.at("train.jsonl"));
  EXPECT_NE(third.at("images/train/00000.png"), first.at("images/train/00000.png"));
}

TEST(DefaultDatasetText, TyposStayValidUtf8AndEditTheWord) {
  Rng rng(3);
  int changed = 0;
  for (Language lang : kAllLanguages) {
    for (int digit = 0; digit < 10; ++digit) {
      const std::string& word = digit_word(lang, digit);
      const std::size_t length = utf8::decode(word).size();
      for (int rep = 0; rep < 20; ++rep) {
        std::string typo = apply_typos(word, 1, rng);
        ASSERT_TRUE(utf8::is_valid(typo)) << word;
        ASSERT_FALSE(typo.empty()) << word;
        const std::size_t n = utf8::decode(typo).size();
        EXPECT_LE(std::max(n, length) - std::min(n, length), 1u) << word << " -> " << typo;
        changed += typo != word;
      }
    }
  }
  EXPECT_GT(changed, 8 * 10 * 20 * 8 / 10);  // swaps of equal neighbours may be no-ops
  EXPECT_EQ(digit_word(Language::zh, 7), "七");
  EXPECT_EQ(digit_word(Language::ja, 7), "なな");
}

TEST(DefaultDatasetErrors, MissingToolsAndBadOptionsSayHowToFix) {
  TempDir dir;
  DefaultDatasetOptions o = small_options(0);
  o.speech.espeak = "/nonexistent/espeak-ng";
  {
    DefaultDatasetOptions bad = o;
    bad.digits_csv = dir.file("missing.csv.gz");
    EXPECT_THROW(make_default_dataset(dir.str(), bad), InputError);
    bad.samples = 5;
    try {
      bad.validate();
      FAIL() << "expected a ConfigError for 5 samples";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("default_dataset.samples"), std::string::npos);
    }
  }
  // The digits are read before espeak-ng is looked for.
  MMFUSE_REQUIRE(mmfuse::testing::missing_file(kSklearnDigitsCsv, "python3-sklearn"));
  try {
    make_default_dataset(dir.str(), o);
    FAIL() << "expected an error for a missing espeak-ng";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("apt-get install espeak-ng"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir.file("train.jsonl")));
}

}  // namespace
}  // namespace mmfuse::data::default_dataset
