// Retrieval metrics from a similarity matrix and a relevance mask.
//
//   sim [Q, C]: score of candidate c for query q (higher = better)
//   relevant [Q, C] bool: whether candidate c answers query q. Paired retrieval (text i <-> image
//   i) uses pair_relevance(N) (the identity); label-based retrieval (a spoken digit retrieves
//   images of the same digit) uses label_relevance.
//
// Definitions (per query, then averaged over the queries that have >= 1 relevant candidate):
//   rank of a candidate: 1 + the number of candidates with a strictly higher score (ties count
//     in the query's favour, as the peer's `(sim > diag).sum()` does);
//   first rank: the rank of the best-ranked relevant candidate;
//   recall@K: 1 if first rank <= K, else 0;
//   precision@K: relevant candidates among the K best-scored / K (ties broken by candidate index);
//   average precision: mean over the relevant candidates r of (relevant with rank <= rank(r)) /
//     rank(r); mAP is its mean; median rank: the median of the first ranks.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace mmfuse::eval {

struct RetrievalMetrics {
  int64_t queries = 0;                  ///< queries with at least one relevant candidate
  int64_t candidates = 0;               ///< C
  std::map<int64_t, double> recall;     ///< K -> recall@K
  std::map<int64_t, double> precision;  ///< K -> precision@K
  double median_rank = 0.0;             ///< of the first relevant candidate, 1-based
  double mean_rank = 0.0;
  double map = 0.0;  ///< mean average precision

  /// {"queries", "candidates", "R@1", ..., "P@10", ..., "median_rank", "mean_rank", "mAP"}
  nlohmann::json to_json() const;
};

/// Requires: sim [Q, C] floating, relevant [Q, C] bool of the same shape, ks >= 1.
/// Throws Error when the shapes disagree. Queries without a relevant candidate are left out.
RetrievalMetrics retrieval_metrics(const torch::Tensor& sim, const torch::Tensor& relevant,
                                   const std::vector<int64_t>& ks = {1, 5, 10});

/// [N, N] bool identity: query i's match is candidate i.
torch::Tensor pair_relevance(int64_t n);

/// query_labels [Q], candidate_labels [C] int64 -> [Q, C] bool (equal labels; label < 0 never
/// matches).
torch::Tensor label_relevance(const torch::Tensor& query_labels,
                              const torch::Tensor& candidate_labels);

}  // namespace mmfuse::eval
