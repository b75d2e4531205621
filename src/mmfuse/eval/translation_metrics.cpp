#include "mmfuse/eval/translation_metrics.h"

namespace mmfuse::eval {

namespace F = torch::nn::functional;

std::optional<Paired> paired(const data::Batch& batch, Modality source, Modality target,
                             const torch::Device& device) {
  if (!batch.has(source) || !batch.has(target)) return std::nullopt;
  const auto& s = batch.at(source);
  const auto& t = batch.at(target);
  auto rows = (s.present & t.present).nonzero().squeeze(1);  // [N]
  if (rows.numel() == 0) return std::nullopt;
  Paired p;
  p.rows = rows;
  p.source.data = s.data.index_select(0, rows).to(device);
  p.source.present = s.present.index_select(0, rows).to(device);
  if (s.lengths.defined()) p.source.lengths = s.lengths.index_select(0, rows).to(device);
  p.target = t.data.index_select(0, rows).to(device, torch::kFloat);
  return p;
}

ReconMetrics reconstruction_metrics(models::Translator& model, data::Loader& loader,
                                    const models::TranslateConfig& cfg,
                                    const ReconOptions& options) {
  torch::NoGradGuard no_grad;
  model->eval();
  loader.seek({0, 0});
  // squared error, bce, elements, correct, labelled, recognised, samples, has_class
  std::vector<double> s(8, 0.0);
  while (auto batch = loader.next()) {
    auto p = paired(*batch, cfg.source, cfg.target, options.device);
    if (!p) continue;
    const auto out = model->forward(p->source);
    const auto& logits = out.logits;
    const auto generated = torch::sigmoid(logits);
    if (!options.label.empty()) {
      const auto y =
          batch->targets.at(options.label).index_select(0, p->rows).to(options.device);  // [B]
      const auto known = y >= 0;
      s[4] += known.sum().item<double>();
      if (out.class_logits.defined()) {
        s[7] = 1;
        s[3] += (out.class_logits.argmax(1).eq(y) & known).sum().item<double>();
      }
      if (options.recognise) {
        s[5] += (options.recognise(generated).argmax(1).eq(y) & known).sum().item<double>();
      }
    }
    s[0] += (generated - p->target).pow(2).sum().item<double>();
    s[1] +=
        F::binary_cross_entropy_with_logits(
            logits, p->target, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum))
            .item<double>();
    s[2] += static_cast<double>(p->target.numel());
    s[6] += static_cast<double>(p->target.size(0));
  }
  if (options.collective) options.collective->sum(s);
  ReconMetrics m;
  m.samples = static_cast<int64_t>(s[6]);
  if (s[2] > 0) m.mse = s[0] / s[2], m.bce = s[1] / s[2];
  if (s[4] > 0 && s[7] > 0) m.class_accuracy = s[3] / s[4];
  if (s[4] > 0 && options.recognise) m.aux_recognition = s[5] / s[4];
  return m;
}

}  // namespace mmfuse::eval
