#include "mmfuse/eval/retrieval_eval.h"

#include "mmfuse/core/error.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/eval/retrieval_metrics.h"

namespace mmfuse::eval {

using nlohmann::json;

Embeddings embed_samples(models::TwoTower& model,
                         const std::shared_ptr<const data::Dataset>& dataset,
                         const std::shared_ptr<const data::SampleSet>& samples, Modality m,
                         const std::string& label_target, const EmbedOptions& options) {
  auto subset = std::make_shared<data::SampleSet>();
  subset->split = samples->split;
  Embeddings out;
  for (std::size_t i = 0; i < samples->samples.size(); ++i) {
    if (!samples->samples[i].has(m)) continue;
    subset->samples.push_back(samples->samples[i]);
    out.rows.push_back(static_cast<int64_t>(i));
  }
  data::LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = false;
  lo.threads = options.threads;
  data::Loader loader(dataset, subset, lo);
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts, labels;
  while (auto batch = loader.next()) {
    parts.push_back(model->embed(m, batch->at(m)).to(torch::kCPU, torch::kFloat));
    out.ids.insert(out.ids.end(), batch->ids.begin(), batch->ids.end());
    if (!label_target.empty()) {
      auto t = batch->targets.find(label_target);
      if (t == batch->targets.end()) {
        throw Error("retrieval.labels: the data has no class target '" + label_target +
                    "'; name one of the dataset spec's targets");
      }
      labels.push_back(t->second.to(torch::kCPU, torch::kLong));
    }
  }
  model->train(was_training);
  if (const auto bad = loader.bad(); !bad.empty()) {
    throw Error(std::to_string(bad.size()) +
                " sample(s) could not be embedded; first: " + bad.front().message());
  }
  const Collective& group = options.collective ? *options.collective : single_process();
  out.vectors = group.gather(parts.empty() ? torch::zeros({0, model->dim()}) : torch::cat(parts));
  if (!label_target.empty()) {
    out.labels =
        group.gather(labels.empty() ? torch::zeros({0}, torch::kLong) : torch::cat(labels));
  }
  return out;
}

json evaluate_retrieval(models::TwoTower& model, const std::shared_ptr<const data::Dataset>& ds,
                        const std::shared_ptr<const data::SampleSet>& samples,
                        const models::RetrievalConfig& rc, const EmbedOptions& options) {
  auto both = std::make_shared<data::SampleSet>();
  both->split = samples->split;
  for (const auto& s : samples->samples) {
    if (s.has(rc.query) && s.has(rc.candidate)) both->samples.push_back(s);
  }
  const Embeddings q = embed_samples(model, ds, both, rc.query, rc.labels, options);
  const Embeddings c = embed_samples(model, ds, both, rc.candidate, rc.labels, options);
  if (q.vectors.size(0) == 0) {
    throw Error("no sample has both " + std::string(to_string(rc.query)) + " and " +
                std::string(to_string(rc.candidate)) + "; nothing to evaluate");
  }
  const torch::Tensor sim = torch::matmul(q.vectors, c.vectors.t());  // [N, N]
  const torch::Tensor rel =
      rc.labels.empty() ? pair_relevance(q.vectors.size(0)) : label_relevance(q.labels, c.labels);
  const RetrievalMetrics forward = retrieval_metrics(sim, rel, rc.ks);
  const RetrievalMetrics backward = retrieval_metrics(sim.t(), rel.t(), rc.ks);
  double select = 0.0;
  if (rc.labels.empty()) {
    for (int64_t k : rc.ks) select += forward.recall.at(k) + backward.recall.at(k);
    select /= 2.0 * static_cast<double>(rc.ks.size());
  } else {
    select = 0.5 * (forward.precision.at(rc.ks.back()) + backward.precision.at(rc.ks.back()));
  }
  const std::string qn(to_string(rc.query)), cn(to_string(rc.candidate));
  return {{qn + "_to_" + cn, forward.to_json()},
          {cn + "_to_" + qn, backward.to_json()},
          {"n", q.vectors.size(0)},
          {"select", select},
          {"select_metric", rc.select_metric_name()}};
}

}  // namespace mmfuse::eval
