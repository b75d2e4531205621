#include "mmfuse/retrieval/search.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/eval/retrieval_eval.h"

namespace mmfuse::retrieval {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json field_json(const data::Field& f) {
  if (auto* img = std::get_if<data::ImageRef>(&f)) {
    return img->index < 0 ? json(img->path) : json{{"file", img->path}, {"index", img->index}};
  }
  if (auto* audio = std::get_if<data::AudioRef>(&f)) return audio->path;
  if (auto* text = std::get_if<std::string>(&f)) return *text;
  return std::get<std::vector<float>>(f);
}

json target_json(const data::TargetValue& v) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  return std::get<std::vector<float>>(v);
}

}  // namespace

json build_index(const IndexBuildRequest& req) {
  const auto run = runtime::load_run(req.run_dir);
  models::TwoTower towers = run->towers();
  if (!towers->has(req.modality)) {
    throw UsageError("--modality " + std::string(to_string(req.modality)) + ": the run embeds " +
                     std::string(to_string(towers->query_modality())) + " and " +
                     std::string(to_string(towers->candidate_modality())));
  }
  auto samples = run->dataset->read_manifest_file(req.manifest);
  eval::EmbedOptions eo;
  eo.batch_size = req.batch_size;
  eo.threads = req.threads;
  const eval::Embeddings emb =
      eval::embed_samples(towers, run->dataset, samples, req.modality, "", eo);
  if (emb.ids.empty()) {
    throw InputError("no sample has a " + std::string(to_string(req.modality)) + " field",
                     req.manifest);
  }
  std::vector<json> metadata;
  for (std::size_t i = 0; i < emb.ids.size(); ++i) {
    const data::Sample& s = samples->samples[static_cast<std::size_t>(emb.rows[i])];
    json line = {{"row", static_cast<int64_t>(i)},
                 {"id", emb.ids[i]},
                 {std::string(to_string(req.modality)), field_json(*s.field(req.modality))}};
    for (const auto& [name, value] : s.targets) line[name] = target_json(value);
    metadata.push_back(std::move(line));
  }
  IndexInfo info;
  info.run = fs::absolute(req.run_dir).lexically_normal().string();
  info.model_hash = run->model_hash;
  info.modality = req.modality;
  info.data = fs::absolute(req.manifest).lexically_normal().string();
  VectorIndex index(emb.vectors, info, req.index, std::move(metadata));
  index.save(req.out_dir);
  return index.info().to_json();
}

void check_index_fits(const VectorIndex& index, const std::string& index_dir,
                      const runtime::Run& run) {
  const IndexInfo& info = index.info();
  const std::string manifest = (fs::path(index_dir) / "manifest.json").string();
  models::TwoTower towers = run.towers();
  const std::string embeds = std::string(to_string(towers->query_modality())) + " and " +
                             std::string(to_string(towers->candidate_modality()));
  if (info.model_hash != run.model_hash) {
    throw Error(manifest + ": the index was built with the weights of " + info.run +
                ", not those of " + run.dir + " (model hashes differ); search with --run " +
                info.run + " or rebuild the index with `mmfuse index build --run " + run.dir +
                " ...`");
  }
  if (!towers->has(info.modality)) {
    throw Error(manifest + ": the index holds " + std::string(to_string(info.modality)) +
                " vectors but the run embeds " + embeds + "; rebuild it with a --modality the " +
                "run has");
  }
  if (info.dim != towers->dim()) {
    throw Error(manifest + ": the index holds " + std::to_string(info.dim) +
                "-dimensional vectors but the run embeds into " + std::to_string(towers->dim()) +
                " dimensions; rebuild it with this run");
  }
}

json search(const runtime::Predictor& predictor, const VectorIndex& index,
            const std::string& index_dir, const runtime::Request& query, int64_t k) {
  const auto given = query.modalities();
  if (given.size() != 1 || query.tabular) {
    throw UsageError("give exactly one query: --text, --image or --audio");
  }
  const Modality m = given.front();
  const torch::Tensor z = predictor.embed(m, std::vector<runtime::Request>{query})[0];  // [D]
  json results = json::array();
  int64_t rank = 0;
  for (const SearchHit& h : index.search(z, k)) {
    json r = index.metadata(h.row);
    r["rank"] = ++rank;
    r["score"] = h.score;
    results.push_back(std::move(r));
  }
  json q = {{"modality", std::string(to_string(m))}};
  if (query.text) q["text"] = *query.text;
  if (query.image) q["file"] = query.image->name;
  if (query.audio) q["file"] = query.audio->name;
  return {{"query", q}, {"index", index_dir}, {"k", k}, {"results", results}};
}

json search(const SearchRequest& req) {
  if (req.k < 1) throw UsageError("--k: expected at least 1, got " + std::to_string(req.k));
  VectorIndex index = VectorIndex::load(req.index_dir);
  const runtime::Predictor predictor(runtime::load_run(req.run_dir));
  check_index_fits(index, req.index_dir, predictor.run());
  return search(predictor, index, req.index_dir, req.query, req.k);
}

}  // namespace mmfuse::retrieval
