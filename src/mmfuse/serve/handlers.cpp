#include "mmfuse/serve/handlers.h"

#include "mmfuse/core/error.h"
#include "mmfuse/serve/errors.h"
#include "mmfuse/serve/json_input.h"

namespace mmfuse::serve {

using nlohmann::json;

namespace {

Reply json_reply(const json& j, int status = 200) {
  return {status, "application/json", j.dump(-1, ' ', false, json::error_handler_t::replace)};
}

/// One output tensor of a v2 answer: the values of `output` for every prediction.
json v2_output(const runtime::OutputSignature& o, const std::vector<runtime::Prediction>& preds) {
  json data = json::array();
  int64_t width = 0;
  for (const auto& p : preds) {
    const runtime::HeadPrediction& h = p.targets.at(o.name);
    const auto& v = h.kind == heads::TaskKind::classification ? h.probabilities : h.values;
    width = static_cast<int64_t>(v.size());
    for (float x : v) data.push_back(x);
  }
  return {{"name", o.name},
          {"datatype", "FP32"},
          {"shape", {static_cast<int64_t>(preds.size()), width}},
          {"data", data}};
}

json v2_labels(const runtime::OutputSignature& o, const std::vector<runtime::Prediction>& preds) {
  json data = json::array();
  for (const auto& p : preds) data.push_back(p.targets.at(o.name).label);
  return {{"name", o.name + "_class"},
          {"datatype", "BYTES"},
          {"shape", {static_cast<int64_t>(preds.size())}},
          {"data", data}};
}

}  // namespace

void ServeState::set_models(std::shared_ptr<const ModelMap> models) {
  std::lock_guard<std::mutex> lock(mu_);
  models_ = std::move(models);
  metrics_.set_ready(ready_locked());
}

void ServeState::set_draining() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
  metrics_.set_ready(false);
}

bool ServeState::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_locked();
}

std::shared_ptr<const ModelMap> ServeState::models() const {
  std::lock_guard<std::mutex> lock(mu_);
  return models_;
}

const ServedModel& ServeState::model(const std::string& name) const {
  std::shared_ptr<const ModelMap> models;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!models_) throw Unavailable("the models are still loading; retry shortly", 1);
    models = models_;
  }
  auto it = models->find(name);
  if (it == models->end()) {
    std::string known;
    for (const auto& [n, m] : *models) known += (known.empty() ? "" : ", ") + n;
    throw NotFound("no model '" + name + "'; this server serves: " + known);
  }
  return *it->second;  // models live until the server is destroyed
}

Reply live() {
  return json_reply({{"live", true}});
}

Reply ready(const ServeState& state) {
  const bool r = state.ready();
  return json_reply({{"ready", r}}, r ? 200 : 503);
}

Reply server_metadata() {
  return json_reply(
      {{"name", "mmfuse"}, {"version", MMFUSE_VERSION}, {"extensions", json::array()}});
}

Reply model_list(const ServeState& state) {
  json list = json::array();
  if (auto models = state.models()) {
    for (const auto& [name, m] : *models) {
      list.push_back({{"name", name},
                      {"task", models::to_string(m->signature().task)},
                      {"signature", m->signature().to_json()}});
    }
  }
  return json_reply({{"models", list}, {"ready", state.ready()}});
}

Reply model_metadata(const ServeState& state, const std::string& name) {
  return json_reply(state.model(name).v2_metadata());
}

Reply model_ready(const ServeState& state, const std::string& name) {
  state.model(name);  // throws while loading or for an unknown name
  return json_reply({{"name", name}, {"ready", true}});
}

Reply v2_infer(const ServeState& state, const std::string& name, const std::string& body) {
  const ServedModel& model = state.model(name);
  const json j = parse_body(body);
  const auto predictions = model.predict(v2_requests(j, state.options().limits));
  json outputs = json::array();
  for (const auto& o : model.signature().outputs) {
    outputs.push_back(v2_output(o, predictions));
    if (o.kind == runtime::OutputKind::classes) outputs.push_back(v2_labels(o, predictions));
  }
  json answer = {{"model_name", name}, {"model_version", "1"}, {"outputs", outputs}};
  if (j.contains("id")) answer["id"] = j["id"];
  return json_reply(answer);
}

Reply v1_predict(const ServeState& state, const std::string& name, const std::string& body) {
  const ServedModel& model = state.model(name);
  const runtime::Request request = simple_request(parse_body(body), state.options().limits);
  return json_reply(model.predict({request}).front().to_json());
}

Reply metrics_text(const ServeState& state) {
  return {200, "text/plain; version=0.0.4; charset=utf-8", state.metrics().render()};
}

}  // namespace mmfuse::serve
