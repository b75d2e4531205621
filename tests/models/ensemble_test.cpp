// Ensembles (models/ensemble.h) on members whose class probabilities are set by hand (identity
// encoder over tabular input + a linear head with identity weights: logits = the input): the
// mean of probabilities, the vote with its tie rules, an ensemble of one, and heads that differ.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mmfuse/core/error.h"
#include "mmfuse/models/build.h"
#include "mmfuse/models/ensemble.h"

namespace mmfuse::models {
namespace {

// A member whose logits for class k are the input's column k (+ `shift`, which leaves the
// probabilities unchanged), K = `classes`.
MultimodalModel logits_member(int64_t classes, double shift = 0.0, bool regression = false) {
  const std::string k = std::to_string(classes);
  const std::string yaml = "inputs: {tabular: [" + k + "]}\ntargets: {y: {type: " +
                           (regression ? "regression, size: " : "class, classes: ") + k +
                           "}}\nmodel:\n  encoders: {tabular: {type: identity}}\n"
                           "  heads: {y: {type: linear}}\n";
  auto model = build_model_from_config(ConfigNode::parse(yaml, "member.yaml"));
  torch::NoGradGuard no_grad;
  auto params = model->named_parameters();
  for (auto& p : params) {
    if (p.key().find("weight") != std::string::npos) p.value().copy_(torch::eye(classes));
    if (p.key().find("bias") != std::string::npos) p.value().fill_(shift);
  }
  model->eval();
  return model;
}

data::Batch ensemble_batch(const torch::Tensor& x) {
  data::Batch b;
  b.ids.resize(static_cast<std::size_t>(x.size(0)));
  b.inputs[index_of(Modality::tabular)] =
      data::ModalityBatch{x, torch::ones({x.size(0)}, torch::kBool), {}};
  return b;
}

TEST(Ensemble, MeanOfTwoEqualsTheHandAveragedProbabilities) {
  torch::manual_seed(0);
  const auto x = torch::randn({5, 4});
  auto a = logits_member(4);
  auto b = logits_member(4);
  {  // b: logits = 2 x + 1 (other probabilities than a's)
    torch::NoGradGuard no_grad;
    for (auto& p : b->named_parameters()) {
      if (p.key().find("weight") != std::string::npos) p.value().mul_(2.0);
      if (p.key().find("bias") != std::string::npos) p.value().fill_(1.0);
    }
  }
  auto e = make_ensemble({a, b}, {"a", "b"}, EnsembleMode::mean);
  e->eval();
  torch::NoGradGuard no_grad;
  const auto got = torch::softmax(e->forward(ensemble_batch(x)).outputs.at("y"), 1);
  const auto hand = (torch::softmax(x, 1) + torch::softmax(2 * x + 1, 1)) / 2;
  EXPECT_LE((got - hand).abs().max().item<double>(), 1e-6);
  EXPECT_EQ(e->modalities(), std::vector<Modality>{Modality::tabular});
  EXPECT_EQ(e->heads().front().head->out_dim(), 4);
}

TEST(Ensemble, OfOneRunEqualsTheRun) {
  torch::manual_seed(1);
  const auto x = torch::randn({6, 3}) * 3;
  auto a = logits_member(3, /*shift=*/0.5);
  for (const auto mode : {EnsembleMode::mean, EnsembleMode::vote}) {
    auto e = make_ensemble({a}, {"a"}, mode);
    e->eval();
    torch::NoGradGuard no_grad;
    const auto got = torch::softmax(e->forward(ensemble_batch(x)).outputs.at("y"), 1);
    const auto own = torch::softmax(a->forward(ensemble_batch(x)).outputs.at("y"), 1);
    EXPECT_TRUE(torch::equal(got.argmax(1), own.argmax(1)));
    if (mode == EnsembleMode::mean) EXPECT_LE((got - own).abs().max().item<double>(), 1e-6);
  }
}

// Three members over the same input: logits = w_i * x (w = 1, 1, -1), so two members agree and
// the third prefers the opposite extreme.
TEST(Ensemble, VoteCountsThenMeanProbabilityThenLowerIndex) {
  auto a = logits_member(3), b = logits_member(3), c = logits_member(3);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : c->named_parameters()) {
      if (p.key().find("weight") != std::string::npos) p.value().mul_(-1.0);
    }
  }
  torch::NoGradGuard no_grad;
  // Row 0: a, b vote 2 (weakly), c votes 0 with near certainty: 2 votes beat any confidence.
  // Row 1: a, b vote for 1; c votes for 0 -> 1.
  const auto x = torch::tensor({{0.0f, 0.1f, 0.2f}, {0.0f, 5.0f, 1.0f}});
  auto e = make_ensemble({a, b, c}, {"a", "b", "c"}, EnsembleMode::vote);
  e->eval();
  const auto p = torch::softmax(e->forward(ensemble_batch(x)).outputs.at("y"), 1);
  EXPECT_EQ(p.argmax(1)[0].item<int64_t>(), 2);
  EXPECT_EQ(p.argmax(1)[1].item<int64_t>(), 1);
  // Probabilities: (votes + mean probability) / (members + 1), summing to 1.
  const auto members =
      torch::stack({torch::softmax(x, 1), torch::softmax(x, 1), torch::softmax(-x, 1)});
  const auto mean = members.mean(0);
  const auto votes0 = torch::tensor({1.0f, 0.0f, 2.0f});
  EXPECT_LE(((votes0 + mean[0]) / 4 - p[0]).abs().max().item<double>(), 1e-6);
  EXPECT_LE((p.sum(1) - 1).abs().max().item<double>(), 1e-6);

  // A tie in votes (a: class 2, c: class 0) goes to the higher mean probability: x = (0, 0, 1)
  // gives a [.21, .21, .58] and c [.42, .42, .16] -> mean favours 2 (0.37 vs 0.32).
  auto tie = make_ensemble({a, c}, {"a", "c"}, EnsembleMode::vote);
  tie->eval();
  const auto q = torch::softmax(
      tie->forward(ensemble_batch(torch::tensor({{0.0f, 0.0f, 1.0f}}))).outputs.at("y"), 1);
  EXPECT_EQ(q.argmax(1).item<int64_t>(), 2);
  // An exact tie of votes and mean: two classes, a = softmax(x) and c = softmax(-x) mirror each
  // other, so a votes 0, c votes 1 and both means are 0.5: the lower index, 0, wins.
  auto a2 = logits_member(2), c2 = logits_member(2);
  for (auto& p : c2->named_parameters()) {
    if (p.key().find("weight") != std::string::npos) p.value().mul_(-1.0);
  }
  auto mirror = make_ensemble({c2, a2}, {"c2", "a2"}, EnsembleMode::vote);
  mirror->eval();
  const auto r = torch::softmax(
      mirror->forward(ensemble_batch(torch::tensor({{0.5f, -0.5f}}))).outputs.at("y"), 1);
  EXPECT_FLOAT_EQ(r[0][0].item<float>(), r[0][1].item<float>());
  EXPECT_EQ(r.argmax(1).item<int64_t>(), 0);
}

TEST(Ensemble, MembersWithOtherHeadsAreAnErrorNamingBoth) {
  auto a = logits_member(3), b = logits_member(4);
  try {
    make_ensemble({a, b}, {"runs/a", "runs/b"}, EnsembleMode::mean);
    FAIL() << "members with 3 and 4 classes were combined";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("runs/a"), std::string::npos) << msg;
    EXPECT_NE(msg.find("runs/b"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4 outputs"), std::string::npos) << msg;
  }
  auto r = logits_member(2, 0.0, /*regression=*/true);
  EXPECT_THROW(make_ensemble({r}, {"r"}, EnsembleMode::vote), Error);
  EXPECT_THROW(ensemble_mode_from_string("median"), UsageError);
}

}  // namespace
}  // namespace mmfuse::models
