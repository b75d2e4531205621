// Retrieval ensembles (models/two_tower.h): two-tower models over tabular queries and text
// candidates combined; the ensemble's embeddings are the members' concatenated and divided by
// sqrt(K), so their cosine scores are the mean of the members' scores; members whose encoders
// hold the same weights share one pass of them.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/models/two_tower.h"

namespace mmfuse::models {
namespace {

TwoTower tower_pair(const std::string& modalities, int64_t dim, uint64_t seed) {
  torch::manual_seed(seed);
  const auto root =
      ConfigNode::parse("retrieval: {modalities: " + modalities + ", dim: " + std::to_string(dim) +
                            "}\n"
                            "model:\n  encoders:\n"
                            "    tabular: {type: mlp, hidden: [5]}\n"
                            "    text: {type: embedding, dim: 6}\n",
                        "ensemble_member.yaml");
  ModelInputs in;
  in.modalities[Modality::tabular] = {{4}, 0, {}};
  in.modalities[Modality::text] = {{-1}, 30, {}};
  auto t = build_two_tower(RetrievalConfig::from_config(root), root["model"], in);
  t->eval();
  return t;
}

data::ModalityBatch tower_batch(const torch::Tensor& x) {
  return data::ModalityBatch{x, torch::ones({x.size(0)}, torch::kBool), {}};
}

TEST(TwoTowerEnsemble, CosineScoresAreTheMeanOfTheMembers) {
  auto a = tower_pair("[tabular, text]", 8, 1), b = tower_pair("[tabular, text]", 3, 2);
  TwoTower e(
      std::make_shared<TwoTowerImpl>(std::vector<std::shared_ptr<TwoTowerImpl>>{a.ptr(), b.ptr()}));
  e->eval();
  EXPECT_EQ(e->dim(), 8 + 3);
  EXPECT_EQ(e->query_modality(), Modality::tabular);
  EXPECT_EQ(e->candidate_modality(), Modality::text);
  torch::NoGradGuard no_grad;
  const auto q = tower_batch(torch::randn({5, 4}));
  const auto c = tower_batch(torch::randint(1, 30, {7, 4}, torch::kLong));
  const auto eq = e->embed(Modality::tabular, q), ec = e->embed(Modality::text, c);
  ASSERT_EQ(eq.sizes(), (std::vector<int64_t>{5, 11}));
  EXPECT_LE((eq.norm(2, 1) - 1).abs().max().item<double>(), 1e-5);
  const auto sa = torch::mm(a->embed(Modality::tabular, q), a->embed(Modality::text, c).t());
  const auto sb = torch::mm(b->embed(Modality::tabular, q), b->embed(Modality::text, c).t());
  EXPECT_LE((torch::mm(eq, ec.t()) - (sa + sb) / 2).abs().max().item<double>(), 1e-5);
  // The state holds each member under members.N. and the mean log scale.
  auto params = e->named_parameters();
  EXPECT_NE(params.find("members.1.log_scale"), nullptr);
  EXPECT_NEAR(e->log_scale.item<double>(),
              (a->log_scale.item<double>() + b->log_scale.item<double>()) / 2, 1e-6);
}

TEST(TwoTowerEnsemble, MembersWithTheSameEncoderWeightsShareOnePass) {
  // c: b's encoders copied in, its own projections. Nothing is shared until the caller says so
  // (runtime/ensemble.cpp compares weights and options); then b's encoders run once for both,
  // and the members' embeddings still come side by side.
  auto a = tower_pair("[tabular, text]", 4, 1), b = tower_pair("[tabular, text]", 4, 2);
  auto c = tower_pair("[tabular, text]", 4, 3);
  {
    torch::NoGradGuard no_grad;
    auto from = b->named_parameters();
    for (auto& p : c->named_parameters()) {
      if (p.key().rfind("encoders.", 0) == 0) p.value().copy_(from[p.key()]);
    }
  }
  TwoTower e(std::make_shared<TwoTowerImpl>(
      std::vector<std::shared_ptr<TwoTowerImpl>>{a.ptr(), b.ptr(), c.ptr()}));
  e->eval();
  EXPECT_EQ(e->shared_encoder_of(Modality::tabular), (std::vector<std::size_t>{0, 1, 2}));
  e->share_encoders(Modality::tabular, {0, 1, 1});  // the loader finds these (runtime)
  EXPECT_EQ(e->shared_encoder_of(Modality::tabular), (std::vector<std::size_t>{0, 1, 1}));
  EXPECT_EQ(e->shared_encoder_of(Modality::text), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_THROW(e->share_encoders(Modality::text, {0, 2, 2}), Error);   // a later member
  EXPECT_THROW(e->share_encoders(Modality::text, {0, 0}), Error);      // one entry short
  EXPECT_THROW(e->share_encoders(Modality::image, {0, 1, 2}), Error);  // not embedded
  torch::NoGradGuard no_grad;
  const auto q = tower_batch(torch::randn({3, 4}));
  const auto hand = torch::cat({a->embed(Modality::tabular, q), b->embed(Modality::tabular, q),
                                c->embed(Modality::tabular, q)},
                               1) /
                    std::sqrt(3.0);
  EXPECT_LE((e->embed(Modality::tabular, q) - hand).abs().max().item<double>(), 1e-6);
  EXPECT_GT(
      (b->embed(Modality::tabular, q) - c->embed(Modality::tabular, q)).abs().max().item<double>(),
      1e-3);  // the projections really differ
}

TEST(TwoTowerEnsemble, MembersWithOtherModalitiesAreAnError) {
  auto a = tower_pair("[tabular, text]", 4, 1), b = tower_pair("[text, tabular]", 4, 2);
  try {
    TwoTowerImpl e(std::vector<std::shared_ptr<TwoTowerImpl>>{a.ptr(), b.ptr()});
    FAIL() << "expected an Error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what())
                  .find("member 1 embeds text -> tabular, member 0 tabular "
                        "-> text"),
              std::string::npos)
        << err.what();
  }
  EXPECT_THROW(TwoTowerImpl(std::vector<std::shared_ptr<TwoTowerImpl>>{}), Error);
}

}  // namespace
}  // namespace mmfuse::models
