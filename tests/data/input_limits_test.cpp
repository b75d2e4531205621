// Resource limits on data files (core/limits.h): each refused before the big allocation, with an
// error naming the file, the manifest line and field where there is one, and the limit's key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sndfile.h>

#include <opencv2/imgcodecs.hpp>

#include "data/audio_test_util.h"
#include "data/fake_pipelines.h"
#include "mmfuse/core/config.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/audio/audio_io.h"
#include "mmfuse/data/dataset_spec.h"
#include "mmfuse/data/image/image_header.h"
#include "mmfuse/data/image/image_io.h"
#include "mmfuse/data/manifest.h"
#include "test_util.h"

namespace mmfuse::data {
namespace {

using ::mmfuse::testing::TempDir;
using ::mmfuse::testing::write_text;
using ::testing::HasSubstr;

// A PNG signature + IHDR chunk claiming width x height (no pixel data follows).
std::string png_header_claiming(uint32_t width, uint32_t height) {
  std::string b = "\x89PNG\r\n\x1a\n";
  b += std::string("\0\0\0\x0dIHDR", 8);
  for (uint32_t v : {width, height})
    for (int s = 24; s >= 0; s -= 8) b += static_cast<char>((v >> s) & 0xff);
  b += std::string("\x08\x02\0\0\0", 5);  // 8-bit RGB
  b += std::string(4, '\0');              // CRC (never reached)
  return b;
}

std::string encoded_test_image(const std::string& ext, int rows, int cols) {
  cv::Mat img(rows, cols, CV_8UC3, cv::Scalar(10, 20, 30));
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, img, buf));
  return std::string(buf.begin(), buf.end());
}

TEST(InputLimits, ImageHeaderSizesOfPngJpegBmpMatchTheEncodedImage) {
  for (const char* ext : {".png", ".jpg", ".bmp"}) {
    auto size = image::encoded_image_size(encoded_test_image(ext, 37, 53));
    ASSERT_TRUE(size.has_value()) << ext;
    EXPECT_EQ(size->width, 53) << ext;
    EXPECT_EQ(size->height, 37) << ext;
  }
  EXPECT_FALSE(image::encoded_image_size("not an image").has_value());
  EXPECT_FALSE(image::encoded_image_size(std::string("\x89PNG\r\n\x1a\n", 8)).has_value());
}

TEST(InputLimits, PngClaimingTenGigapixelsIsRefusedFromItsHeader) {
  const std::string bytes = png_header_claiming(100000, 100000);
  try {
    image::decode_image_bytes(bytes, "huge.png", image::ReadOptions{});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), "huge.png");
    EXPECT_THAT(e.reason(), HasSubstr("100000 x 100000 = 10000000000 pixels"));
    EXPECT_THAT(e.reason(), HasSubstr("limits.max_image_pixels"));
  }
}

TEST(InputLimits, ImagePixelLimitIsConfigurable) {
  const std::string bytes = encoded_test_image(".png", 20, 30);  // 600 pixels
  image::ReadOptions opt;
  opt.max_pixels = 600;
  EXPECT_EQ(image::decode_image_bytes(bytes, "ok.png", opt).total(), 600u);
  opt.max_pixels = 599;
  EXPECT_THROW(image::decode_image_bytes(bytes, "big.png", opt), InputError);
}

TEST(InputLimits, AudioDurationAndBytesAreCheckedBeforeDecoding) {
  TempDir dir;
  const std::string wav = dir.file("two_seconds.wav");
  ::mmfuse::testing::write_audio(wav, ::mmfuse::testing::sine(440, 8000, 16000), 8000);
  EXPECT_EQ(audio::read_audio(wav).samples.size(), 16000u);
  try {
    audio::read_audio(wav, audio::AudioLimits{1.5, 1 << 20});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), wav);
    EXPECT_THAT(e.reason(), HasSubstr("16000 frames at 8000 Hz = 2.000000 s"));
    EXPECT_THAT(e.reason(), HasSubstr("limits.max_audio_seconds"));
  }
  try {
    audio::decode_audio(read_file(wav), "mem.wav", audio::AudioLimits{10.0, 1000});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.reason(), HasSubstr("32044 bytes, over the limit of 1000"));
    EXPECT_THAT(e.reason(), HasSubstr("limits.max_audio_bytes"));
  }
}

TEST(InputLimits, ManifestLineAndTextLengthErrorsNameLineAndField) {
  TempDir dir;
  const std::string m = dir.file("m.jsonl");
  write_text(m, "{\"id\": \"a\", \"text\": \"short\"}\n{\"id\": \"b\", \"text\": \"" +
                    std::string(200, 'x') + "\"}\n{\"id\": \"c\", \"text\": \"0123456789ab\"}\n");
  ManifestSchema schema = ManifestSchema::all_modalities();
  schema.limits.max_manifest_line_bytes = 100;
  schema.limits.max_text_bytes = 10;
  ManifestData data = read_manifest(m, schema, /*skip_bad=*/true);
  ASSERT_EQ(data.samples.size(), 1u);
  EXPECT_EQ(data.samples[0].id, "a");
  ASSERT_EQ(data.bad.size(), 2u);
  EXPECT_EQ(data.bad[0].line, 2);
  EXPECT_THAT(data.bad[0].message(), HasSubstr("line is 223 bytes, over the limit of 100"));
  EXPECT_THAT(data.bad[0].message(), HasSubstr("limits.max_manifest_line_bytes"));
  EXPECT_EQ(data.bad[1].line, 3);
  EXPECT_EQ(data.bad[1].field, "text");
  EXPECT_THAT(data.bad[1].message(), HasSubstr("text is 12 bytes, over the limit of 10"));
  EXPECT_THROW(read_manifest(m, schema, /*skip_bad=*/false), InputError);
}

TEST(InputLimits, DatasetSpecParsesLimitsAndRejectsBadOnes) {
  const std::string head = "splits: {train: [t.jsonl]}\nmodalities: {text: {}}\n";
  DatasetSpec spec = DatasetSpec::parse(
      head + "limits: {max_image_pixels: 4096, max_audio_seconds: 2.5, max_text_bytes: 77}\n",
      "spec.yaml", "/d");
  EXPECT_EQ(spec.limits.max_image_pixels, 4096);
  EXPECT_DOUBLE_EQ(spec.limits.max_audio_seconds, 2.5);
  EXPECT_EQ(spec.schema().limits.max_text_bytes, 77);
  EXPECT_EQ(spec.schema().limits.max_manifest_line_bytes, InputLimits{}.max_manifest_line_bytes);
  try {
    DatasetSpec::parse(head + "limits: {max_text_bytes: 0}\n", "spec.yaml", "/d");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("limits.max_text_bytes"));
    EXPECT_THAT(e.what(), HasSubstr("expected a limit > 0"));
  }
  EXPECT_THROW(DatasetSpec::parse(head + "limits: {max_pixels: 5}\n", "spec.yaml", "/d"),
               ConfigError);
}

}  // namespace
}  // namespace mmfuse::data
