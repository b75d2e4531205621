// The "tabular" data pipeline: a vector of numbers -> [D] float32, checked for dimension and
// finiteness (extract) -> Gaussian feature noise (augment, training only) -> per-feature
// standardisation (x - mean) / std fitted on the training split (finalize).
//
// Config (all optional):
//   dim: 12             # expected number of values; absent: taken from the training split
//   standardize: true   # per-feature (population) mean/std from the training split; std 0 -> 1
//   augment: {noise_std: 0.1}   # in units of each feature's fitted std
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/data/pipeline.h"
#include "mmfuse/data/pipeline_registry.h"

namespace mmfuse::data::tabular {

struct TabularOptions {
  int64_t dim = 0;  ///< 0: fitted from the training split
  bool standardize = true;
  double noise_std = 0.0;

  static TabularOptions parse(const ConfigNode& cfg);
};

class TabularPipeline : public ModalityPipeline {
 public:
  static constexpr const char* kName = "tabular";
  static constexpr const char* kDescription =
      "numeric feature vectors -> [D] float32, standardised per feature on the training split";
  static std::shared_ptr<TabularPipeline> create(const PipelineContext& ctx, const ConfigNode& cfg);

  explicit TabularPipeline(TabularOptions options);

  Modality modality() const override { return Modality::tabular; }
  bool cacheable() const override { return false; }
  std::string cache_key() const override;

  /// Sets the dimension (when not configured) and the per-feature mean/std.
  void fit(const FitContext& ctx) override;
  /// numbers -> [D] float32. Throws InputError for a wrong dimension ("expected 12 values, got
  /// 11") or a NaN/Inf ("value 3 is NaN").
  torch::Tensor extract(const Field& field) const override;
  /// x + noise_std * std[j] * N(0, 1) per feature j.
  torch::Tensor augment(const Field& field, const torch::Tensor& features, Rng& rng) const override;
  /// (x - mean) / std. Requires: fitted or loaded when standardize is on.
  torch::Tensor finalize(const torch::Tensor& features) const override;
  /// [D] (-1 before the dimension is known).
  std::vector<int64_t> item_shape() const override { return {dim_ > 0 ? dim_ : -1}; }

  /// {"dim", "mean": [...], "std": [...]}.
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

  int64_t dim() const { return dim_; }
  const torch::Tensor& mean() const { return mean_; }   ///< [D]; undefined before fit
  const torch::Tensor& stddev() const { return std_; }  ///< [D]; undefined before fit

 private:
  TabularOptions opt_;
  int64_t dim_ = 0;
  torch::Tensor mean_, std_;
};

}  // namespace mmfuse::data::tabular
