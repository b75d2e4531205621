// Frozen-feature mode: a frozen encoder's outputs computed once equal its live forward, are read
// back from disk by a later run, and miss when the weights or the encoder's options change; a run
// trained on them ends as one that runs the frozen encoder on every batch.
#include "mmfuse/train/frozen_features.h"

#include <gtest/gtest.h>

#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/train/trainer.h"
#include "synthetic_data.h"
#include "test_util.h"

namespace mmfuse::train {
namespace {

encoders::EncoderBlock frozen_test_lenet(const data::Dataset& ds) {
  encoders::EncoderContext ctx;
  ctx.modality = Modality::image;
  ctx.input_shape = ds.item_shape(Modality::image);
  torch::manual_seed(5);
  auto block = encoders::encoder_registry().make(
      "lenet", ctx,
      ConfigNode(ConfigNode::parse("type: lenet\nchannels: 2").yaml(), "block", "<test>"));
  block.module()->eval();
  return block;
}

data::LoaderOptions frozen_test_loader_options() {
  data::LoaderOptions o;
  o.batch_size = 8;
  o.shuffle = false;
  o.threads = 0;
  return o;
}

TEST(FrozenFeatures, RowsEqualTheLiveForwardAndTheKeyFollowsTheWeights) {
  testing::SyntheticRun data;
  auto ds = data::Dataset::create(data::DatasetSpec::load(data.dir.file("data.yaml")));
  auto val = ds->read_split(data::Split::val);
  auto enc = frozen_test_lenet(*ds);
  const std::string store = data.dir.file("frozen");

  auto shared = std::make_shared<FrozenFeatures>(ds, Modality::image, enc, "type: lenet", store);
  FrozenFeatures& ff = *shared;
  const FrozenFeatureStats first = ff.prepare({ds->train_samples(), val}, 16);
  EXPECT_EQ(first.computed, 96 + 24);
  EXPECT_EQ(first.read, 0);
  // The live forward, one batch of the first 8 validation samples in the loader's order.
  data::Loader loader(ds, val, frozen_test_loader_options());
  const data::Batch batch = *loader.next();
  torch::NoGradGuard no_grad;
  const torch::Tensor live = enc->encode(batch.at(Modality::image)).pooled;  // [8, D]
  for (int64_t i = 0; i < 8; ++i) {
    const torch::Tensor row = ff.row(val->samples[static_cast<std::size_t>(i)]);
    ASSERT_EQ(row.sizes(), live[i].sizes());
    EXPECT_TRUE(torch::allclose(row, live[i], 1e-5, 1e-6)) << i;
  }
  // The loader serves them as an encoded batch once the dataset has them.
  data::set_precomputed(*ds, Modality::image, shared);
  data::Loader served(ds, val, frozen_test_loader_options());
  const data::ModalityBatch got = served.next()->at(Modality::image);
  EXPECT_TRUE(got.present.all().item<bool>());
  EXPECT_TRUE(torch::allclose(got.data, live, 1e-5, 1e-6));
  // A ServedEncoder passes them through, under the wrapped encoder's parameter names.
  ServedEncoder served_encoder(enc);
  EXPECT_TRUE(torch::equal(served_encoder->encode(got).pooled, got.data));
  EXPECT_EQ(served_encoder->named_parameters().keys(), enc.module()->named_parameters().keys());
  // A clone holds its own copy: changing it leaves the wrapped encoder as it was.
  auto copy = std::dynamic_pointer_cast<ServedEncoderImpl>(served_encoder->clone());
  ASSERT_TRUE(copy);
  const torch::Tensor before = enc.module()->parameters()[0].clone();
  copy->parameters()[0].data().add_(1.0);
  EXPECT_TRUE(torch::equal(enc.module()->parameters()[0], before));
  data::set_precomputed(*ds, Modality::image, nullptr);

  // Same weights and options: every row comes from disk.
  FrozenFeatures again(ds, Modality::image, enc, "type: lenet", store);
  EXPECT_EQ(again.key(val->samples[0]), ff.key(val->samples[0]));
  const FrozenFeatureStats second = again.prepare({val}, 16);
  EXPECT_EQ(second.read, 24);
  EXPECT_EQ(second.computed, 0);
  // Other options, or one weight nudged: other keys, computed anew (and different rows).
  FrozenFeatures other_options(ds, Modality::image, enc, "type: lenet\npadding: same", store);
  EXPECT_NE(other_options.key(val->samples[0]), ff.key(val->samples[0]));
  {
    torch::NoGradGuard guard;
    enc.module()->parameters()[0].view(-1)[0].add_(0.5);
  }
  FrozenFeatures nudged(ds, Modality::image, enc, "type: lenet", store);
  EXPECT_NE(nudged.encoder_fingerprint(), ff.encoder_fingerprint());
  EXPECT_NE(nudged.key(val->samples[0]), ff.key(val->samples[0]));
  const FrozenFeatureStats third = nudged.prepare({val}, 16);
  EXPECT_EQ(third.computed, 24);
  EXPECT_EQ(third.read, 0);
}

TEST(FrozenFeatures, FullyFrozenNeedsEveryParameterUnderAPrefix) {
  torch::nn::Sequential net(torch::nn::Linear(2, 2), torch::nn::Linear(2, 2));
  EXPECT_TRUE(fully_frozen(*net, "0.", {"0."}));
  EXPECT_TRUE(fully_frozen(*net, "0.", {"0.weight", "0.bias"}));
  EXPECT_FALSE(fully_frozen(*net, "0.", {"0.weight"}));  // the bias still trains
  EXPECT_FALSE(fully_frozen(*net, "2.", {"2."}));        // no such parameters
}

// A run with the image encoder frozen for the whole run trained on the served rows ends like
// the same run computing the frozen encoder on every batch (cache_features: false).
TEST(FrozenFeatures, TrainingOnServedRowsMatchesTheLiveRun) {
  testing::SyntheticRun data;
  const std::string extra =
      "  transfer: {freeze: [encoders.image.], feature_cache: " + data.dir.file("fc") + "}\n";
  double test_loss[2];
  for (int live = 0; live < 2; ++live) {
    const std::string cfg = data.config(
        models::TaskKind::supervised,
        live ? "  transfer: {freeze: [encoders.image.], cache_features: false}\n" : extra);
    TrainRequest req;
    req.config = RunConfig::load(cfg);
    req.run_dir = data.dir.file(live ? "live" : "served");
    req.progress = false;
    const auto s = run_training(req).summary;
    test_loss[live] = s["test"]["targets"]["label"]["loss"].get<double>();
  }
  EXPECT_NEAR(test_loss[0], test_loss[1], 1e-4);

  // Frozen for the first epoch only: served, then the original encoder is put back and trains
  // (its weights leave the initial ones the whole-run-frozen model kept), under the same names.
  TrainRequest thaw;
  thaw.config = RunConfig::load(
      data.config(models::TaskKind::supervised,
                  "  transfer: {freeze: [encoders.image.], freeze_epochs: 1, feature_cache: " +
                      data.dir.file("fc") + "}\n  select: last\n"));
  thaw.run_dir = data.dir.file("thawed");
  thaw.progress = false;
  run_training(thaw);
  const auto frozen_w = load_safetensors(data.dir.file("served/model.safetensors")).tensors;
  const auto thawed_w = load_safetensors(data.dir.file("thawed/model.safetensors")).tensors;
  ASSERT_EQ(frozen_w.size(), thawed_w.size());
  int64_t moved = 0;
  for (const auto& [name, t] : frozen_w) {
    ASSERT_TRUE(thawed_w.count(name)) << name;
    if (name.rfind("encoders.image.", 0) == 0 && !torch::equal(t, thawed_w.at(name))) ++moved;
  }
  EXPECT_GT(moved, 0);
}

}  // namespace
}  // namespace mmfuse::train
