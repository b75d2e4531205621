// One manifest video field expanding into frames (video_frames pipeline), the sound track (audio
// pipeline) and subtitles (text pipeline) through a real Dataset and Loader; bad clips skipped
// and listed with skip_bad.
#include <gtest/gtest.h>

#include <filesystem>

#include "data/video_test_util.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/data/video/video_field.h"
#include "mmfuse/data/video/video_frames_pipeline.h"

namespace mmfuse::data::video {
namespace {

using mmfuse::testing::TempDir;

const Sample& video_test_sample(const SampleSet& set, const std::string& id) {
  for (const auto& s : set.samples) {
    if (s.id == id) return s;
  }
  throw std::runtime_error("no sample " + id);
}

class VideoManifest : public ::testing::Test {
 protected:
  void SetUp() override {
    MMFUSE_REQUIRE(mmfuse::testing::missing_ffmpeg());
    // a: sidecar a.srt; b: the same subtitles embedded only; c: none; bad: not a video.
    mmfuse::testing::clip_with_subtitles(dir_, "a");
    mmfuse::testing::clip_with_subtitles(dir_, "b");
    std::filesystem::remove(dir_.file("b.srt"));
    mmfuse::testing::ffmpeg_fixture(
        "-f lavfi -i testsrc2=size=40x30:rate=20:duration=0.8 -f lavfi -i "
        "sine=frequency=1000:sample_rate=16000:duration=0.8 -c:v mpeg4 -c:a aac",
        dir_.file("c.mp4"));
    write_file_atomic(dir_.file("bad.mp4"), std::string(2000, 'x'));
    write_file_atomic(dir_.file("train.jsonl"),
                      "{\"id\": \"a\", \"video\": \"a.mp4\", \"label\": \"x\"}\n"
                      "{\"id\": \"b\", \"video\": {\"file\": \"b.mp4\", \"fps\": 5}, \"label\": "
                      "\"y\"}\n"
                      "{\"id\": \"c\", \"video\": \"c.mp4\", \"label\": \"x\"}\n"
                      "{\"id\": \"bad\", \"video\": \"bad.mp4\", \"label\": \"y\"}\n");
    write_file_atomic(dir_.file("spec.yaml"),
                      "splits: {train: [train.jsonl]}\n"
                      "video_field: video\n"
                      "modalities:\n"
                      "  image: {field: video, pipeline: video_frames, frames: 4, size: [12, 16]}\n"
                      "  audio: {field: video, features: waveform, sample_rate: 8000, "
                      "max_seconds: 1.0}\n"
                      "  text: {field: video}\n"
                      "targets: {label: {type: class}}\n"
                      "cache: {dir: cache, ram_mb: 16, dtype: float32}\n"
                      "skip_bad: true\n");
  }
  TempDir dir_;
};

TEST_F(VideoManifest, OneLineGivesFramesAudioAndSubtitlesAndBadClipsAreListed) {
  auto ds = Dataset::create(DatasetSpec::load(dir_.file("spec.yaml")));
  auto train = ds->train_samples();
  ASSERT_EQ(train->samples.size(), 3u);
  ASSERT_EQ(train->bad.size(), 1u);
  EXPECT_EQ(train->bad[0].line, 4);  // found when its subtitles were looked for
  EXPECT_EQ(train->bad[0].field, "video");
  EXPECT_EQ(train->bad[0].file, dir_.file("bad.mp4"));
  EXPECT_NE(train->bad[0].reason.find("cannot open the video"), std::string::npos);

  const Sample& a = video_test_sample(*train, "a");
  const Sample& b = video_test_sample(*train, "b");
  const Sample& c = video_test_sample(*train, "c");
  // Subtitles: the sidecar for a, the embedded stream for b, none for c.
  ASSERT_TRUE(a.has(Modality::text));
  EXPECT_EQ(std::get<std::string>(*a.field(Modality::text)), "seven apples and pears");
  ASSERT_TRUE(b.has(Modality::text));
  EXPECT_EQ(std::get<std::string>(*b.field(Modality::text)), "seven apples and pears");
  EXPECT_FALSE(c.has(Modality::text));

  // Frames: 4 uniform frames of a (at 0.125, 0.375, ... s) through the image path.
  const torch::Tensor fa = ds->features(a, Modality::image);
  ASSERT_EQ(fa.sizes(), torch::IntArrayRef({4, 3, 12, 16}));
  VideoReader reader(dir_.file("a.mp4"));
  image::ImageOptions img;
  img.height = 12;
  img.width = 16;
  const torch::Tensor direct =
      frames_to_tensor(reader.read_frames(FrameSampling{4, 0.0, 0.0}), 4, img);
  EXPECT_TRUE(torch::allclose(fa, direct, 0, 1e-6));
  EXPECT_GT((fa[0] - fa[3]).abs().max().item<float>(), 0.05f);  // the test pattern moves
  // b at 5 fps: frames at 0, 0.2, 0.4, 0.6 s, the first two differ from a's first two.
  const torch::Tensor fb = ds->features(b, Modality::image);
  const torch::Tensor b_direct = frames_to_tensor(
      VideoReader(dir_.file("b.mp4")).read_frames(FrameSampling{4, 5.0, 0.0}), 4, img);
  EXPECT_TRUE(torch::allclose(fb, b_direct, 0, 1e-6));

  // Audio: the 1000 Hz sine of c at 8 kHz, 8000 samples (0.8 s + zero padding).
  const torch::Tensor wc = ds->features(c, Modality::audio).flatten();
  ASSERT_EQ(wc.numel(), 8000);
  const torch::Tensor head = wc.slice(0, 0, 6000);
  const auto signs = head.sign();
  const int64_t crossings = (signs.slice(0, 1) != signs.slice(0, 0, -1)).sum().item<int64_t>();
  EXPECT_NEAR(crossings / 0.75, 2000, 40);  // 2 per period

  // One batch of all three: frames [3, 4, 3, 12, 16]; text present for a and b only.
  LoaderOptions lo;
  lo.batch_size = 3;
  lo.shuffle = false;
  lo.threads = 0;
  Loader loader(ds, train, lo);
  auto batch = loader.next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->at(Modality::image).data.sizes(), torch::IntArrayRef({3, 4, 3, 12, 16}));
  const torch::Tensor text_present = batch->at(Modality::text).present;
  EXPECT_EQ(text_present.sum().item<int64_t>(), 2);
}

TEST(VideoField, ParsesFormsAndRejectsBadOnes) {
  const auto img = video_field_from_json(
      Modality::image, nlohmann::json::parse(R"({"file": "v/c.mkv", "fps": 2, "start_s": 0.5})"),
      "/data");
  ASSERT_TRUE(img.has_value());
  const auto& ref = std::get<ImageRef>(*img);
  EXPECT_EQ(ref.path, "/data/v/c.mkv");
  ASSERT_TRUE(ref.video.has_value());
  EXPECT_EQ(*ref.video->fps, 2.0);
  EXPECT_EQ(*ref.video->start_s, 0.5);
  const auto audio = video_field_from_json(Modality::audio, "c.webm", "/data");
  EXPECT_EQ(std::get<AudioRef>(*audio).path, "/data/c.webm");
  EXPECT_FALSE(video_field_from_json(
                   Modality::text,
                   nlohmann::json::parse(R"({"file": "c.mp4", "subtitles": "none"})"), "/data")
                   .has_value());
  EXPECT_THROW(video_field_from_json(Modality::image, 3, "/d"), InputError);
  EXPECT_THROW(video_field_from_json(
                   Modality::image, nlohmann::json::parse(R"({"file": "c.mp4", "fps": -1})"), "/d"),
               InputError);
  EXPECT_THROW(
      video_field_from_json(Modality::image,
                            nlohmann::json::parse(R"({"file": "c.mp4", "speed": 2})"), "/d"),
      InputError);
  EXPECT_THROW(video_field_from_json(Modality::tabular, "c.mp4", "/d"), InputError);
}

}  // namespace
}  // namespace mmfuse::data::video
