#include "mmfuse/serve/handlers.h"

#include "mmfuse/core/error.h"
#include "mmfuse/serve/base64.h"
#include "mmfuse/serve/errors.h"
#include "mmfuse/serve/json_input.h"
#include "mmfuse/translate/convert.h"

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

/// The request a /v1 POST carries (JSON or form) and its route options (`option_keys` only).
runtime::Request v1_request(const PostInput& in, const Limits& limits,
                            const std::vector<std::string>& option_keys, json* options) {
  *options = json::object();
  if (in.is_form) return form_request(in.form, limits, option_keys, options);
  const json body = parse_body(in.body);
  for (const auto& key : option_keys) {
    if (body.contains(key)) (*options)[key] = body[key];
  }
  return simple_request(body, limits, option_keys);
}

/// Option `key` as an integer in [lo, hi] (`fallback` when absent); InputError naming it otherwise.
int64_t int_option(const json& options, const std::string& key, int64_t lo, int64_t hi,
                   int64_t fallback) {
  if (!options.contains(key)) return fallback;
  const json& v = options[key];
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    throw InputError("expected an integer from " + std::to_string(lo) + " to " +
                     std::to_string(hi) + ", got " + v.dump())
        .at("", 0, key);
  }
  return v.get<int64_t>();
}

bool bool_option(const json& options, const std::string& key) {
  if (!options.contains(key)) return false;
  if (!options[key].is_boolean()) {
    throw InputError("expected true or false, got " + options[key].dump()).at("", 0, key);
  }
  return options[key].get<bool>();
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

Reply v1_predict(const ServeState& state, const std::string& name, const PostInput& in) {
  const ServedModel& model = state.model(name);
  json options;
  const runtime::Request request = v1_request(in, state.options().limits, {}, &options);
  return json_reply(model.predict({request}).front().to_json());
}

Reply v1_search(const ServeState& state, const std::string& name, const PostInput& in) {
  const ServedModel& model = state.model(name);
  json options;
  const runtime::Request query =
      v1_request(in, state.options().limits, {"k", "thumbnails"}, &options);
  if (query.modalities().size() != 1 || query.tabular) {
    throw InputError("a search takes exactly one query: image, audio or text").at("", 0, "body");
  }
  const int64_t k = int_option(options, "k", 1, kMaxSearchK, 10);
  return json_reply(model.search(query, k, bool_option(options, "thumbnails")));
}

Reply v1_translate(const ServeState& state, const std::string& name, const PostInput& in) {
  const ServedModel& model = state.model(name);
  json options;
  const runtime::Request input = v1_request(in, state.options().limits, {"scale"}, &options);
  const int scale = static_cast<int>(int_option(options, "scale", 1, kMaxTranslateScale, 1));
  const torch::Tensor generated = model.translate(input);  // [C, H, W]
  const auto& cfg = model.run().translator()->config();
  const bool sound = cfg.target == Modality::audio;
  std::size_t png_at = in.accept.find("image/png"), wav_at = std::string::npos;
  for (const char* type : {"audio/wav", "audio/x-wav", "audio/wave"}) {
    wav_at = std::min(wav_at, in.accept.find(type));
  }
  if (wav_at < png_at) {
    if (!sound) {
      throw UsageError("Accept: audio/wav, but model '" + name +
                       "' generates images; ask for image/png or application/json");
    }
    return {200, "audio/wav", translate::generated_wav(generated)};
  }
  if (png_at != std::string::npos) {
    return {200, "image/png", translate::generated_png(generated, scale)};
  }
  json answer = {{"source", std::string(to_string(cfg.source))},
                 {"target", std::string(to_string(cfg.target))},
                 {"shape", generated.sizes().vec()},
                 {"png", base64_encode(translate::generated_png(generated, scale))}};
  if (sound) answer["wav"] = base64_encode(translate::generated_wav(generated));
  return json_reply(answer);
}

Reply metrics_text(const ServeState& state) {
  return {200, "text/plain; version=0.0.4; charset=utf-8", state.metrics().render()};
}

}  // namespace mmfuse::serve
