#include "mmfuse/optimize/optimize.h"

#include <chrono>
#include <ctime>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/optimize/measure.h"

namespace mmfuse::optimize {

namespace fs = std::filesystem;

namespace {

void check_optimize_out_dir(const OptimizeOptions& o) {
  if (o.out_dir.empty()) throw UsageError("give --out, the folder of the new run");
  const fs::path out(o.out_dir);
  if (fs::exists(out) && fs::exists(fs::path(o.run_dir)) &&
      fs::equivalent(out, fs::path(o.run_dir))) {
    throw UsageError("--out is the source run " + o.run_dir + "; give a new folder (the source " +
                     "run is never modified)");
  }
  for (const char* f : {"config.yaml", "model.safetensors", "dataset.json"}) {
    if (fs::exists(out / f)) {
      throw UsageError(o.out_dir + " already holds a run (" + f + "); give a new or empty folder");
    }
  }
}

void check_quantizable_run(const runtime::Run& run) {
  if (run.task.kind != models::TaskKind::supervised) {
    throw Error(run.dir + " is a " + models::to_string(run.task.kind) + " run; int8 " +
                "quantization takes supervised runs (classification heads)");
  }
  if (run.config.has("ensemble")) {
    throw Error(run.dir + " is an ensemble; quantize its member runs, then ensemble those");
  }
  if (run.quantized) {
    throw Error(run.dir + " is already quantized (" + run.config["quantization"].dump() +
                "); give the float run it was made from");
  }
  if (run.class_target.empty()) {
    throw Error(run.dir + " has no class target; int8 quantization measures its cost as " +
                "classification accuracy, which a regression-only run lacks");
  }
}

std::string utc_now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// config.yaml (with its quantization section), dataset.json and model.safetensors of the new run.
void write_quantized_run(const OptimizeOptions& o, const runtime::Run& src,
                         nn::quant::QuantizedModel& q, OptimizeReport& report) {
  const fs::path out(o.out_dir);
  fs::create_directories(out);
  YAML::Node root = YAML::Clone(src.config.yaml());
  YAML::Node quant;
  quant["mode"] = report.mode;
  quant["calib_samples"] = report.calib_samples;
  quant["percentile"] = o.percentile;
  YAML::Node floats(YAML::NodeType::Sequence);
  for (const auto& [name, why] : q.float_layers) floats.push_back(name);
  quant["float_layers"] = floats;
  quant["source_run"] = fs::absolute(o.run_dir).lexically_normal().string();
  quant["date"] = utc_now_iso();
  root["quantization"] = quant;
  YAML::Emitter emitter;
  emitter << root;
  write_file_atomic((out / "config.yaml").string(), "# mmfuse optimize --int8 " + report.mode +
                                                        " of " + o.run_dir + "\n" +
                                                        emitter.c_str() + "\n");
  write_file_atomic((out / "dataset.json").string(),
                    read_file((fs::path(src.dir) / "dataset.json").string()));
  auto model = src.heads();
  nn::quant::save_quantized((out / "model.safetensors").string(), *model.ptr(), q, o.weight_only);
  report.weight_only = q.weight_only;
}

}  // namespace

OptimizeReport optimize_run(const OptimizeOptions& o) {
  if (!o.int8) throw UsageError("nothing to do: give --int8 static|dynamic");
  check_optimize_out_dir(o);
  auto src = runtime::load_run(o.run_dir);
  check_quantizable_run(*src);
  OptimizeReport report;
  report.source_run = o.run_dir;
  report.out_run = o.out_dir;
  report.target = src->class_target;
  report.mode = nn::quant::to_string(*o.int8);
  report.threads = torch::get_num_threads();
  auto model = src->heads();
  const bool is_static = *o.int8 == nn::quant::QuantMode::static_int8;
  std::map<std::string, nn::quant::LayerObservation> obs;
  if (is_static) {
    auto calib = split_batches(*src, data::Split::train, o.calib_samples, 64, o.threads);
    for (const auto& b : calib) report.calib_samples += b.size();
    obs = calibrate_model(model, calib);
  }
  nn::quant::QuantizeOptions qo;
  qo.mode = *o.int8;
  qo.percentile = o.percentile;
  qo.float_layers = o.float_layers;
  if (o.max_layer_drop >= 0) {
    if (!src->dataset->spec().has_val_split()) {
      throw UsageError(src->dir + " was trained without a val split, on which --max-layer-drop " +
                       "measures each layer's accuracy drop; give --max-layer-drop -1 (every " +
                       "layer int8) or --float-layers");
    }
    auto val =
        split_batches(*src, data::Split::val, o.sensitivity_samples, o.eval_batch, o.threads);
    report.sensitivity = layer_sensitivity(model, obs, o, val, src->class_target);
    for (const auto& s : report.sensitivity) {
      if (s.kept_float && s.quantizable) qo.float_layers.push_back(s.name);
    }
  }
  {
    auto q = nn::quant::quantize_module(*model.ptr(), obs, qo);
    if (q->quantized.empty()) {
      std::string why;
      for (const auto& [name, reason] : q->float_layers) why += "\n  " + name + ": " + reason;
      throw Error(o.run_dir + ": no layer of this model can run in int8:" +
                  (why.empty() ? std::string(" it has no Linear or Conv2d layer") : why));
    }
    report.quantized = q->quantized;
    report.float_layers = q->float_layers;
    write_quantized_run(o, *src, *q, report);
  }  // the source model runs in float again
  report.fp32 = measure_run(*src, o);
  auto out = runtime::load_run(o.out_dir);
  report.optimized = measure_run(*out, o);
  write_file_atomic((fs::path(o.out_dir) / "summary.json").string(),
                    nlohmann::json{{"optimize", report.to_json()}}.dump(2) + "\n");
  write_file_atomic((fs::path(o.out_dir) / "optimize_report.md").string(), report.table());
  return report;
}

}  // namespace mmfuse::optimize
