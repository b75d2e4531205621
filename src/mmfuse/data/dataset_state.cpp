// Dataset::state / save / load: everything fitted, in one JSON file.
#include <nlohmann/json.hpp>

#include "mmfuse/core/fs.h"
#include "mmfuse/data/dataset.h"

namespace mmfuse::data {

using nlohmann::json;

namespace {
constexpr const char* kFormat = "mmfuse-dataset-state";
constexpr int kVersion = 1;
}  // namespace

json Dataset::state() const {
  json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["spec"] = {{"path", spec_.path}, {"base_dir", spec_.base_dir}, {"yaml", spec_.yaml}};
  j["pipelines"] = json::object();
  for (Modality m : modalities_) {
    const auto& p = *pipelines_[index_of(m)];
    j["pipelines"][std::string(to_string(m))] = {{"name", spec_.modalities[index_of(m)]->pipeline},
                                                 {"cache_key", p.cache_key()},
                                                 {"state", p.state()}};
  }
  j["targets"] = json::object();
  for (const auto& t : spec_.targets) {
    json tj{{"field", t.field}};
    if (t.kind == TargetKind::class_label) {
      tj["type"] = "class";
      tj["classes"] = label_maps_.at(t.name).to_json();
    } else {
      tj["type"] = "regression";
      tj["width"] = widths_.at(t.name);
    }
    j["targets"][t.name] = tj;
  }
  return j;
}

void Dataset::save(const std::string& state_file) const {
  write_file_atomic(state_file, state().dump(2) + "\n");
}

std::shared_ptr<Dataset> Dataset::load(const std::string& state_file, DatasetOptions options) {
  json j;
  try {
    j = json::parse(read_file(state_file));
  } catch (const json::exception& e) {
    throw InputError(std::string("not a valid JSON file: ") + e.what(), state_file);
  }
  auto bad = [&](const std::string& what) {
    return InputError("not a dataset state file (" + what +
                          "); pass the file written by "
                          "Dataset::save / `mmfuse train`",
                      state_file);
  };
  if (j.value("format", "") != kFormat) throw bad("format is not " + std::string(kFormat));
  if (j.value("version", 0) != kVersion) throw bad("unsupported version");
  try {
    const json& sj = j.at("spec");
    DatasetSpec spec =
        DatasetSpec::parse(sj.at("yaml").get<std::string>(), sj.at("path").get<std::string>(),
                           sj.at("base_dir").get<std::string>());
    std::shared_ptr<Dataset> ds(new Dataset(std::move(spec), options));
    ds->build_pipelines(options.registry ? *options.registry : pipeline_registry());
    for (Modality m : ds->modalities_) {
      const json& pj = j.at("pipelines").at(std::string(to_string(m)));
      ds->pipelines_[index_of(m)]->load_state(pj.at("state"));
    }
    for (const auto& t : ds->spec_.targets) {
      const json& tj = j.at("targets").at(t.name);
      if (t.kind == TargetKind::class_label) {
        ds->label_maps_[t.name] = LabelMap::from_json(tj.at("classes"));
      } else {
        ds->widths_[t.name] = tj.at("width").get<int64_t>();
      }
    }
    return ds;
  } catch (const json::exception& e) {
    throw bad(e.what());
  }
}

}  // namespace mmfuse::data
