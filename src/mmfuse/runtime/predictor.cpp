#include "mmfuse/runtime/predictor.h"

#include <algorithm>

#include "mmfuse/core/error.h"

namespace mmfuse::runtime {

using nlohmann::json;

namespace {

std::string modality_list(const std::vector<Modality>& ms) {
  std::string out;
  for (Modality m : ms) out += (out.empty() ? "" : ", ") + std::string(to_string(m));
  return out;
}

HeadPrediction head_prediction(const models::HeadSpec& h, const torch::Tensor& y,
                               const data::Dataset& dataset) {
  HeadPrediction p;
  p.kind = h.spec.kind;
  const torch::Tensor row = y.to(torch::kCPU, torch::kFloat).contiguous();  // [K]
  if (h.spec.kind != heads::TaskKind::classification) {
    p.values.assign(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    return p;
  }
  p.classes = dataset.label_map(h.target).names();
  const torch::Tensor prob = torch::softmax(row, 0).contiguous();
  p.probabilities.assign(prob.data_ptr<float>(), prob.data_ptr<float>() + prob.numel());
  p.index = prob.argmax().item<int64_t>();
  p.label = p.index < static_cast<int64_t>(p.classes.size()) ? p.classes[p.index]
                                                             : std::to_string(p.index);
  return p;
}

}  // namespace

json Prediction::to_json() const {
  json mods = json::array();
  for (Modality m : modalities) mods.push_back(std::string(to_string(m)));
  json targets_json = json::object();
  for (const auto& [name, p] : targets) {
    if (p.kind == heads::TaskKind::classification) {
      json probs = json::object();
      for (std::size_t c = 0; c < p.probabilities.size(); ++c) {
        probs[c < p.classes.size() ? p.classes[c] : std::to_string(c)] = p.probabilities[c];
      }
      targets_json[name] = {{"kind", "classification"},
                            {"class", p.label},
                            {"index", p.index},
                            {"probabilities", probs}};
    } else {
      targets_json[name] = {{"kind", "regression"}, {"value", p.values}};
    }
  }
  return {{"modalities", mods}, {"targets", targets_json}};
}

Prepared leave_out(const Prepared& prepared, Modality m) {
  Prepared out = prepared;
  out.items[index_of(m)] = torch::Tensor();
  out.modalities.erase(std::remove(out.modalities.begin(), out.modalities.end(), m),
                       out.modalities.end());
  return out;
}

Predictor::Predictor(std::shared_ptr<const Run> run) : run_(std::move(run)) {
  if (!run_) throw Error("Predictor: no run given");
}

Prepared Predictor::prepare(const Request& request, int64_t index) const {
  const std::string where =
      "request " + (request.id.empty() ? std::to_string(index + 1) : request.id);
  const data::Dataset& ds = *run_->dataset;
  Prepared out;
  out.modalities = request.modalities();
  torch::NoGradGuard no_grad;
  for (Modality m : out.modalities) {
    const std::string field(to_string(m));
    if (!ds.uses(m)) {
      throw InputError("the run does not use " + field + "; it uses " +
                       modality_list(ds.modalities()))
          .at(where, 0, field);
    }
    const data::ModalityPipeline& p = ds.pipeline(m);
    try {
      out.items[index_of(m)] = p.finalize(p.extract(request.field(m)));
    } catch (const InputError& e) {
      throw InputError(e.reason(), e.file()).at(where, 0, field);
    } catch (const c10::Error& e) {  // a torch op failing on odd data: a bad input, not a crash
      throw InputError(std::string("preprocessing failed: ") + e.what_without_backtrace())
          .at(where, 0, field);
    }
  }
  return out;
}

data::Batch Predictor::collate(const std::vector<Prepared>& prepared) const {
  const data::Dataset& ds = *run_->dataset;
  data::Batch batch;
  for (std::size_t i = 0; i < prepared.size(); ++i) batch.ids.push_back(std::to_string(i));
  for (Modality m : ds.modalities()) {
    std::vector<torch::Tensor> items;
    items.reserve(prepared.size());
    for (const auto& p : prepared) items.push_back(p.items[index_of(m)]);
    batch.inputs[index_of(m)] = ds.pipeline(m).collate(items);
  }
  return run_->device.is_cpu() ? batch : batch.to(run_->device);
}

std::vector<Prepared> Predictor::prepare_all(const std::vector<Request>& requests) const {
  std::vector<Prepared> out;
  out.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    out.push_back(prepare(requests[i], static_cast<int64_t>(i)));
  }
  return out;
}

void Predictor::require_all(const std::vector<Prepared>& prepared, Modality m) const {
  for (std::size_t i = 0; i < prepared.size(); ++i) {
    if (!prepared[i].items[index_of(m)].defined()) {
      throw InputError("missing: this run needs the " + std::string(to_string(m)) + " input")
          .at("request " + std::to_string(i + 1), 0, std::string(to_string(m)));
    }
  }
}

std::vector<Prediction> Predictor::predict(const std::vector<Request>& requests) const {
  return predict(prepare_all(requests));
}

std::vector<Prediction> Predictor::predict(const std::vector<Prepared>& prepared) const {
  models::MultimodalModel model = run_->heads();
  std::vector<Prediction> out(prepared.size());
  if (prepared.empty()) return out;
  torch::NoGradGuard no_grad;
  const data::Batch batch = collate(prepared);
  const auto y = run_->forward(batch);
  for (const auto& h : model->heads()) {
    const torch::Tensor outputs = y.outputs.at(h.target);  // [N, K]
    for (std::size_t i = 0; i < prepared.size(); ++i) {
      out[i].targets[h.target] =
          head_prediction(h, outputs[static_cast<int64_t>(i)], *run_->dataset);
    }
  }
  for (std::size_t i = 0; i < prepared.size(); ++i) out[i].modalities = prepared[i].modalities;
  return out;
}

torch::Tensor Predictor::embed(Modality m, const std::vector<Request>& requests) const {
  return embed(m, prepare_all(requests));
}

torch::Tensor Predictor::embed(Modality m, const std::vector<Prepared>& prepared) const {
  models::TwoTower towers = run_->towers();
  if (!towers->has(m)) {
    throw UsageError("the run embeds " + std::string(to_string(towers->query_modality())) +
                     " and " + std::string(to_string(towers->candidate_modality())) + ", not " +
                     std::string(to_string(m)));
  }
  if (prepared.empty()) return torch::zeros({0, towers->dim()});
  require_all(prepared, m);
  torch::NoGradGuard no_grad;
  return towers->embed(m, collate(prepared).at(m)).to(torch::kCPU, torch::kFloat);
}

torch::Tensor Predictor::translate(const std::vector<Request>& requests) const {
  return translate(prepare_all(requests));
}

torch::Tensor Predictor::translate(const std::vector<Prepared>& prepared) const {
  models::Translator translator = run_->translator();
  const Modality src = translator->config().source;
  if (prepared.empty()) return torch::zeros({0});
  require_all(prepared, src);
  torch::NoGradGuard no_grad;
  auto logits = translator->forward(collate(prepared).at(src)).logits;
  return torch::sigmoid(logits).to(torch::kCPU, torch::kFloat);
}

}  // namespace mmfuse::runtime
