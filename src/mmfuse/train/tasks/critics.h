// The networks a translator trains beside itself (task: translate), each with its own optimizer:
// the conditional GAN's discriminator and the class-consistency classifier (AC-GAN's auxiliary
// classifier, models/target_classifier.h). Their gradients are averaged across processes with
// the loop's GradientAverager before each of their steps.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/models/target_classifier.h"
#include "mmfuse/models/translate_networks.h"
#include "mmfuse/models/translator.h"
#include "mmfuse/train/task.h"

namespace mmfuse::train {

class Critics {
 public:
  /// Builds what `cfg` asks for (none, a discriminator, a consistency classifier, or both) on
  /// `device`. `classes`: of the label the consistency classifier learns (0: none).
  Critics(const models::TranslateConfig& cfg, const std::vector<int64_t>& target_shape,
          int64_t classes, const ConfigNode& translate_node, const torch::Device& device);

  bool has_discriminator() const { return static_cast<bool>(disc_); }
  bool has_classifier() const { return static_cast<bool>(aux_); }
  models::TargetClassifier classifier() const { return aux_; }

  /// One discriminator step on real vs generated targets (`samples` of this process); -> the
  /// generator's adversarial loss on `fake`.
  torch::Tensor adversarial(const torch::Tensor& real, const torch::Tensor& fake,
                            const torch::Tensor& code, const TaskContext& ctx);
  /// One classifier step on the real targets, then -> the cross-entropy of the generated ones
  /// against the source's class `y` (-1: unlabelled), classified in eval mode; undefined when no
  /// row is labelled.
  torch::Tensor consistency(const torch::Tensor& real, const torch::Tensor& fake,
                            const torch::Tensor& y, const TaskContext& ctx);
  /// A process without pairs in this batch still takes part in the steps' averaging.
  void skip_step(const TaskContext& ctx);

  void train();
  /// Counts a trained batch (the epoch means divide by it).
  void end_batch() { ++batches_; }
  std::vector<Companion> companions();
  /// Epoch means of the critics' losses ({} when none).
  nlohmann::json epoch_fields() const;
  void reset_epoch() { disc_loss_sum_ = aux_loss_sum_ = 0, batches_ = 0; }
  nlohmann::json state() const;
  void load_state(const nlohmann::json& state);
  void save(const std::string& run_dir) const;

 private:
  models::ConvDiscriminator disc_{nullptr};
  std::unique_ptr<torch::optim::Adam> disc_opt_;
  models::TargetClassifier aux_{nullptr};
  std::unique_ptr<torch::optim::Adam> aux_opt_;
  double disc_loss_sum_ = 0, aux_loss_sum_ = 0;
  int64_t batches_ = 0;
};

/// Cross-entropy over the rows whose class is known (y = -1: skipped).
torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& y);

}  // namespace mmfuse::train
