// Pretrained classifiers made into runs without training (train.epochs: 0): MobileNetV2 on
// ImageNet (configs/imagenet/mobilenet_v2.yaml) names the cat of samples_cat.png, and its run's
// evaluation gets both sample photos right; YAMNet on AudioSet (configs/audioset/yamnet.yaml)
// hears "Speech" in samples_speech_16k.wav, through `mmfuse predict` as a user would.
#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"
#include "tiny_run.h"

namespace mmfuse {
namespace {

using nlohmann::json;
using testing::run_mmfuse;
using testing::run_mmfuse_json;
using testing::TempDir;

// Writes the run of `config` (relative to the source tree) into `run`.
void make_run(const std::string& config, const std::string& run) {
  const auto r = run_mmfuse("-q train --no-progress --config " + std::string(MMFUSE_SOURCE_DIR) +
                            "/" + config + " --out " + run);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

TEST(PretrainedRuns, MobileNetV2ImageNetPredictsEgyptianCat) {
  MMFUSE_REQUIRE_SHARED();
  TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_NO_FATAL_FAILURE(make_run("configs/imagenet/mobilenet_v2.yaml", run));

  std::ifstream summary_file(run + "/summary.json");
  const json summary = json::parse(summary_file);
  EXPECT_EQ(summary.at("steps"), 0);  // nothing trained
  // The two samples (cat, Grace Hopper's uniform), both top-1 with SAME padding (README).
  EXPECT_DOUBLE_EQ(summary.at("test").at("primary").get<double>(), 1.0)  // imagenet accuracy
      << summary.at("test").at("primary_name");

  const json p = run_mmfuse_json("-q predict --run " + run + " --image " + testing::shared_dir() +
                                 "/pretrained/samples_cat.png");
  ASSERT_FALSE(p.contains("error")) << p.dump();
  const json& t = p.at("targets").at("imagenet");
  EXPECT_EQ(t.at("class"), "Egyptian cat");
  EXPECT_EQ(t.at("index"), 286);  // line 286 of imagenet_classes.txt (0: background)
  EXPECT_EQ(t.at("probabilities").size(), 1001u);
  // README: "Egyptian cat" 0.778 through PIL's resize; OpenCV's area resize differs a little.
  EXPECT_NEAR(t.at("probabilities").at("Egyptian cat").get<double>(), 0.778, 0.1);
}

TEST(PretrainedRuns, YamnetAudioSetPredictsSpeech) {
  MMFUSE_REQUIRE_SHARED();
  TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_NO_FATAL_FAILURE(make_run("configs/audioset/yamnet.yaml", run));
  const json p = run_mmfuse_json("-q predict --run " + run + " --audio " + testing::shared_dir() +
                                 "/pretrained/samples_speech_16k.wav");
  ASSERT_FALSE(p.contains("error")) << p.dump();
  const json& t = p.at("targets").at("audioset");
  EXPECT_EQ(t.at("class"), "Speech");
  EXPECT_EQ(t.at("index"), 0);  // line 1 of yamnet_audioset_classes.txt
  EXPECT_EQ(t.at("probabilities").size(), 521u);
}

}  // namespace
}  // namespace mmfuse
