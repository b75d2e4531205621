// The routes' logic, apart from the HTTP library: each handler takes what the route matched and
// the body, and returns a Reply or throws (serve/errors.h maps the exception to a status).
//
//   GET  /v2/health/live               live()
//   GET  /v2/health/ready              ready()
//   GET  /v2                           server_metadata()
//   GET  /v2/models/{name}             model_metadata()
//   GET  /v2/models/{name}/ready       model_ready()
//   POST /v2/models/{name}/infer       v2_infer()
//   POST /v1/models/{name}:predict     v1_predict()    supervised runs
//   POST /v1/models/{name}:search      v1_search()     retrieval runs (--index NAME=INDEX_DIR)
//   POST /v1/models/{name}:translate   v1_translate()  translation runs
//   GET  /v1/models                    model_list()
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mmfuse/serve/json_input.h"
#include "mmfuse/serve/metrics.h"
#include "mmfuse/serve/options.h"
#include "mmfuse/serve/served_model.h"

namespace mmfuse::serve {

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

/// What a POST to a /v1 route carried: a JSON body or the parts of a multipart/form-data upload
/// (the same fields either way), and the Accept header.
struct PostInput {
  std::string_view body;  ///< the JSON body (when !is_form)
  std::vector<FormPart> form;
  bool is_form = false;
  std::string accept;
};

/// Most results one :search returns.
inline constexpr int64_t kMaxSearchK = 1000;
/// Largest pixel repetition of a :translate PNG.
inline constexpr int64_t kMaxTranslateScale = 16;

using ModelMap = std::map<std::string, std::unique_ptr<ServedModel>>;

/// What every handler reads: the options, the metrics and the models once they are loaded.
class ServeState {
 public:
  ServeState(ServerOptions options, Metrics& metrics)
      : options_(std::move(options)), metrics_(metrics) {}

  const ServerOptions& options() const { return options_; }
  Metrics& metrics() const { return metrics_; }
  /// Publishes the loaded models: the server is ready from now on.
  void set_models(std::shared_ptr<const ModelMap> models);
  /// Shutting down: not ready any more (requests already received are still answered).
  void set_draining();
  bool ready() const;
  /// The model called `name`. Throws Unavailable while loading, NotFound (listing
  /// the served names) for an unknown one.
  const ServedModel& model(const std::string& name) const;
  /// The loaded models (null while loading).
  std::shared_ptr<const ModelMap> models() const;

 private:
  bool ready_locked() const { return models_ != nullptr && !draining_; }

  ServerOptions options_;
  Metrics& metrics_;
  mutable std::mutex mu_;
  std::shared_ptr<const ModelMap> models_;
  bool draining_ = false;
};

Reply live();
Reply ready(const ServeState& state);
Reply server_metadata();
Reply model_list(const ServeState& state);
Reply model_metadata(const ServeState& state, const std::string& name);
Reply model_ready(const ServeState& state, const std::string& name);
Reply v2_infer(const ServeState& state, const std::string& name, const std::string& body);
/// One sample's prediction (runtime::Prediction::to_json), as `mmfuse predict` prints it.
Reply v1_predict(const ServeState& state, const std::string& name, const PostInput& in);
/// One query (exactly one of image, audio, text) -> `mmfuse search`'s JSON; options "k" (1 to
/// kMaxSearchK, default 10) and "thumbnails" (default false).
Reply v1_search(const ServeState& state, const std::string& name, const PostInput& in);
/// One input (the run's source modality) -> what `mmfuse translate` writes: raw PNG bytes when
/// Accept asks for image/png, raw WAV for audio/wav (spectrogram targets), otherwise JSON
/// {"source", "target", "shape", "png": base64, "wav": base64 (spectrogram targets)}; option
/// "scale" (PNG pixel repetition, 1 to kMaxTranslateScale).
Reply v1_translate(const ServeState& state, const std::string& name, const PostInput& in);
Reply metrics_text(const ServeState& state);

}  // namespace mmfuse::serve
