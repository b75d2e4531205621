#include "mmfuse/data/dataset.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "mmfuse/data/parallel.h"

namespace mmfuse::data {

namespace {

std::string join_names(const std::vector<std::string>& names, std::size_t max = 12) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < max; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > max) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

// In-memory fields (requests) bypass the feature cache: they have no file to hash.
bool in_memory(const Field& f) {
  if (const auto* img = std::get_if<ImageRef>(&f)) return img->bytes != nullptr;
  if (const auto* aud = std::get_if<AudioRef>(&f)) return aud->bytes != nullptr;
  return false;
}

}  // namespace

Dataset::Dataset(DatasetSpec spec, const DatasetOptions& options)
    : spec_(std::move(spec)), skip_bad_(options.skip_bad.value_or(spec_.skip_bad)) {
  modalities_ = spec_.used_modalities();
  FeatureCacheOptions cache;
  cache.dir = options.cache_dir.value_or(spec_.cache.enabled ? spec_.cache.dir : std::string());
  cache.ram_bytes = spec_.cache.ram_mb * 1024 * 1024;
  if (options.ram_cache_cap_bytes) {
    cache.ram_bytes = std::min(cache.ram_bytes, std::max<int64_t>(0, *options.ram_cache_cap_bytes));
  }
  cache.dtype = spec_.cache.dtype;
  cache_ = std::make_unique<FeatureCache>(cache);
}

void Dataset::build_pipelines(const PipelineRegistry& registry) {
  for (Modality m : modalities_) {
    const ModalitySpec& ms = *spec_.modalities[index_of(m)];
    PipelineContext ctx{m, spec_.base_dir, spec_.limits};
    auto p = registry.create(ms.pipeline, ctx, ms.options);
    if (p->modality() != m) {
      ms.options.fail("pipeline '" + ms.pipeline + "' handles " +
                      std::string(to_string(p->modality())) + ", not " + std::string(to_string(m)) +
                      "; pick a pipeline for this modality");
    }
    pipelines_[index_of(m)] = std::move(p);
  }
}

std::shared_ptr<Dataset> Dataset::create(DatasetSpec spec, DatasetOptions options) {
  std::shared_ptr<Dataset> ds(new Dataset(std::move(spec), options));
  ds->build_pipelines(options.registry ? *options.registry : pipeline_registry());
  ds->fit(options.threads);
  return ds;
}

void Dataset::fit_targets(const std::vector<Sample>& samples) {
  for (const auto& t : spec_.targets) {
    if (t.kind == TargetKind::class_label) {
      std::vector<std::string> labels;
      for (const auto& s : samples) {
        auto it = s.targets.find(t.name);
        if (it != s.targets.end()) labels.push_back(std::get<std::string>(it->second));
      }
      label_maps_[t.name] =
          t.classes_file.empty() ? LabelMap::fit(labels) : LabelMap::from_file(t.classes_file);
    } else {
      for (const auto& s : samples) {
        auto it = s.targets.find(t.name);
        if (it == s.targets.end()) continue;
        widths_[t.name] = static_cast<int64_t>(std::get<std::vector<float>>(it->second).size());
        break;
      }
      if (!widths_.count(t.name)) widths_[t.name] = 1;
    }
  }
}

void Dataset::fit_pipelines(const std::vector<Sample>& samples) {
  for (Modality m : modalities_) {
    std::vector<std::size_t> with;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      if (samples[i].has(m)) with.push_back(i);
    }
    FitContext ctx;
    ctx.size = with.size();
    ctx.field = [&, with](std::size_t i) -> const Field& { return *samples[with.at(i)].field(m); };
    ctx.features = [this, &samples, with, m](std::size_t i) {
      return features(samples[with.at(i)], m);
    };
    pipelines_[index_of(m)]->fit(ctx);
  }
}

void Dataset::fit(int threads) {
  auto train = std::make_shared<SampleSet>();
  train->split = Split::train;
  ManifestData data = read_split_manifests(Split::train);
  train->bad = std::move(data.bad);

  // Extract every cacheable training feature once: finds bad samples before fitting and fills
  // the cache. Non-cacheable pipelines (e.g. text, whose ids need the vocabulary fit() builds)
  // are checked when batches are made.
  std::vector<std::optional<InputError>> errors(data.samples.size());
  parallel_for_each(data.samples.size(), threads, [&](std::size_t i) {
    try {
      for (Modality m : modalities_) {
        if (data.samples[i].has(m) && pipeline(m).cacheable()) {
          (void)features(data.samples[i], m);
        }
      }
    } catch (const InputError& e) {
      errors[i] = e;
    }
  });
  // Bad samples out in place, the vector moved as a whole: no second copy of the samples.
  std::size_t kept = 0;
  for (std::size_t i = 0; i < data.samples.size(); ++i) {
    if (!errors[i]) {
      if (kept != i) data.samples[kept] = std::move(data.samples[i]);
      ++kept;
      continue;
    }
    if (!skip_bad_) throw *errors[i];
    train->bad.push_back(BadSample::from(*errors[i], data.samples[i].id));
  }
  data.samples.resize(kept);
  train->samples = std::move(data.samples);
  if (train->samples.empty()) {
    throw InputError("no usable training samples (" + std::to_string(train->bad.size()) +
                     " bad); check the manifests with `mmfuse data check`")
        .at(join_names(spec_.manifests(Split::train), 3), 0, "");
  }

  fit_targets(train->samples);
  auto& samples_in = train->samples;
  std::size_t valid = 0;  // in place, as above
  for (std::size_t i = 0; i < samples_in.size(); ++i) {
    try {
      check_targets(samples_in[i]);
      if (valid != i) samples_in[valid] = std::move(samples_in[i]);
      ++valid;
    } catch (const InputError& e) {
      if (!skip_bad_) throw;
      train->bad.push_back(BadSample::from(e, samples_in[i].id));
    }
  }
  samples_in.resize(valid);

  fit_pipelines(train->samples);
  if (!train->bad.empty()) {
    spdlog::warn("training split: skipped {} bad sample(s); first: {}", train->bad.size(),
                 train->bad.front().message());
  }
  train_ = std::move(train);
}

const std::string& Dataset::field_name(Modality m) const {
  return spec_.modalities[index_of(m)]->field;
}

const ModalityPipeline& Dataset::pipeline(Modality m) const {
  if (!pipelines_[index_of(m)]) {
    throw Error("the dataset does not use " + std::string(to_string(m)) +
                "; add it under `modalities` in " + spec_.path);
  }
  return *pipelines_[index_of(m)];
}

const TargetSpec& Dataset::target(const std::string& name) const {
  for (const auto& t : spec_.targets) {
    if (t.name == name) return t;
  }
  std::vector<std::string> names;
  for (const auto& t : spec_.targets) names.push_back(t.name);
  throw Error("unknown target '" + name + "'; the dataset has: " + join_names(names));
}

const LabelMap& Dataset::label_map(const std::string& name) const {
  auto it = label_maps_.find(name);
  if (it == label_maps_.end()) {
    (void)target(name);
    throw Error("target '" + name + "' is a regression target; it has no classes");
  }
  return it->second;
}

int64_t Dataset::regression_width(const std::string& name) const {
  auto it = widths_.find(name);
  if (it == widths_.end()) {
    (void)target(name);
    throw Error("target '" + name + "' is a class target; use num_classes()");
  }
  return it->second;
}

void Dataset::check_targets(const Sample& s) const {
  for (const auto& t : spec_.targets) {
    auto it = s.targets.find(t.name);
    if (it == s.targets.end()) continue;
    if (t.kind == TargetKind::class_label) {
      const auto& label = std::get<std::string>(it->second);
      const LabelMap& map = label_maps_.at(t.name);
      if (map.index(label) < 0) {
        throw InputError("label '" + label + "' of target '" + t.name +
                         "' was not seen in training; known: " + join_names(map.names()) +
                         "; add such samples to the training split or drop this one")
            .at(s.manifest, s.line, t.field);
      }
    } else {
      auto n = static_cast<int64_t>(std::get<std::vector<float>>(it->second).size());
      if (n != widths_.at(t.name)) {
        throw InputError("expected " + std::to_string(widths_.at(t.name)) +
                         " number(s) as in training, got " + std::to_string(n))
            .at(s.manifest, s.line, t.field);
      }
    }
  }
}

std::shared_ptr<const SampleSet> Dataset::train_samples() const {
  return train_ ? train_ : read_split(Split::train);
}

std::shared_ptr<const SampleSet> Dataset::read_split(Split split) const {
  if (split == Split::val ? !spec_.has_val_split() : spec_.manifests(split).empty()) {
    throw UsageError("the dataset spec " + spec_.path + " lists no manifests for split '" +
                     std::string(to_string(split)) + "'");
  }
  return checked(read_split_manifests(split), split, skip_bad_);
}

ManifestData Dataset::read_split_manifests(Split split) const {
  const FoldSpec& folds = spec_.folds;
  if (folds.k == 0 || split == Split::test) {
    return read_manifests(spec_.manifests(split), spec_.schema(), skip_bad_);
  }
  std::vector<std::string> pooled = spec_.manifests(Split::train);
  for (const auto& m : spec_.manifests(Split::val)) pooled.push_back(m);
  ManifestData data = read_manifests(pooled, spec_.schema(), skip_bad_);
  const bool want_fold = split == Split::val;
  const std::vector<int64_t> fold = folds.assign(data.samples);
  std::size_t kept = 0;  // in place: no second copy of the samples
  for (std::size_t i = 0; i < data.samples.size(); ++i) {
    if ((fold[i] == folds.fold) != want_fold) continue;
    if (kept != i) data.samples[kept] = std::move(data.samples[i]);
    ++kept;
  }
  data.samples.resize(kept);
  if (want_fold) data.bad.clear();
  return data;
}

std::shared_ptr<SampleSet> Dataset::checked(ManifestData data, Split split, bool skip_bad) const {
  auto out = std::make_shared<SampleSet>();
  out->split = split;
  out->bad = std::move(data.bad);
  std::size_t kept = 0;  // bad samples out in place: no second copy of the samples
  for (std::size_t i = 0; i < data.samples.size(); ++i) {
    try {
      check_targets(data.samples[i]);
      if (kept != i) data.samples[kept] = std::move(data.samples[i]);
      ++kept;
    } catch (const InputError& e) {
      if (!skip_bad) throw;
      out->bad.push_back(BadSample::from(e, data.samples[i].id));
    }
  }
  data.samples.resize(kept);
  out->samples = std::move(data.samples);
  return out;
}

torch::Tensor Dataset::features(const Sample& s, Modality m) const {
  const ModalityPipeline& p = pipeline(m);
  const Field& field = *s.field(m);
  return located(s, m, "decoding", [&] {
    if (!p.cacheable() || in_memory(field)) return p.extract(field);
    return cache_->get_or_compute(FeatureCache::key(p, field), [&] { return p.extract(field); });
  });
}

torch::Tensor Dataset::item(const Sample& s, Modality m, Rng* rng) const {
  return item_from(
      s, m, [&] { return features(s, m); }, rng);
}

torch::Tensor Dataset::item_from(const Sample& s, Modality m,
                                 const std::function<torch::Tensor()>& extract, Rng* rng) const {
  const ModalityPipeline& p = pipeline(m);
  torch::Tensor f = located(s, m, "decoding", extract);
  return located(s, m, "preprocessing", [&] {
    if (rng) f = p.augment(*s.field(m), f, *rng);
    return p.finalize(f);
  });
}

torch::Tensor Dataset::located(const Sample& s, Modality m, const char* step,
                               const std::function<torch::Tensor()>& fn) const {
  try {
    return fn();
  } catch (const InputError& e) {
    if (!e.manifest().empty()) throw;  // already located (features() inside item_from)
    throw e.at(s.manifest, s.line, field_name(m));
  } catch (const c10::Error& e) {  // a torch op failing on odd data: a bad sample, not a crash
    throw InputError(std::string(step) + " failed: " + e.what_without_backtrace())
        .at(s.manifest, s.line, field_name(m));
  }
}

std::shared_ptr<const SampleSet> Dataset::read_manifest_file(const std::string& path,
                                                             bool skip_bad) const {
  return checked(read_manifest(path, spec_.schema(), skip_bad), Split::test, skip_bad);
}

ManifestReader Dataset::open_manifest_file(const std::string& path, bool skip_bad) const {
  return ManifestReader({path}, spec_.schema(), skip_bad);
}

std::shared_ptr<const SampleSet> Dataset::read_chunk(ManifestReader& reader,
                                                     std::size_t max_samples, bool skip_bad) const {
  ManifestData data;
  data.samples.reserve(std::min<std::size_t>(max_samples, std::size_t{1} << 16));
  if (!reader.read(data, max_samples)) return nullptr;
  return checked(std::move(data), Split::test, skip_bad);
}

}  // namespace mmfuse::data
