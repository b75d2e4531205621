#include "mmfuse/train/losses.h"

namespace mmfuse::train {

namespace F = torch::nn::functional;

LossOptions LossOptions::from_config(const ConfigNode& cfg, heads::TaskKind task, int64_t classes) {
  LossOptions o;
  switch (task) {
    case heads::TaskKind::classification:
      o.kind = LossKind::cross_entropy;
      break;
    case heads::TaskKind::multilabel:
      o.kind = LossKind::bce;
      break;
    default:
      o.kind = LossKind::mse;
  }
  if (cfg.is_null()) return o;
  cfg.check_keys({"type", "label_smoothing", "class_weights"});
  if (cfg.has("type")) {
    const auto type = cfg.get<std::string>("type");
    if (type == "cross_entropy") {
      o.kind = LossKind::cross_entropy;
    } else if (type == "mse") {
      o.kind = LossKind::mse;
    } else if (type == "l1") {
      o.kind = LossKind::l1;
    } else if (type == "bce") {
      o.kind = LossKind::bce;
    } else {
      cfg["type"].fail("unknown loss '" + type + "'; known: cross_entropy, mse, l1, bce");
    }
  }
  const bool class_task = task == heads::TaskKind::classification;
  if (o.kind == LossKind::cross_entropy && !class_task) {
    cfg["type"].fail("cross_entropy needs a class target");
  }
  o.label_smoothing = cfg.get<double>("label_smoothing", 0.0);
  if (o.label_smoothing < 0.0 || o.label_smoothing >= 1.0) {
    cfg["label_smoothing"].fail("expected a value in [0, 1)");
  }
  o.class_weights = cfg.get<std::vector<double>>("class_weights", {});
  if (!o.class_weights.empty() && static_cast<int64_t>(o.class_weights.size()) != classes) {
    cfg["class_weights"].fail("expected " + std::to_string(classes) +
                              " weights (one per class), got " +
                              std::to_string(o.class_weights.size()));
  }
  return o;
}

torch::Tensor task_loss(const LossOptions& o, const torch::Tensor& output,
                        const torch::Tensor& target) {
  const auto zero = output.sum() * 0.0;
  if (o.kind == LossKind::cross_entropy) {
    TORCH_CHECK(output.dim() == 2 && target.dim() == 1 && target.size(0) == output.size(0),
                "cross_entropy expects logits [B, C] and targets [B], got ", output.sizes(),
                " and ", target.sizes());
    auto known = target >= 0;
    if (!known.any().item<bool>()) return zero;
    auto opts = F::CrossEntropyFuncOptions().ignore_index(-1).label_smoothing(o.label_smoothing);
    if (!o.class_weights.empty()) {
      opts.weight(torch::tensor(o.class_weights, output.options()));
    }
    return F::cross_entropy(output, target, opts);
  }
  auto tgt = target.to(output.dtype());
  if (tgt.dim() == 1 && output.dim() == 2) tgt = tgt.unsqueeze(1);
  TORCH_CHECK(tgt.sizes() == output.sizes(), "loss expects targets shaped like the output ",
              output.sizes(), ", got ", target.sizes());
  auto known = ~torch::isnan(tgt);
  const auto n = known.sum();
  if (n.item<int64_t>() == 0) return zero;
  auto safe = torch::where(known, tgt, torch::zeros_like(tgt));
  torch::Tensor per;
  switch (o.kind) {
    case LossKind::mse:
      per = (output - safe).square();
      break;
    case LossKind::l1:
      per = (output - safe).abs();
      break;
    default:
      per = F::binary_cross_entropy_with_logits(
          output, safe, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone));
  }
  return torch::where(known, per, torch::zeros_like(per)).sum() / n.to(output.dtype());
}

}  // namespace mmfuse::train
