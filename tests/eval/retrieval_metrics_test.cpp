// Retrieval metrics against values computed by hand.
#include <gtest/gtest.h>

#include "mmfuse/core/error.h"
#include "mmfuse/eval/retrieval_metrics.h"

namespace mmfuse::eval {
namespace {

// 3 queries x 4 candidates, query i's pair is candidate i.
//   q0: scores 0.9 0.1 0.2 0.3 -> its pair is first          -> rank 1
//   q1: scores 0.5 0.4 0.6 0.1 -> 0.5 and 0.6 above its 0.4  -> rank 3
//   q2: scores 0.8 0.7 0.1 0.9 -> three above its 0.1        -> rank 4
torch::Tensor three_queries() {
  return torch::tensor({0.9, 0.1, 0.2, 0.3, 0.5, 0.4, 0.6, 0.1, 0.8, 0.7, 0.1, 0.9}, torch::kDouble)
      .reshape({3, 4});
}

TEST(RetrievalMetrics, PairedRanksByHand) {
  torch::Tensor rel = torch::zeros({3, 4}, torch::kBool);
  for (int i = 0; i < 3; ++i) rel[i][i] = true;
  const auto m = retrieval_metrics(three_queries(), rel, {1, 2, 3});
  EXPECT_EQ(m.queries, 3);
  EXPECT_EQ(m.candidates, 4);
  EXPECT_DOUBLE_EQ(m.recall.at(1), 1.0 / 3);  // only q0
  EXPECT_DOUBLE_EQ(m.recall.at(2), 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.recall.at(3), 2.0 / 3);  // q0, q1
  EXPECT_DOUBLE_EQ(m.median_rank, 3.0);       // ranks 1, 3, 4
  EXPECT_DOUBLE_EQ(m.mean_rank, 8.0 / 3);
  EXPECT_DOUBLE_EQ(m.map, (1.0 + 1.0 / 3 + 1.0 / 4) / 3);  // one relevant each: AP = 1 / rank
  EXPECT_DOUBLE_EQ(m.precision.at(1), 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.precision.at(3), (1.0 / 3 + 1.0 / 3 + 0.0) / 3);
}

TEST(RetrievalMetrics, LabelRelevanceAveragePrecisionByHand) {
  // One query, 5 candidates scored 5..1 in order; relevant at positions 1, 3 and 4 (0-based 0,2,3)
  // -> ranks 1, 3, 4: AP = (1/1 + 2/3 + 3/4) / 3; P@2 = 1/2; P@5 = 3/5.
  const auto sim = torch::tensor({5.0, 4.0, 3.0, 2.0, 1.0}).reshape({1, 5});
  const auto rel = label_relevance(torch::tensor({7}), torch::tensor({7, 1, 7, 7, 2}));
  EXPECT_TRUE(rel.equal(torch::tensor({true, false, true, true, false}).reshape({1, 5})));
  const auto m = retrieval_metrics(sim, rel, {1, 2, 5});
  EXPECT_NEAR(m.map, (1.0 + 2.0 / 3 + 3.0 / 4) / 3, 1e-12);
  EXPECT_DOUBLE_EQ(m.precision.at(1), 1.0);
  EXPECT_DOUBLE_EQ(m.precision.at(2), 0.5);
  EXPECT_DOUBLE_EQ(m.precision.at(5), 0.6);
  EXPECT_DOUBLE_EQ(m.recall.at(1), 1.0);
  EXPECT_DOUBLE_EQ(m.median_rank, 1.0);
}

TEST(RetrievalMetrics, TiesCountInTheQuerysFavourAsThePeerDoes) {
  // All scores equal: the peer's rank = #(sim > diag) = 0 -> every query at rank 1.
  const auto m = retrieval_metrics(torch::ones({4, 4}), pair_relevance(4), {1});
  EXPECT_DOUBLE_EQ(m.recall.at(1), 1.0);
  EXPECT_DOUBLE_EQ(m.median_rank, 1.0);
}

TEST(RetrievalMetrics, QueriesWithoutRelevantCandidatesAreLeftOut) {
  // Label -1 (unknown) never matches: only the first query counts.
  const auto rel = label_relevance(torch::tensor({3, -1}), torch::tensor({3, -1, 4}));
  EXPECT_FALSE(rel[1].any().item<bool>());
  const auto sim = torch::tensor({0.1, 0.9, 0.5, 0.3, 0.2, 0.1}).reshape({2, 3});
  const auto m = retrieval_metrics(sim, rel, {1, 2});
  EXPECT_EQ(m.queries, 1);
  EXPECT_DOUBLE_EQ(m.recall.at(1), 0.0);  // its relevant candidate is third
  EXPECT_DOUBLE_EQ(m.median_rank, 3.0);
}

TEST(RetrievalMetrics, BothDirectionsDifferOnAnAsymmetricMatrix) {
  const auto sim = three_queries().narrow(1, 0, 3);  // [3, 3]
  const auto fwd = retrieval_metrics(sim, pair_relevance(3), {1});
  const auto bwd = retrieval_metrics(sim.t(), pair_relevance(3), {1});
  // rows 0.9 0.1 0.2 / 0.5 0.4 0.6 / 0.8 0.7 0.1
  // forward ranks: q0 1, q1 3 (0.5, 0.6 above 0.4), q2 3 (0.8, 0.7 above 0.1);
  // backward (columns): c0 1 (0.9 top), c1 2 (0.7 above 0.4), c2 3 (0.2, 0.6 above 0.1)
  EXPECT_DOUBLE_EQ(fwd.mean_rank, 7.0 / 3);
  EXPECT_DOUBLE_EQ(bwd.mean_rank, 2.0);
}

TEST(RetrievalMetrics, ShapeMismatchThrows) {
  EXPECT_THROW(retrieval_metrics(torch::zeros({2, 3}), pair_relevance(2)), Error);
  EXPECT_THROW(retrieval_metrics(torch::zeros({2, 2}), pair_relevance(2), {0}), Error);
}

TEST(RetrievalMetrics, JsonNamesEveryValue) {
  const auto j = retrieval_metrics(three_queries(), label_relevance(torch::tensor({0, 1, 2}),
                                                                    torch::tensor({0, 1, 2, 3})))
                     .to_json();
  for (const char* key : {"R@1", "R@5", "R@10", "P@10", "median_rank", "mAP", "queries"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_DOUBLE_EQ(j["R@5"].get<double>(), 1.0);  // 4 candidates: everything is in the top 5
}

}  // namespace
}  // namespace mmfuse::eval
