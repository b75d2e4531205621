#include <gtest/gtest.h>

#include <set>

#include <opencv2/imgcodecs.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/image/image_pipeline.h"
#include "mmfuse/data/pipeline_registry.h"
#include "test_util.h"

namespace mmfuse::data::image {
namespace {

std::shared_ptr<ImagePipeline> make_image(const std::string& yaml) {
  return ImagePipeline::create({}, ConfigNode::parse(yaml, "image"));
}

std::string write_png(const testing::TempDir& dir, const std::string& name, const cv::Mat& m) {
  const std::string path = dir.file(name);
  EXPECT_TRUE(cv::imwrite(path, m));
  return path;
}

// Values of a [C, H, W] tensor at (y, x), one per channel.
std::vector<float> pixel(const torch::Tensor& t, int64_t y, int64_t x) {
  std::vector<float> v;
  for (int64_t c = 0; c < t.size(0); ++c) v.push_back(t[c][y][x].item<float>());
  return v;
}

void expect_pixel(const torch::Tensor& t, int64_t y, int64_t x, std::vector<float> want) {
  auto got = pixel(t, y, x);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t c = 0; c < want.size(); ++c)
    EXPECT_NEAR(got[c], want[c], 1e-6) << "(" << y << ", " << x << ") channel " << c;
}

TEST(ImagePipeline, PngShrinksByAreaInRgbOrder) {
  testing::TempDir dir;
  cv::Mat bgr(4, 4, CV_8UC3);
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) bgr.at<cv::Vec3b>(y, x) = {0, 7, uint8_t(10 * (y * 4 + x))};
  }
  auto p = make_image("size: [2, 2]");
  torch::Tensor t = p->extract(ImageRef{write_png(dir, "a.png", bgr)});
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(t.dtype(), torch::kFloat);
  // INTER_AREA halving averages 2x2 blocks: R of block (i, j) = 10 * (8i + 2j + 2.5).
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j)
      expect_pixel(t, i, j, {(80.f * i + 20.f * j + 25.f) / 255.f, 7 / 255.f, 0.f});
  }
}

TEST(ImagePipeline, EnlargesBilinearly) {
  testing::TempDir dir;
  cv::Mat g = (cv::Mat_<uint8_t>(1, 2) << 0, 255);
  auto t = make_image("channels: 1\nsize: [1, 4]")->extract(ImageRef{write_png(dir, "g.png", g)});
  // Half-pixel centres: source x = -0.25, 0.25, 0.75, 1.25 (clamped) -> 0, .25, .75, 1.
  for (int x = 0; x < 4; ++x) expect_pixel(t, 0, x, {std::vector<float>{0, .25f, .75f, 1}[x]});
}

TEST(ImagePipeline, GrayUsesLumaWeights) {
  testing::TempDir dir;
  cv::Mat bgr(1, 3, CV_8UC3);
  bgr.at<cv::Vec3b>(0, 0) = {0, 0, 255};  // red
  bgr.at<cv::Vec3b>(0, 1) = {0, 255, 0};  // green
  bgr.at<cv::Vec3b>(0, 2) = {255, 0, 0};  // blue
  auto t = make_image("channels: 1")->extract(ImageRef{write_png(dir, "rgb.png", bgr)});
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 1, 3}));
  expect_pixel(t, 0, 0, {0.299f});
  expect_pixel(t, 0, 1, {0.587f});
  expect_pixel(t, 0, 2, {0.114f});
}

TEST(ImagePipeline, AlphaIsCompositedOverTheBackgroundOrDropped) {
  testing::TempDir dir;
  cv::Mat bgra(1, 3, CV_8UC4);
  bgra.at<cv::Vec4b>(0, 0) = {0, 0, 255, 0};    // transparent red
  bgra.at<cv::Vec4b>(0, 1) = {0, 0, 255, 255};  // opaque red
  bgra.at<cv::Vec4b>(0, 2) = {255, 0, 0, 51};   // blue at alpha 0.2
  const std::string path = write_png(dir, "rgba.png", bgra);
  auto over = make_image("background: [0, 0.5, 1]")->extract(ImageRef{path});
  expect_pixel(over, 0, 0, {0.f, 0.5f, 1.f});
  expect_pixel(over, 0, 1, {1.f, 0.f, 0.f});
  expect_pixel(over, 0, 2, {0.f, 0.4f, 1.f});  // 0.2 * (0, 0, 1) + 0.8 * (0, 0.5, 1)
  auto dropped = make_image("background: drop")->extract(ImageRef{path});
  expect_pixel(dropped, 0, 0, {1.f, 0.f, 0.f});
  expect_pixel(dropped, 0, 2, {0.f, 0.f, 1.f});
  auto gray = make_image("channels: 1\nbackground: [0, 0.5, 1]")->extract(ImageRef{path});
  expect_pixel(gray, 0, 0, {0.587f * 0.5f + 0.114f});
}

TEST(ImagePipeline, SixteenBitPngScalesBy65535) {
  testing::TempDir dir;
  cv::Mat g = (cv::Mat_<uint16_t>(1, 2) << 65535, 32768);
  auto t = make_image("channels: 1")->extract(ImageRef{write_png(dir, "g16.png", g)});
  expect_pixel(t, 0, 0, {1.f});
  expect_pixel(t, 0, 1, {32768.f / 65535.f});
}

TEST(ImagePipeline, DecodesBmpAndJpeg) {
  testing::TempDir dir;
  cv::Mat bgr(8, 8, CV_8UC3, cv::Scalar(30, 120, 200));  // B, G, R
  auto p = make_image("{}");
  auto bmp = p->extract(ImageRef{write_png(dir, "c.bmp", bgr)});
  expect_pixel(bmp, 3, 5, {200 / 255.f, 120 / 255.f, 30 / 255.f});
  const std::string jpg = dir.file("c.jpg");
  ASSERT_TRUE(cv::imwrite(jpg, bgr, {cv::IMWRITE_JPEG_QUALITY, 100}));
  auto j = p->extract(ImageRef{jpg});
  ASSERT_EQ(j.sizes(), (std::vector<int64_t>{3, 8, 8}));
  // Lossy, but a flat colour survives within a couple of levels.
  EXPECT_LT((j - bmp).abs().max().item<float>(), 3 / 255.f);
}

TEST(ImagePipeline, TruncatedOrMissingFileNamesTheFile) {
  testing::TempDir dir;
  cv::Mat noise(32, 32, CV_8UC3);
  cv::randu(noise, 0, 255);
  const std::string bytes = read_file(write_png(dir, "full.png", noise));
  const std::string cut = dir.file("cut.png");
  write_file_atomic(cut, bytes.substr(0, bytes.size() / 2));
  auto p = make_image("size: [8, 8]");
  try {
    p->extract(ImageRef{cut});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), cut);
    EXPECT_NE(std::string(e.what()).find(cut), std::string::npos);
    EXPECT_NE(e.reason().find("cannot decode image"), std::string::npos) << e.what();
  }
  EXPECT_THROW(p->extract(ImageRef{dir.file("absent.png")}), InputError);
  EXPECT_THROW(p->extract(Field{std::string("not an image")}), InputError);
}

TEST(ImagePipeline, FitsPerChannelMeanAndStdOnTrainingImages) {
  testing::TempDir dir;
  std::vector<Field> fields = {
      ImageRef{write_png(dir, "a.png", (cv::Mat_<uint8_t>(1, 2) << 0, 255))},
      ImageRef{write_png(dir, "b.png", (cv::Mat_<uint8_t>(1, 2) << 51, 204))}};
  const std::string yaml = "channels: 1\nnormalize: fit";
  auto p = make_image(yaml);
  FitContext ctx{fields.size(), [&](std::size_t i) -> const Field& { return fields[i]; },
                 [&](std::size_t i) { return p->extract(fields[i]); }};
  p->fit(ctx);
  // Pixels 0, 1, 0.2, 0.8: mean 0.5, population variance (.25 + .25 + .09 + .09) / 4 = 0.17.
  ASSERT_EQ(p->mean().size(), 1u);
  EXPECT_NEAR(p->mean()[0], 0.5, 1e-6);
  EXPECT_NEAR(p->stddev()[0], std::sqrt(0.17), 1e-6);
  torch::Tensor out = p->finalize(p->extract(fields[1]));
  expect_pixel(out, 0, 0, {static_cast<float>(-0.3 / std::sqrt(0.17))});
  expect_pixel(out, 0, 1, {static_cast<float>(0.3 / std::sqrt(0.17))});

  // state() -> load_state() on a fresh pipeline reproduces finalize().
  auto restored = make_image(yaml);
  EXPECT_THROW(restored->finalize(p->extract(fields[0])), Error);
  restored->load_state(nlohmann::json::parse(p->state().dump()));
  EXPECT_TRUE(torch::equal(restored->finalize(restored->extract(fields[0])),
                           p->finalize(p->extract(fields[0]))));
  EXPECT_THROW(restored->load_state({{"mean", {0.5}}}), Error);      // no std
  EXPECT_THROW(make_image("channels: 3")->load_state(p->state()), Error);  // 1 vs 3 channels
}

TEST(ImagePipeline, FixedNormalizationBroadcastsOneValue) {
  testing::TempDir dir;
  cv::Mat g = (cv::Mat_<uint8_t>(1, 1) << 255);
  auto p = make_image("normalize: fixed\nmean: [0.5]\nstd: [0.25]");
  auto t = p->finalize(p->extract(ImageRef{write_png(dir, "w.png", g)}));
  expect_pixel(t, 0, 0, {2.f, 2.f, 2.f});
}

TEST(ImagePipeline, ConfigErrorsNameThePath) {
  auto message = [](const std::string& yaml) {
    try {
      make_image(yaml);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("channels: 2").find("channels"), std::string::npos);
  EXPECT_NE(message("chanels: 1").find("chanels"), std::string::npos);
  EXPECT_NE(message("normalize: zscore").find("none, fixed, fit"), std::string::npos);
  EXPECT_NE(message("normalize: fit\nmean: [0.5]").find("normalize"), std::string::npos);
  EXPECT_NE(message("normalize: fixed\nmean: [1, 2]\nstd: [1]").find("mean"), std::string::npos);
  EXPECT_NE(message("augment: {scale: [1.2, 0.8]}").find("augment.scale"), std::string::npos);
}

TEST(ImagePipeline, RegisteredUnderImage) {
  auto p = pipeline_registry().create("image", {}, ConfigNode::parse("size: [16, 8]"));
  EXPECT_EQ(p->modality(), Modality::image);
  EXPECT_TRUE(p->cacheable());
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{3, 16, 8}));
}

torch::Tensor ramp(int64_t c, int64_t h, int64_t w) {
  return torch::arange(c * h * w, torch::kFloat).reshape({c, h, w}) / float(c * h * w);
}

TEST(ImageAugment, SameSeedSameResultOtherSeedsDiffer) {
  auto p = make_image(
      "augment: {rotation_deg: 20, scale: [0.8, 1.2], translate: 0.1, "
      "crop_padding: 2, noise_std: 0.05}");
  const auto x = ramp(3, 16, 16);
  Rng a(7), b(7), c(8);
  const auto xa = p->augment(Field{}, x, a);
  EXPECT_EQ(xa.sizes(), x.sizes());
  EXPECT_TRUE(torch::equal(xa, p->augment(Field{}, x, b)));
  EXPECT_FALSE(torch::allclose(xa, p->augment(Field{}, x, c)));
  EXPECT_FALSE(torch::allclose(xa, x));
  Rng d(1);
  EXPECT_TRUE(torch::equal(make_image("size: [16, 16]")->augment(Field{}, x, d), x));  // none set
}

TEST(ImageAugment, PaddedCropIsAnIntegerShiftWithinThePadding) {
  auto p = make_image("augment: {crop_padding: 2}");
  const auto x = ramp(1, 8, 8);
  std::set<std::pair<int, int>> shifts;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng rng(seed);
    const auto y = p->augment(Field{}, x, rng);
    bool matched = false;
    for (int dy = -2; dy <= 2 && !matched; ++dy) {
      for (int dx = -2; dx <= 2 && !matched; ++dx) {
        // Replicated border: out(r, c) = in(clamp(r - dy), clamp(c - dx)).
        auto idx_r = torch::clamp(torch::arange(8) - dy, 0, 7);
        auto idx_c = torch::clamp(torch::arange(8) - dx, 0, 7);
        auto want = x.index_select(1, idx_r).index_select(2, idx_c);
        if (torch::allclose(y, want, 0, 1e-6)) {
          matched = true;
          shifts.insert({dy, dx});
        }
      }
    }
    EXPECT_TRUE(matched) << "seed " << seed;
  }
  EXPECT_GT(shifts.size(), 3u);
}

TEST(ImageAugment, NoiseHasTheConfiguredStd) {
  auto p = make_image("augment: {noise_std: 0.1}");
  Rng rng(3);
  const auto y = p->augment(Field{}, torch::full({3, 32, 32}, 0.5f), rng) - 0.5f;
  EXPECT_NEAR(y.mean().item<float>(), 0.f, 0.01);
  EXPECT_NEAR(y.std().item<float>(), 0.1f, 0.01);
}

TEST(ImageAugment, RotationInterpolatesWithinTheInputRange) {
  auto p = make_image("augment: {rotation_deg: 45}");
  const auto x = ramp(1, 12, 12);
  Rng rng(11);
  const auto y = p->augment(Field{}, x, rng);
  EXPECT_FALSE(torch::allclose(y, x));
  EXPECT_GE(y.min().item<float>(), x.min().item<float>() - 1e-6);
  EXPECT_LE(y.max().item<float>(), x.max().item<float>() + 1e-6);
}

TEST(ImageRealData, EmojiMatchesNumpyComposite) {
  MMFUSE_REQUIRE_SHARED();
  // Per-channel means from tests/data/image_emoji_reference.py (numpy, float64).
  struct Ref {
    std::string name;
    std::array<double, 3> white, black;
  };
  const std::vector<Ref> refs = {
      {"1f600", {0.918733, 0.802189, 0.478223}, {0.557744, 0.441199, 0.117233}},
      {"1f680", {0.855080, 0.776705, 0.764268}, {0.278771, 0.200396, 0.187959}},
      {"2764-fe0f", {0.965953, 0.592411, 0.568000}, {0.525939, 0.152397, 0.127986}},
  };
  auto white = make_image("size: [32, 32]\nbackground: [1, 1, 1]");
  auto black = make_image("size: [32, 32]\nbackground: [0, 0, 0]");
  for (const auto& r : refs) {
    const ImageRef ref{testing::shared_dir() + "/data/emoji/images_64px/" + r.name + ".png"};
    const auto w = white->extract(ref), b = black->extract(ref);
    ASSERT_EQ(w.sizes(), (std::vector<int64_t>{3, 32, 32}));
    for (int c = 0; c < 3; ++c) {
      // Halving by INTER_AREA averages 2x2 blocks, so the means are those of the 64x64 image.
      EXPECT_NEAR(w[c].mean().item<double>(), r.white[c], 1e-5) << r.name << " channel " << c;
      EXPECT_NEAR(b[c].mean().item<double>(), r.black[c], 1e-5) << r.name << " channel " << c;
    }
    expect_pixel(w, 0, 0, {1.f, 1.f, 1.f});  // transparent corner
    expect_pixel(b, 0, 0, {0.f, 0.f, 0.f});
  }
}

}  // namespace
}  // namespace mmfuse::data::image
