#include "mmfuse/data/tabular/tabular_pipeline.h"

#include <cmath>
#include <random>

#include "mmfuse/core/error.h"

namespace mmfuse::data::tabular {

namespace {

const std::vector<float>& numbers_of(const Field& field) {
  const auto* v = std::get_if<std::vector<float>>(&field);
  if (!v) {
    static const char* kinds[] = {"an image", "an audio reference", "text", "a list of numbers"};
    throw InputError(std::string("the tabular pipeline expected a list of numbers, got ") +
                     kinds[field.index()]);
  }
  return *v;
}

std::vector<float> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

TabularOptions TabularOptions::parse(const ConfigNode& cfg) {
  TabularOptions o;
  if (cfg.is_null()) return o;
  cfg.check_keys({"dim", "standardize", "augment"});
  o.dim = cfg.get<int64_t>("dim", 0);
  if (o.dim < 0) cfg["dim"].fail("expected a number of values >= 1 (or absent to fit it)");
  o.standardize = cfg.get<bool>("standardize", true);
  if (auto aug = cfg["augment"]; !aug.is_null()) {
    if (!aug.is_map()) aug.fail("expected a map {noise_std}");
    aug.check_keys({"noise_std"});
    o.noise_std = aug.get<double>("noise_std", 0.0);
    if (o.noise_std < 0) aug["noise_std"].fail("expected a standard deviation >= 0");
  }
  return o;
}

std::shared_ptr<TabularPipeline> TabularPipeline::create(const PipelineContext& ctx,
                                                         const ConfigNode& cfg) {
  return std::make_shared<TabularPipeline>(TabularOptions::parse(cfg));
}

TabularPipeline::TabularPipeline(TabularOptions options) : opt_(options), dim_(options.dim) {}

std::string TabularPipeline::cache_key() const {
  return "tabular/v1";
}

void TabularPipeline::fit(const FitContext& ctx) {
  if (ctx.size == 0) {
    if (!opt_.standardize && opt_.dim > 0) return;  // nothing to fit
    throw Error("cannot fit the tabular pipeline: the training split has no tabular values");
  }
  if (opt_.dim == 0) dim_ = static_cast<int64_t>(numbers_of(ctx.field(0)).size());
  // Two passes in double: mean, then the squared deviations (no cancellation).
  std::vector<double> sum(static_cast<std::size_t>(dim_), 0.0), sq(sum.size(), 0.0);
  for (std::size_t i = 0; i < ctx.size; ++i) {
    auto x = extract(ctx.field(i));  // checks the dimension and finiteness
    const float* p = x.data_ptr<float>();
    for (std::size_t j = 0; j < sum.size(); ++j) sum[j] += p[j];
  }
  const double n = static_cast<double>(ctx.size);
  for (auto& s : sum) s /= n;
  for (std::size_t i = 0; i < ctx.size; ++i) {
    const auto& v = numbers_of(ctx.field(i));
    for (std::size_t j = 0; j < sum.size(); ++j) sq[j] += (v[j] - sum[j]) * (v[j] - sum[j]);
  }
  std::vector<float> mean(sum.size()), sd(sum.size());
  for (std::size_t j = 0; j < sum.size(); ++j) {
    mean[j] = static_cast<float>(sum[j]);
    const double s = std::sqrt(sq[j] / n);
    sd[j] = s > 1e-12 ? static_cast<float>(s) : 1.f;
  }
  mean_ = torch::tensor(mean);
  std_ = torch::tensor(sd);
}

torch::Tensor TabularPipeline::extract(const Field& field) const {
  const auto& v = numbers_of(field);
  if (dim_ > 0 && static_cast<int64_t>(v.size()) != dim_) {
    throw InputError("expected " + std::to_string(dim_) + " values, got " +
                     std::to_string(v.size()) +
                     "; every sample needs the same number (set `dim`"
                     " to the right one or fix the data)");
  }
  for (std::size_t j = 0; j < v.size(); ++j) {
    if (!std::isfinite(v[j])) {
      throw InputError("value " + std::to_string(j) + " is " +
                       (std::isnan(v[j]) ? "NaN"
                        : v[j] > 0       ? "+Inf"
                                         : "-Inf") +
                       " (expected finite numbers; impute or drop missing values first)");
    }
  }
  return torch::tensor(v, torch::kFloat);
}

torch::Tensor TabularPipeline::augment(const Field& field, const torch::Tensor& features,
                                       Rng& rng) const {
  if (opt_.noise_std <= 0) return features;
  torch::Tensor out = features.to(torch::kFloat).clone();
  const auto scale = std_.defined() ? to_vector(std_) : std::vector<float>();
  std::normal_distribution<float> noise(0.f, static_cast<float>(opt_.noise_std));
  float* p = out.data_ptr<float>();
  for (int64_t j = 0; j < out.numel(); ++j) {
    const float s = static_cast<std::size_t>(j) < scale.size() ? scale[j] : 1.f;
    p[j] += s * noise(rng);
  }
  return out;
}

torch::Tensor TabularPipeline::finalize(const torch::Tensor& features) const {
  if (!opt_.standardize) return features;
  if (!mean_.defined()) {
    throw Error(
        "the tabular pipeline is not fitted: call fit() on the training split or "
        "load_state() from a saved model first");
  }
  return (features - mean_) / std_;
}

nlohmann::json TabularPipeline::state() const {
  nlohmann::json j = {{"dim", dim_}};
  if (mean_.defined()) {
    j["mean"] = to_vector(mean_);
    j["std"] = to_vector(std_);
  }
  return j;
}

void TabularPipeline::load_state(const nlohmann::json& state) {
  try {
    const int64_t dim = state.value("dim", dim_);
    if (opt_.dim > 0 && dim != opt_.dim) {
      throw Error("tabular pipeline state is for " + std::to_string(dim) +
                  " values but the config says dim: " + std::to_string(opt_.dim));
    }
    if (state.contains("mean")) {
      auto mean = state["mean"].get<std::vector<float>>();
      auto sd = state["std"].get<std::vector<float>>();
      if (static_cast<int64_t>(mean.size()) != dim || sd.size() != mean.size()) {
        throw Error("tabular pipeline state has " + std::to_string(mean.size()) + " means and " +
                    std::to_string(sd.size()) + " stds for dim " + std::to_string(dim));
      }
      mean_ = torch::tensor(mean);
      std_ = torch::tensor(sd);
    }
    dim_ = dim;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed tabular pipeline state (") + e.what() + ")");
  }
}

}  // namespace mmfuse::data::tabular
