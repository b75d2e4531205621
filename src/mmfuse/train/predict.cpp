#include "mmfuse/train/predict.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/data/loader.h"

namespace mmfuse::train {

using nlohmann::json;

std::vector<double> parse_numbers(const std::string& text) {
  std::vector<double> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
    if (used == 0 || used != item.size() || !std::isfinite(v)) {
      throw UsageError("expected comma-separated finite numbers, got '" + item + "' in '" + text +
                       "'");
    }
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("expected comma-separated numbers, got '" + text + "'");
  return out;
}

data::Batch input_batch(const std::shared_ptr<data::Dataset>& dataset, const PredictInput& in,
                        json* given_out) {
  data::Sample s;
  s.id = "input";
  s.manifest = "<command line>";
  s.line = 1;
  json given = json::array();
  auto put = [&](Modality m, data::Field f) {
    if (!dataset->uses(m)) {
      std::string used;
      for (Modality u : dataset->modalities()) {
        used += std::string(used.empty() ? "" : ", ") + std::string(to_string(u));
      }
      throw UsageError("the run does not use " + std::string(to_string(m)) + "; it uses " + used);
    }
    s.fields[index_of(m)] = std::move(f);
    given.push_back(std::string(to_string(m)));
  };
  auto file = [](const std::string& p) {
    if (!std::filesystem::is_regular_file(p)) throw InputError("no such file", p);
    return std::filesystem::absolute(p).string();
  };
  if (in.image) put(Modality::image, data::ImageRef{file(*in.image), -1});
  if (in.audio) put(Modality::audio, data::AudioRef{file(*in.audio), std::nullopt});
  if (in.text) put(Modality::text, *in.text);
  if (in.tabular) put(Modality::tabular, *in.tabular);

  auto set = std::make_shared<data::SampleSet>();
  set->split = data::Split::test;
  set->samples.push_back(s);
  data::LoaderOptions lo;
  lo.batch_size = 1;
  lo.shuffle = false;
  lo.threads = 0;
  data::Loader loader(dataset, set, lo);
  auto batch = loader.next();
  if (!batch) {  // skip_bad datasets leave the bad sample out instead of throwing
    const auto bad = loader.bad();
    throw InputError(bad.empty() ? "the input could not be read" : bad.front().message());
  }
  if (given_out) *given_out = given;
  return *batch;
}

json predict(const LoadedRun& run, const PredictInput& in) {
  json given;
  auto batch = input_batch(run.dataset, in, &given);
  torch::NoGradGuard no_grad;
  models::MultimodalModel model = run.model;  // a handle: forward() is not const
  model->eval();
  auto out = model->forward(batch);
  json targets = json::object();
  for (const auto& h : model->heads()) {
    const torch::Tensor y = out.outputs.at(h.target)[0].to(torch::kFloat).contiguous();
    if (h.spec.kind == heads::TaskKind::classification) {
      const auto names = run.dataset->label_map(h.target).names();
      const auto p = torch::softmax(y, 0);
      const int64_t best = p.argmax().item<int64_t>();
      json probs = json::object();
      for (int64_t c = 0; c < p.size(0); ++c) {
        const std::string name =
            c < static_cast<int64_t>(names.size()) ? names[c] : std::to_string(c);
        probs[name] = p[c].item<double>();
      }
      targets[h.target] = {
          {"kind", "classification"},
          {"class", best < static_cast<int64_t>(names.size()) ? names[best] : std::to_string(best)},
          {"index", best},
          {"probabilities", probs}};
    } else {
      std::vector<double> v(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
      targets[h.target] = {{"kind", "regression"}, {"value", v}};
    }
  }
  return {{"modalities", given}, {"targets", targets}};
}

}  // namespace mmfuse::train
