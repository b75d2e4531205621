#include "mmfuse/retrieval/index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"

namespace mmfuse::retrieval {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kFormat = "mmfuse-index";
constexpr int kVersion = 1;
constexpr std::array<std::pair<IndexType, const char*>, 3> kTypes = {
    {{IndexType::flat, "flat"}, {IndexType::ivf, "ivf"}, {IndexType::hnsw, "hnsw"}}};

std::string rebuild_hint(const std::string& dir) {
  return "rebuild it with `mmfuse index build --run RUN_DIR --data MANIFEST --modality M --out " +
         dir + "`";
}

std::string hash_bytes(std::string_view bytes) {
  Hasher h;
  h.update(bytes);
  return h.hex();
}

}  // namespace

std::string to_string(IndexType t) {
  for (const auto& [type, name] : kTypes) {
    if (type == t) return name;
  }
  return "?";
}

IndexType index_type_from_string(const std::string& name) {
  for (const auto& [type, n] : kTypes) {
    if (name == n) return type;
  }
  throw UsageError("unknown index type '" + name + "'; known: flat, ivf, hnsw");
}

json IndexInfo::to_json() const {
  return {{"format", kFormat},
          {"version", kVersion},
          {"run", run},
          {"model_hash", model_hash},
          {"modality", std::string(mmfuse::to_string(modality))},
          {"dim", dim},
          {"count", count},
          {"index_type", retrieval::to_string(type)},
          {"nprobe", nprobe},
          {"data", data}};
}

VectorIndex::VectorIndex(const torch::Tensor& vectors, IndexInfo info, const IndexOptions& options,
                         std::vector<json> metadata)
    : info_(std::move(info)), metadata_(std::move(metadata)) {
  if (vectors.dim() != 2 || vectors.size(0) < 1) {
    throw Error("an index needs at least one vector [N, D]; the collection embedded to nothing");
  }
  if (static_cast<int64_t>(metadata_.size()) != vectors.size(0)) {
    throw Error("index: " + std::to_string(metadata_.size()) + " metadata lines for " +
                std::to_string(vectors.size(0)) + " vectors");
  }
  const torch::Tensor x = vectors.to(torch::kCPU, torch::kFloat).contiguous();
  const int64_t n = x.size(0), d = x.size(1);
  info_.dim = d;
  info_.count = n;
  info_.type = options.type;
  switch (options.type) {
    case IndexType::flat:
      index_ = std::make_unique<faiss::IndexFlatIP>(d);
      break;
    case IndexType::ivf: {
      int64_t nlist =
          options.nlist > 0
              ? options.nlist
              : std::max<int64_t>(1, std::min<int64_t>(n / 8, static_cast<int64_t>(std::sqrt(n))));
      if (nlist > n) {
        throw UsageError("an ivf index with " + std::to_string(nlist) + " lists needs at least " +
                         std::to_string(nlist) + " vectors, got " + std::to_string(n) +
                         "; use fewer lists or --index-type flat");
      }
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(new faiss::IndexFlatIP(d), d, nlist,
                                                       faiss::METRIC_INNER_PRODUCT);
      ivf->own_fields = true;
      ivf->cp.min_points_per_centroid = 1;  // small collections: no warning spam
      ivf->train(n, x.data_ptr<float>());
      info_.nprobe = options.nprobe > 0 ? options.nprobe : std::min<int64_t>(nlist, 8);
      index_ = std::move(ivf);
      break;
    }
    case IndexType::hnsw:
      index_ = std::make_unique<faiss::IndexHNSWFlat>(d, static_cast<int>(options.hnsw_m),
                                                      faiss::METRIC_INNER_PRODUCT);
      break;
  }
  index_->add(n, x.data_ptr<float>());
}

VectorIndex::~VectorIndex() = default;
VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;

void VectorIndex::save(const std::string& dir) const {
  const fs::path target(dir);
  if (fs::exists(target) && !fs::is_empty(target) && !fs::exists(target / "manifest.json")) {
    throw UsageError(dir + " exists and is not an index folder; choose another --out");
  }
  const fs::path tmp = target.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  faiss::VectorIOWriter writer;
  faiss::write_index(index_.get(), &writer);
  const std::string bytes(writer.data.begin(), writer.data.end());
  std::string lines;
  for (const auto& m : metadata_) lines += m.dump() + "\n";
  json manifest = info_.to_json();
  manifest["index_file"] = "index.faiss";
  manifest["index_hash"] = hash_bytes(bytes);
  manifest["metadata_file"] = "metadata.jsonl";
  manifest["metadata_hash"] = hash_bytes(lines);
  try {
    write_file_atomic((tmp / "index.faiss").string(), bytes);
    write_file_atomic((tmp / "metadata.jsonl").string(), lines);
    write_file_atomic((tmp / "manifest.json").string(), manifest.dump(2) + "\n");
  } catch (const Error&) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // a full disk or read-only folder: the previous index stays as is
    throw;
  }
  if (fs::exists(target)) {
    const fs::path old = target.string() + ".old-" + std::to_string(::getpid());
    fs::remove_all(old);
    fs::rename(target, old);
    fs::rename(tmp, target);
    fs::remove_all(old);
  } else {
    if (target.has_parent_path()) fs::create_directories(target.parent_path());
    fs::rename(tmp, target);
  }
}

VectorIndex VectorIndex::load(const std::string& dir) {
  const fs::path root(dir);
  const std::string manifest_path = (root / "manifest.json").string();
  if (!fs::exists(manifest_path)) {
    throw Error(manifest_path + ": missing; " + dir +
                " is not an index written by `mmfuse index build` (" + rebuild_hint(dir) + ")");
  }
  json m;
  try {
    m = json::parse(read_file(manifest_path));
  } catch (const json::exception& e) {
    throw Error(manifest_path + ": corrupt (" + e.what() + "); " + rebuild_hint(dir));
  }
  VectorIndex out;
  try {
    if (m.at("format") != kFormat || m.at("version") != kVersion) {
      throw Error("not an mmfuse index of version " + std::to_string(kVersion));
    }
    out.info_.run = m.at("run").get<std::string>();
    out.info_.model_hash = m.at("model_hash").get<std::string>();
    out.info_.modality = modality_from_string(m.at("modality").get<std::string>());
    out.info_.dim = m.at("dim").get<int64_t>();
    out.info_.count = m.at("count").get<int64_t>();
    out.info_.type = index_type_from_string(m.at("index_type").get<std::string>());
    out.info_.nprobe = m.value("nprobe", 0);
    out.info_.data = m.value("data", "");
  } catch (const std::exception& e) {
    throw Error(manifest_path + ": unreadable manifest (" + e.what() + "); " + rebuild_hint(dir));
  }
  const std::string index_path = (root / m.value("index_file", "index.faiss")).string();
  const std::string meta_path = (root / m.value("metadata_file", "metadata.jsonl")).string();
  for (const auto& p : {index_path, meta_path}) {
    if (!fs::exists(p)) throw Error(p + ": missing from the index folder; " + rebuild_hint(dir));
  }
  const std::string bytes = read_file(index_path);
  if (hash_bytes(bytes) != m.value("index_hash", "")) {
    throw Error(index_path +
                ": corrupt or changed since it was built (its hash differs from "
                "manifest.json); " +
                rebuild_hint(dir));
  }
  try {
    faiss::VectorIOReader reader;
    reader.data.assign(bytes.begin(), bytes.end());
    out.index_.reset(faiss::read_index(&reader));
  } catch (const std::exception& e) {
    throw Error(index_path + ": FAISS cannot read it (" + e.what() + "); " + rebuild_hint(dir));
  }
  if (out.index_->d != out.info_.dim || out.index_->ntotal != out.info_.count) {
    throw Error(index_path + ": holds " + std::to_string(out.index_->ntotal) + " vectors of " +
                std::to_string(out.index_->d) + " dimensions, manifest.json says " +
                std::to_string(out.info_.count) + " of " + std::to_string(out.info_.dim) + "; " +
                rebuild_hint(dir));
  }
  const std::string lines = read_file(meta_path);
  if (hash_bytes(lines) != m.value("metadata_hash", "")) {
    throw Error(meta_path +
                ": corrupt or changed since it was built (its hash differs from "
                "manifest.json); " +
                rebuild_hint(dir));
  }
  std::istringstream in(lines);
  for (std::string line; std::getline(in, line);) out.metadata_.push_back(json::parse(line));
  if (static_cast<int64_t>(out.metadata_.size()) != out.info_.count) {
    throw Error(meta_path + ": " + std::to_string(out.metadata_.size()) + " lines for " +
                std::to_string(out.info_.count) + " vectors; " + rebuild_hint(dir));
  }
  return out;
}

std::vector<SearchHit> VectorIndex::search(const torch::Tensor& query, int64_t k) const {
  const torch::Tensor q = query.to(torch::kCPU, torch::kFloat).contiguous().reshape({1, -1});
  if (q.size(1) != info_.dim) {
    throw Error("the query embedding has " + std::to_string(q.size(1)) + " dimensions, the index " +
                std::to_string(info_.dim));
  }
  k = std::max<int64_t>(1, std::min(k, info_.count));
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index_.get())) {
    ivf->nprobe = static_cast<size_t>(std::max<int64_t>(1, info_.nprobe));
  }
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index_.get())) {
    hnsw->hnsw.efSearch = static_cast<int>(std::max<int64_t>(64, 2 * k));
  }
  std::vector<float> scores(static_cast<std::size_t>(k));
  std::vector<faiss::Index::idx_t> rows(static_cast<std::size_t>(k));
  index_->search(1, q.data_ptr<float>(), k, scores.data(), rows.data());
  std::vector<SearchHit> hits;
  for (int64_t i = 0; i < k; ++i) {
    if (rows[i] >= 0) hits.push_back({static_cast<int64_t>(rows[i]), scores[i]});
  }
  return hits;
}

}  // namespace mmfuse::retrieval
