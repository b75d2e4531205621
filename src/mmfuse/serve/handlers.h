// The routes' logic, apart from the HTTP library: each handler takes what the route matched and
// the body, and returns a Reply or throws (serve/errors.h maps the exception to a status).
//
//   GET  /v2/health/live               live()
//   GET  /v2/health/ready              ready()
//   GET  /v2                           server_metadata()
//   GET  /v2/models/{name}             model_metadata()
//   GET  /v2/models/{name}/ready       model_ready()
//   POST /v2/models/{name}/infer       v2_infer()
//   POST /v1/models/{name}:predict     v1_predict()
//   GET  /v1/models                    model_list()
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mmfuse/serve/metrics.h"
#include "mmfuse/serve/options.h"
#include "mmfuse/serve/served_model.h"

namespace mmfuse::serve {

struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

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
Reply v1_predict(const ServeState& state, const std::string& name, const std::string& body);
Reply metrics_text(const ServeState& state);

}  // namespace mmfuse::serve
