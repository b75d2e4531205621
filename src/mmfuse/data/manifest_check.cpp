#include "mmfuse/data/manifest_check.h"

#include "mmfuse/data/text/text_decode.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <sstream>
#include <tuple>

#include "mmfuse/data/field.h"
#include "mmfuse/data/parallel.h"

namespace mmfuse::data {

namespace {

struct ModalityCheck {
  std::string field;
  std::shared_ptr<ModalityPipeline> pipeline;  // null: files only
};

// The pipeline `name` built from `options`, or null with a note saying why.
std::shared_ptr<ModalityPipeline> try_pipeline(const PipelineRegistry& registry, Modality m,
                                               const std::string& name, const ConfigNode& options,
                                               const std::string& base_dir, std::string& note) {
  const std::string what = std::string(to_string(m));
  if (!registry.find(name)) {
    note = what + ": no pipeline '" + name + "' is registered (known: " +
           (registry.entries().empty() ? std::string("none") : registry.known_names()) +
           "); checked only the field's form and that its files exist";
    return nullptr;
  }
  try {
    return registry.create(name, PipelineContext{m, base_dir}, options);
  } catch (const Error& e) {
    note = what + ": pipeline '" + name + "' cannot be built (" + e.what() +
           "); checked only the field's form and that its files exist; pass --spec with its "
           "options";
    return nullptr;
  }
}

void check_field(const Sample& s, Modality m, const ModalityCheck& mc) {
  const Field& f = *s.field(m);
  try {
    for (const auto& file : field_files(f)) {
      std::error_code ec;
      if (!std::filesystem::is_regular_file(file, ec)) {
        throw InputError("file not found (relative paths resolve against the manifest's folder)",
                         file);
      }
    }
    if (mc.pipeline) (void)mc.pipeline->extract(f);
  } catch (const InputError& e) {
    throw e.at(s.manifest, s.line, mc.field);
  } catch (const c10::Error& e) {
    throw InputError(std::string("decoding failed: ") + e.what_without_backtrace())
        .at(s.manifest, s.line, mc.field);
  } catch (const std::exception& e) {  // a reader's own exception type: still a bad sample
    throw InputError(std::string("decoding failed: ") + e.what()).at(s.manifest, s.line, mc.field);
  }
}

using Checks = std::array<std::optional<ModalityCheck>, kNumModalities>;
using Notes = std::array<std::string, kNumModalities>;  // reported for modalities the manifest has

// The check of each modality the schema has: its field and, when one can be built, its pipeline.
Checks modality_checks(const ManifestSchema& schema, const CheckOptions& options,
                       const PipelineRegistry& registry, CheckReport& r, Notes& notes) {
  Checks checks;
  for (Modality m : kAllModalities) {
    const auto i = index_of(m);
    if (schema.fields[i].empty()) continue;
    ModalityCheck mc{schema.fields[i], nullptr};
    if (options.spec) {
      const ModalitySpec& ms = *options.spec->modalities[i];
      mc.pipeline =
          try_pipeline(registry, m, ms.pipeline, ms.options, options.spec->base_dir, notes[i]);
    } else {
      ConfigNode empty(YAML::Node(YAML::NodeType::Map), std::string(to_string(m)), "<defaults>");
      mc.pipeline = try_pipeline(registry, m, std::string(to_string(m)), empty, "", notes[i]);
    }
    r.decoded[i] = mc.pipeline != nullptr;
    checks[i] = std::move(mc);
  }
  return checks;
}

// Pipelines whose decoding needs fitted statistics (a text vocabulary) are fitted on the
// manifest being checked; one that cannot be fitted falls back to checking files only.
void fit_pipelines(const ManifestData& data, Checks& checks, CheckReport& r, Notes& notes) {
  for (Modality m : kAllModalities) {
    auto& mc = checks[index_of(m)];
    if (!mc || !mc->pipeline) continue;
    std::vector<const Field*> fields;
    for (const auto& s : data.samples) {
      if (s.has(m)) fields.push_back(&*s.field(m));
    }
    FitContext ctx;
    ctx.size = fields.size();
    ctx.field = [&](std::size_t i) -> const Field& { return *fields[i]; };
    ctx.features = [&](std::size_t i) { return mc->pipeline->extract(*fields[i]); };
    try {
      mc->pipeline->fit(ctx);
    } catch (const std::exception& e) {
      notes[index_of(m)] = std::string(to_string(m)) +
                           ": cannot fit the pipeline on this manifest (" + e.what() +
                           "); checked that its files exist only";
      mc->pipeline = nullptr;
      r.decoded[index_of(m)] = false;
    }
  }
}

// Decodes every sample's fields (in parallel); counts the valid ones, their modalities and
// targets, and adds the others to the problems.
void check_samples(const ManifestData& data, const Checks& checks, int threads, CheckReport& r) {
  std::vector<std::optional<InputError>> errors(data.samples.size());
  parallel_for_each(data.samples.size(), threads, [&](std::size_t k) {
    torch::NoGradGuard no_grad;
    const Sample& s = data.samples[k];
    for (Modality m : kAllModalities) {
      if (!checks[index_of(m)] || !s.has(m)) continue;
      try {
        check_field(s, m, *checks[index_of(m)]);
      } catch (const InputError& e) {
        errors[k] = e;
        return;
      }
    }
  });
  for (std::size_t k = 0; k < data.samples.size(); ++k) {
    const Sample& s = data.samples[k];
    if (errors[k]) {
      r.problems.push_back(BadSample::from(*errors[k], s.id));
      continue;
    }
    ++r.valid;
    for (Modality m : kAllModalities) r.with[index_of(m)] += s.has(m) ? 1 : 0;
    for (const auto& [name, value] : s.targets) {
      if (const auto* label = std::get_if<std::string>(&value)) {
        ++r.targets[name][*label];
      } else {
        ++r.regression[name];
      }
    }
  }
}

}  // namespace

CheckReport check_manifest(const std::string& manifest, const CheckOptions& options) {
  const PipelineRegistry& registry = options.registry ? *options.registry : pipeline_registry();
  CheckReport r;
  r.manifest = manifest;
  ManifestSchema schema = options.spec ? options.spec->schema() : ManifestSchema::all_modalities();
  Notes notes;
  Checks checks = modality_checks(schema, options, registry, r, notes);

  const auto fallbacks_before = text_fallback_counts();
  ManifestData data = read_manifest(manifest, schema, /*skip_bad=*/true);
  for (const auto& [charset, n] : text_fallback_counts()) {
    const auto it = fallbacks_before.find(charset);
    const int64_t added = n - (it == fallbacks_before.end() ? 0 : it->second);
    if (added > 0) r.text_fallbacks[charset] = added;
  }
  r.problems = std::move(data.bad);
  fit_pipelines(data, checks, r, notes);
  r.samples = static_cast<int64_t>(data.samples.size() + r.problems.size());
  check_samples(data, checks, options.threads, r);
  for (Modality m : kAllModalities) {
    if (r.with[index_of(m)] > 0 && !notes[index_of(m)].empty())
      r.notes.push_back(notes[index_of(m)]);
  }
  std::sort(r.problems.begin(), r.problems.end(), [](const BadSample& a, const BadSample& b) {
    return std::tie(a.manifest, a.line) < std::tie(b.manifest, b.line);
  });
  if (options.strict && !r.problems.empty()) {
    const BadSample& p = r.problems.front();
    throw InputError(p.reason, p.file).at(p.manifest, p.line, p.field);
  }
  return r;
}

nlohmann::json CheckReport::to_json() const {
  nlohmann::json j;
  j["manifest"] = manifest;
  j["samples"] = samples;
  j["valid"] = valid;
  j["modalities"] = nlohmann::json::object();
  for (Modality m : kAllModalities) {
    if (with[index_of(m)] == 0 && !decoded[index_of(m)]) continue;
    j["modalities"][std::string(to_string(m))] = {{"samples", with[index_of(m)]},
                                                  {"decoded", decoded[index_of(m)]}};
  }
  j["targets"] = targets;
  j["regression"] = regression;
  j["notes"] = notes;
  int64_t fallback_total = 0;
  for (const auto& [charset, n] : text_fallbacks) fallback_total += n;
  j["text_fallbacks"] = {{"total", fallback_total}, {"by_charset", text_fallbacks}};
  j["problems"] = nlohmann::json::array();
  for (const auto& p : problems) {
    j["problems"].push_back({{"id", p.id},
                             {"manifest", p.manifest},
                             {"line", p.line},
                             {"field", p.field},
                             {"file", p.file},
                             {"reason", p.reason},
                             {"message", p.message()}});
  }
  return j;
}

std::string CheckReport::to_text() const {
  std::ostringstream out;
  out << manifest << ": " << valid << " valid samples of " << samples << "\n";
  for (Modality m : kAllModalities) {
    if (with[index_of(m)] == 0) continue;
    out << "  " << to_string(m) << ": " << with[index_of(m)]
        << (decoded[index_of(m)] ? " (decoded)" : " (files checked only)") << "\n";
  }
  for (const auto& [name, counts] : targets) {
    out << "  target " << name << ": " << counts.size() << " classes:";
    for (const auto& [label, n] : counts) out << " " << label << "=" << n;
    out << "\n";
  }
  for (const auto& [name, n] : regression) out << "  target " << name << ": " << n << " values\n";
  if (!text_fallbacks.empty()) {
    int64_t total = 0;
    std::string by;
    for (const auto& [charset, n] : text_fallbacks) {
      total += n;
      by += (by.empty() ? "" : ", ") + charset + " " + std::to_string(n);
    }
    out << "  texts not in UTF-8 (decoded by the detected charset): " << total << " (" << by
        << ")\n";
  }
  for (const auto& n : notes) out << "note: " << n << "\n";
  if (!problems.empty()) out << problems.size() << " problem(s):\n";
  for (const auto& p : problems) out << p.message() << "\n";
  return out.str();
}

}  // namespace mmfuse::data
