#include "mmfuse/eval/retrieval_metrics.h"

#include <algorithm>
#include <string>

#include "mmfuse/core/error.h"

namespace mmfuse::eval {

nlohmann::json RetrievalMetrics::to_json() const {
  nlohmann::json j = {{"queries", queries}, {"candidates", candidates}};
  for (const auto& [k, v] : recall) j["R@" + std::to_string(k)] = v;
  for (const auto& [k, v] : precision) j["P@" + std::to_string(k)] = v;
  j["median_rank"] = median_rank;
  j["mean_rank"] = mean_rank;
  j["mAP"] = map;
  return j;
}

RetrievalMetrics retrieval_metrics(const torch::Tensor& sim, const torch::Tensor& relevant,
                                   const std::vector<int64_t>& ks) {
  if (sim.dim() != 2 || !relevant.sizes().equals(sim.sizes())) {
    throw Error("retrieval_metrics expected sim [Q, C] and relevant of the same shape, got " +
                std::to_string(sim.dim()) + "-d sim and relevant of another shape");
  }
  for (int64_t k : ks) {
    if (k < 1) throw Error("retrieval_metrics: K must be >= 1, got " + std::to_string(k));
  }
  const torch::Tensor s = sim.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const torch::Tensor r = relevant.to(torch::kCPU, torch::kBool).contiguous();
  const int64_t Q = s.size(0), C = s.size(1);
  const double* sp = s.data_ptr<double>();
  const bool* rp = r.data_ptr<bool>();

  RetrievalMetrics m;
  m.candidates = C;
  for (int64_t k : ks) m.recall[k] = 0.0, m.precision[k] = 0.0;
  std::vector<double> first_ranks;
  std::vector<int64_t> order(static_cast<std::size_t>(C));
  std::vector<int64_t> rel_ranks;
  for (int64_t q = 0; q < Q; ++q) {
    const double* row = sp + q * C;
    const bool* rel = rp + q * C;
    // Candidates by descending score (stable: ties keep candidate order); the rank of a candidate
    // is 1 + the number scored strictly higher, i.e. 1 + the start of its tie group.
    for (int64_t c = 0; c < C; ++c) order[static_cast<std::size_t>(c)] = c;
    std::stable_sort(order.begin(), order.end(),
                     [row](int64_t a, int64_t b) { return row[a] > row[b]; });
    rel_ranks.clear();
    int64_t group_start = 0;
    for (int64_t i = 0; i < C; ++i) {
      const int64_t c = order[static_cast<std::size_t>(i)];
      if (i > 0 && row[c] < row[order[static_cast<std::size_t>(i - 1)]]) group_start = i;
      if (rel[c]) rel_ranks.push_back(group_start + 1);
    }
    if (rel_ranks.empty()) continue;
    ++m.queries;
    const int64_t first = rel_ranks.front();
    first_ranks.push_back(static_cast<double>(first));
    double ap = 0.0;
    for (std::size_t i = 0; i < rel_ranks.size(); ++i) {
      // relevant candidates with a rank <= this one (tied candidates share the best rank)
      const auto upto = std::upper_bound(rel_ranks.begin(), rel_ranks.end(), rel_ranks[i]);
      ap += static_cast<double>(upto - rel_ranks.begin()) / static_cast<double>(rel_ranks[i]);
    }
    m.map += ap / static_cast<double>(rel_ranks.size());
    // Precision@K over the top K of `order`.
    for (int64_t k : ks) {
      m.recall[k] += first <= k ? 1.0 : 0.0;
      int64_t hits = 0;
      for (int64_t i = 0; i < std::min(k, C); ++i) hits += rel[order[static_cast<std::size_t>(i)]];
      m.precision[k] += static_cast<double>(hits) / static_cast<double>(k);
    }
  }
  if (m.queries == 0) return m;
  const double n = static_cast<double>(m.queries);
  for (auto& [k, v] : m.recall) v /= n;
  for (auto& [k, v] : m.precision) v /= n;
  m.map /= n;
  double sum = 0.0;
  for (double f : first_ranks) sum += f;
  m.mean_rank = sum / n;
  std::sort(first_ranks.begin(), first_ranks.end());
  const std::size_t mid = first_ranks.size() / 2;
  m.median_rank =
      first_ranks.size() % 2 ? first_ranks[mid] : 0.5 * (first_ranks[mid - 1] + first_ranks[mid]);
  return m;
}

torch::Tensor pair_relevance(int64_t n) {
  return torch::eye(n, torch::kBool);
}

torch::Tensor label_relevance(const torch::Tensor& query_labels,
                              const torch::Tensor& candidate_labels) {
  const auto q = query_labels.to(torch::kLong).reshape({-1, 1});
  const auto c = candidate_labels.to(torch::kLong).reshape({1, -1});
  return (q == c) & (q >= 0);
}

}  // namespace mmfuse::eval
