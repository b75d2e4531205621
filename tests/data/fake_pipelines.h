// Small pipelines for the data-layer tests (the real ones live on other branches), registered
// into a local PipelineRegistry, plus helpers to write test files.
#pragma once

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/pipeline_registry.h"

namespace mmfuse::testing {

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

struct CallCounter {
  std::atomic<int> extract{0};
};

/// image or audio: the field's file holds whitespace-separated numbers -> [dim] float tensor.
/// extract() counts calls and throws InputError for a non-number or a wrong count; augment()
/// adds an Rng-drawn offset; fit() learns the mean; finalize() subtracts it.
class NumbersFilePipeline : public data::ModalityPipeline {
 public:
  NumbersFilePipeline(Modality m, const ConfigNode& cfg, std::shared_ptr<CallCounter> calls)
      : modality_(m), calls_(std::move(calls)) {
    cfg.check_keys({"dim", "scale"});
    dim_ = cfg.get<int64_t>("dim", 3);
    scale_ = cfg.get<double>("scale", 1.0);
  }
  Modality modality() const override { return modality_; }
  bool cacheable() const override { return true; }
  std::string cache_key() const override {
    return "numbers:v1:dim=" + std::to_string(dim_) + ":scale=" + std::to_string(scale_);
  }
  torch::Tensor extract(const data::Field& field) const override {
    ++calls_->extract;
    const std::string& path = modality_ == Modality::image ? std::get<data::ImageRef>(field).path
                                                           : std::get<data::AudioRef>(field).path;
    const std::string text = read_file(path);
    TORCH_CHECK(text.rfind("torch-fail", 0) != 0, "simulated torch failure");
    std::istringstream in(text);
    std::vector<float> v;
    std::string tok;
    while (in >> tok) {
      try {
        std::size_t used = 0;
        v.push_back(std::stof(tok, &used));
        if (used != tok.size()) throw std::invalid_argument(tok);
      } catch (const std::exception&) {
        throw InputError("not a number: '" + tok + "'", path);
      }
    }
    if (static_cast<int64_t>(v.size()) != dim_) {
      throw InputError(
          "expected " + std::to_string(dim_) + " numbers, got " + std::to_string(v.size()), path);
    }
    return torch::tensor(v) * scale_;
  }
  torch::Tensor augment(const data::Field&, const torch::Tensor& x, data::Rng& rng) const override {
    return x + static_cast<float>(rng() % 1000) / 1000.0f;
  }
  void fit(const data::FitContext& ctx) override {
    double sum = 0;
    for (std::size_t i = 0; i < ctx.size; ++i) sum += ctx.features(i).mean().item<double>();
    mean_ = ctx.size ? sum / static_cast<double>(ctx.size) : 0.0;
  }
  torch::Tensor finalize(const torch::Tensor& x) const override { return x - mean_; }
  std::vector<int64_t> item_shape() const override { return {dim_}; }
  nlohmann::json state() const override { return {{"mean", mean_}}; }
  void load_state(const nlohmann::json& s) override { mean_ = s.at("mean").get<double>(); }
  double mean() const { return mean_; }

 private:
  Modality modality_;
  std::shared_ptr<CallCounter> calls_;
  int64_t dim_ = 3;
  double scale_ = 1.0;
  double mean_ = 0.0;
};

/// text: [1] = number of bytes; fit() counts distinct words as a "vocabulary".
class LengthTextPipeline : public data::ModalityPipeline {
 public:
  Modality modality() const override { return Modality::text; }
  std::string cache_key() const override { return "length:v1"; }
  torch::Tensor extract(const data::Field& f) const override {
    return torch::tensor({static_cast<float>(std::get<std::string>(f).size())});
  }
  void fit(const data::FitContext& ctx) override {
    std::set<std::string> words;
    for (std::size_t i = 0; i < ctx.size; ++i) {
      std::istringstream in(std::get<std::string>(ctx.field(i)));
      std::string w;
      while (in >> w) words.insert(w);
    }
    vocab_ = static_cast<int64_t>(words.size());
  }
  std::vector<int64_t> item_shape() const override { return {1}; }
  nlohmann::json state() const override { return {{"vocab_size", vocab_}}; }
  void load_state(const nlohmann::json& s) override { vocab_ = s.at("vocab_size").get<int64_t>(); }

 private:
  int64_t vocab_ = 0;
};

/// tabular: the numbers as a [D] tensor.
class IdentityTabularPipeline : public data::ModalityPipeline {
 public:
  explicit IdentityTabularPipeline(int64_t dim) : dim_(dim) {}
  Modality modality() const override { return Modality::tabular; }
  std::string cache_key() const override { return "identity:v1"; }
  torch::Tensor extract(const data::Field& f) const override {
    return torch::tensor(std::get<std::vector<float>>(f));
  }
  std::vector<int64_t> item_shape() const override { return {dim_}; }

 private:
  int64_t dim_;
};

/// "numbers" (image), "audio_numbers" (audio), "length" (text), "tabular".
inline data::PipelineRegistry make_test_registry(std::shared_ptr<CallCounter> calls) {
  data::PipelineRegistry r("data pipeline");
  r.add("image", "numbers file as image",
        [calls](const data::PipelineContext&, const ConfigNode& c) {
          return std::make_shared<NumbersFilePipeline>(Modality::image, c, calls);
        });
  r.add("audio", "numbers file as audio",
        [calls](const data::PipelineContext&, const ConfigNode& c) {
          return std::make_shared<NumbersFilePipeline>(Modality::audio, c, calls);
        });
  r.add("text", "text length", [](const data::PipelineContext&, const ConfigNode&) {
    return std::make_shared<LengthTextPipeline>();
  });
  r.add("tabular", "identity", [](const data::PipelineContext&, const ConfigNode& c) {
    return std::make_shared<IdentityTabularPipeline>(c.get<int64_t>("dim", 2));
  });
  return r;
}

}  // namespace mmfuse::testing
