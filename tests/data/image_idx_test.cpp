#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/image/idx.h"
#include "mmfuse/data/image/image_pipeline.h"
#include "test_util.h"

namespace mmfuse::data::image {
namespace {

std::shared_ptr<ImagePipeline> gray_pipeline() {
  return ImagePipeline::create({}, ConfigNode::parse("channels: 1"));
}

class IdxRoundTrip : public ::testing::TestWithParam<bool> {};

TEST_P(IdxRoundTrip, Uint8ItemsComeBackScaledToUnit) {
  const bool gz = GetParam();
  testing::TempDir dir;
  const std::string path = dir.file(gz ? "x.idx3.gz" : "x.idx3");
  std::vector<uint8_t> values(3 * 2 * 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(i * 11);
  write_idx(path, IdxType::uint8, {3, 2, 4}, values.data(), gz);
  EXPECT_EQ(static_cast<uint8_t>(read_file(path)[0]), gz ? 0x1f : 0x00);

  IdxFile f = read_idx(path);
  EXPECT_EQ(f.type, IdxType::uint8);
  EXPECT_EQ(f.dims, (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(f.data, values);

  auto p = gray_pipeline();
  torch::Tensor item = p->extract(ImageRef{path, 2});  // values 16..23 -> 176..253
  ASSERT_EQ(item.sizes(), (std::vector<int64_t>{1, 2, 4}));
  for (int64_t k = 0; k < 8; ++k) {
    EXPECT_NEAR(item.view(-1)[k].item<float>(), (16 + k) * 11 / 255.f, 1e-6) << k;
  }
}

TEST_P(IdxRoundTrip, Float32ItemsKeepTheirValues) {
  const bool gz = GetParam();
  testing::TempDir dir;
  const std::string path = dir.file("f.idx");
  std::vector<float> values(2 * 3 * 3);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 1.f;
  write_idx(path, IdxType::float32, {2, 3, 3}, values.data(), gz);
  auto p = gray_pipeline();
  torch::Tensor item = p->extract(ImageRef{path, 1});
  ASSERT_EQ(item.sizes(), (std::vector<int64_t>{1, 3, 3}));
  for (int64_t k = 0; k < 9; ++k) EXPECT_FLOAT_EQ(item.view(-1)[k].item<float>(), values[9 + k]);
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, IdxRoundTrip, ::testing::Values(false, true));

TEST(Idx, ParsesBigEndianInt16FromHandWrittenBytes) {
  // magic 00 00 0B 03, dims [1, 1, 2], values -2 (FF FE) and 258 (01 02)
  const std::string bytes = {0, 0, 0x0B, 3, 0, 0, 0,      1,      0, 0,
                             0, 1, 0,    0, 0, 2, '\xff', '\xfe', 1, 2};
  IdxFile f = parse_idx(bytes, "hand.idx");
  ASSERT_EQ(f.dims, (std::vector<int64_t>{1, 1, 2}));
  cv::Mat m = f.item_image(0, "hand.idx");
  EXPECT_EQ(m.type(), CV_16SC1);
  EXPECT_EQ(m.at<int16_t>(0, 0), -2);
  EXPECT_EQ(m.at<int16_t>(0, 1), 258);
}

TEST(Idx, ColorItemsAreRgbOrderedAndCanBeGray) {
  testing::TempDir dir;
  const std::string path = dir.file("rgb.idx");
  // dims [2, 1, 2, 3]: item 1 = red pixel, blue pixel
  const std::vector<uint8_t> values = {0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255};
  write_idx(path, IdxType::uint8, {2, 1, 2, 3}, values.data(), false);
  auto rgb =
      ImagePipeline::create({}, ConfigNode::parse("channels: 3"))->extract(ImageRef{path, 1});
  ASSERT_EQ(rgb.sizes(), (std::vector<int64_t>{3, 1, 2}));
  EXPECT_TRUE(
      torch::allclose(rgb.reshape({3, 2}), torch::tensor({{1.f, 0.f}, {0.f, 0.f}, {0.f, 1.f}})));
  auto gray = gray_pipeline()->extract(ImageRef{path, 1});
  EXPECT_TRUE(torch::allclose(gray.reshape({2}), torch::tensor({0.299f, 0.114f})));
}

TEST(Idx, ItemOutOfRangeNamesCountAndFile) {
  testing::TempDir dir;
  const std::string path = dir.file("x.idx");
  std::vector<uint8_t> values(3 * 2 * 2, 7);
  write_idx(path, IdxType::uint8, {3, 2, 2}, values.data(), false);
  auto p = gray_pipeline();
  try {
    p->extract(ImageRef{path, 7});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.reason(), "item 7 out of range (file has 3 items)");
  }
  EXPECT_THROW(p->extract(ImageRef{path, 3}), InputError);
  EXPECT_NO_THROW(p->extract(ImageRef{path, 2}));
}

TEST(Idx, RejectsBadMagicTruncationAndCorruptGzip) {
  const std::string header = {0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2};
  try {
    parse_idx(header + std::string(7, '\0'), "t.idx");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(e.reason().find("truncated IDX data"), std::string::npos) << e.what();
    EXPECT_NE(e.reason().find("need 8 bytes after the header, got 7"), std::string::npos);
  }
  EXPECT_THROW(parse_idx(std::string("\x00\x00\x07\x03", 4) + std::string(12, '\0'), "m.idx"),
               InputError);  // unknown dtype 0x07
  EXPECT_THROW(parse_idx("PK\x03\x04", "zip.idx"), InputError);
  testing::TempDir dir;
  std::vector<uint8_t> values(2 * 2 * 2, 1);
  write_idx(dir.file("a.gz"), IdxType::uint8, {2, 2, 2}, values.data(), true);
  std::string gz = read_file(dir.file("a.gz"));
  try {
    parse_idx(gz.substr(0, gz.size() - 10), "a.gz");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), "a.gz");
    EXPECT_NE(e.reason().find("gzip"), std::string::npos) << e.what();
  }
}

TEST(Idx, CacheDecodesOncePerPathAcrossThreads) {
  testing::TempDir dir;
  const std::string path = dir.file("x.idx.gz");
  std::vector<uint8_t> values(100 * 4 * 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(i);
  write_idx(path, IdxType::uint8, {100, 4, 4}, values.data(), true);
  IdxCache cache;
  std::vector<std::shared_ptr<const IdxFile>> got(8);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] { got[t] = cache.get(path); });
  }
  for (auto& th : threads) th.join();
  for (const auto& g : got) EXPECT_EQ(g.get(), got[0].get());
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(got[0]->items(), 100);
  // A failed read is not remembered.
  EXPECT_THROW(cache.get(dir.file("missing.idx")), InputError);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(IdxRealData, AvMnistTestImages) {
  MMFUSE_REQUIRE_SHARED();
  const std::string path = testing::shared_dir() + "/data/avmnist/images-test.idx3.gz";
  auto p = gray_pipeline();
  // Reference (numpy over the gunzipped bytes, see the peer's read_idx): item 0 sums to 23491
  // with pixel (14, 14) = 115 and max 221; item 9999 sums to 39209 with (14, 14) = 32, max 255.
  torch::Tensor first = p->extract(ImageRef{path, 0});
  ASSERT_EQ(first.sizes(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_NEAR(first.sum().item<double>() * 255.0, 23491.0, 1e-2);
  EXPECT_NEAR(first[0][14][14].item<float>() * 255.f, 115.f, 1e-3);
  EXPECT_NEAR(first.max().item<float>() * 255.f, 221.f, 1e-3);
  torch::Tensor last = p->extract(ImageRef{path, 9999});
  EXPECT_NEAR(last.sum().item<double>() * 255.0, 39209.0, 1e-2);
  EXPECT_NEAR(last[0][14][14].item<float>() * 255.f, 32.f, 1e-3);
  try {
    p->extract(ImageRef{path, 10000});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.reason(), "item 10000 out of range (file has 10000 items)");
  }
}

}  // namespace
}  // namespace mmfuse::data::image
