// Frozen encoders memoized at inference: rows seen before are read back equal to the encoder's
// own output, new rows are computed, other weights miss, absent samples and variable-length
// inputs are never stored, and a bypass runs the encoder itself.
#include "mmfuse/runtime/frozen_memo.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace mmfuse::runtime {
namespace {

encoders::EncoderBlock memo_test_lenet() {
  encoders::EncoderContext ctx;
  ctx.modality = Modality::image;
  ctx.input_shape = {1, 28, 28};
  torch::manual_seed(11);
  auto block = encoders::encoder_registry().make(
      "lenet", ctx,
      ConfigNode(ConfigNode::parse("type: lenet\nchannels: 2").yaml(), "block", "<test>"));
  block.module()->eval();
  return block;
}

data::ModalityBatch memo_test_images(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  data::ModalityBatch b;
  b.data = torch::rand({n, 1, 28, 28});
  b.present = torch::ones({n}, torch::kBool);
  return b;
}

int64_t files_under(const std::string& dir) {
  int64_t n = 0;
  if (!std::filesystem::exists(dir)) return 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

TEST(FrozenMemo, RowsSeenBeforeAreReadBackAsTheEncoderComputesThem) {
  testing::TempDir dir;
  const std::string store = dir.file("memo");
  auto enc = memo_test_lenet();
  MemoEncoder memo(enc, "type: lenet", store);
  EXPECT_EQ(memo->named_parameters().keys(), enc.module()->named_parameters().keys());
  torch::NoGradGuard no_grad;

  data::ModalityBatch first = memo_test_images(6, 1);
  first.present[4] = false;  // an absent sample: computed (as the encoder would), never stored
  const torch::Tensor live = enc->encode(first).pooled;  // [6, D]
  const torch::Tensor a = memo->encode(first).pooled;
  ASSERT_EQ(a.sizes(), live.sizes());
  EXPECT_TRUE(torch::allclose(a, live, 1e-5, 1e-6));
  EXPECT_EQ(memo->stats().computed, 5);
  EXPECT_EQ(memo->stats().read, 0);
  EXPECT_EQ(files_under(store), 5);

  // The same rows again: all five read, equal to what was computed.
  const torch::Tensor b = memo->encode(first).pooled;
  EXPECT_EQ(memo->stats().read, 5);
  EXPECT_EQ(memo->stats().computed, 5);
  EXPECT_TRUE(torch::equal(b.index_select(0, torch::tensor({0, 1, 2, 3, 5})),
                           a.index_select(0, torch::tensor({0, 1, 2, 3, 5}))));

  // Two seen rows and three new ones, in another order: only the new ones are computed.
  data::ModalityBatch mixed = memo_test_images(3, 2);
  mixed.data = torch::cat({mixed.data, first.data.index_select(0, torch::tensor({3, 0}))});
  mixed.present = torch::ones({5}, torch::kBool);
  const torch::Tensor m = memo->encode(mixed).pooled;
  EXPECT_EQ(memo->stats().computed, 5 + 3);
  EXPECT_EQ(memo->stats().read, 5 + 2);
  EXPECT_TRUE(torch::allclose(m, enc->encode(mixed).pooled, 1e-5, 1e-6));

  // A second memo over the same folder and weights (another run's, an ensemble member's) reads.
  MemoEncoder other(enc, "type: lenet", store);
  other->encode(first);
  EXPECT_EQ(other->stats().read, 5);
  EXPECT_EQ(other->stats().computed, 0);
  // Other options or one weight nudged: another fingerprint, computed anew.
  MemoEncoder padded(enc, "type: lenet\npadding: same", store);
  padded->encode(first);
  EXPECT_EQ(padded->stats().computed, 5);
  enc.module()->parameters()[0].view(-1)[0].add_(0.5);
  MemoEncoder nudged(enc, "type: lenet", store);
  const torch::Tensor n = nudged->encode(first).pooled;
  EXPECT_EQ(nudged->stats().computed, 5);
  EXPECT_EQ(nudged->stats().read, 0);
  EXPECT_TRUE(torch::allclose(n, enc->encode(first).pooled, 1e-5, 1e-6));
  EXPECT_FALSE(torch::allclose(n, a, 1e-3, 1e-3));
}

TEST(FrozenMemo, BypassAndVariableLengthInputsRunTheEncoder) {
  testing::TempDir dir;
  auto enc = memo_test_lenet();
  MemoEncoder memo(enc, "type: lenet", dir.file("memo"));
  torch::NoGradGuard no_grad;
  const data::ModalityBatch batch = memo_test_images(4, 3);
  {
    const MemoBypass live(*memo);
    EXPECT_TRUE(torch::allclose(memo->encode(batch).pooled, enc->encode(batch).pooled, 1e-6));
    EXPECT_EQ(memo->stats().computed + memo->stats().read, 0);
  }
  memo->encode(batch);
  EXPECT_EQ(memo->stats().computed, 4);  // active again after the bypass
  data::ModalityBatch sequences = batch;
  sequences.lengths = torch::full({4}, 28, torch::kLong);
  memo->encode(sequences);
  EXPECT_EQ(memo->stats().computed, 4);
  EXPECT_EQ(memo->stats().read, 0);
  // A clone counts anew and wraps its own copy of the encoder.
  auto copy = std::dynamic_pointer_cast<MemoEncoderImpl>(memo->clone());
  ASSERT_TRUE(copy);
  EXPECT_EQ(copy->stats().computed, 0);
  const torch::Tensor before = enc.module()->parameters()[0].clone();
  copy->parameters()[0].data().add_(1.0);
  EXPECT_TRUE(torch::equal(enc.module()->parameters()[0], before));
}

}  // namespace
}  // namespace mmfuse::runtime
