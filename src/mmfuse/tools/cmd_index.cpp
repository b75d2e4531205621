// `mmfuse index build --run RUN_DIR --data MANIFEST --modality image --out INDEX_DIR` and
// `mmfuse search --index INDEX_DIR --run RUN_DIR --text "..." | --image F | --audio F [--k 10]`.
#include <torch/torch.h>

#include <iostream>

#include "mmfuse/core/error.h"
#include "mmfuse/retrieval/search.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

namespace {

void add_index_build_command(CLI::App& app) {
  struct Args {
    retrieval::IndexBuildRequest req;
    std::string modality = "image", type = "flat";
    int intra_threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* index = app.add_subcommand("index", "Vector indexes of embedded collections (retrieval)");
  index->require_subcommand(1);
  auto* cmd = index->add_subcommand(
      "build",
      "Embed a manifest's samples with a retrieval run's tower and store them in a FAISS index "
      "folder (index.faiss, metadata.jsonl, manifest.json), written atomically");
  cmd->add_option("--run", args->req.run_dir, "Retrieval run directory (`mmfuse train`)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--data", args->req.manifest, "Manifest (JSONL/CSV) of the collection")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--modality", args->modality, "Modality to embed (image, audio, text)")
      ->capture_default_str();
  cmd->add_option("--out,-o", args->req.out_dir, "Index folder to write")->required();
  cmd->add_option("--index-type", args->type, "flat (exact inner product), ivf or hnsw")
      ->capture_default_str();
  cmd->add_option("--nlist", args->req.index.nlist, "ivf: lists (0: about sqrt(count))");
  cmd->add_option("--nprobe", args->req.index.nprobe, "ivf: lists searched per query (0: 8)");
  cmd->add_option("--hnsw-m", args->req.index.hnsw_m, "hnsw: neighbours per node")
      ->capture_default_str();
  cmd->add_option("--batch", args->req.batch_size, "Batch size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--threads", args->intra_threads, "Intra-op threads (default: torch's choice)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([=] {
    retrieval::IndexBuildRequest r = args->req;
    try {
      r.modality = modality_from_string(args->modality);
    } catch (const Error& e) {
      throw UsageError(std::string("--modality: ") + e.what());
    }
    r.index.type = retrieval::index_type_from_string(args->type);
    if (args->intra_threads > 0) at::set_num_threads(args->intra_threads);
    std::cout << retrieval::build_index(r).dump(2) << "\n";
  });
}

void add_search_command(CLI::App& app) {
  struct Args {
    std::string index_dir, run_dir, image, audio, text;
    int64_t k = 10;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "search", "Search an index with one query (text, image or audio); prints the top-k as JSON");
  cmd->add_option("--index", args->index_dir, "Index folder (`mmfuse index build`)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--run", args->run_dir, "The retrieval run the index was built with")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* image = cmd->add_option("--image", args->image, "Query image file");
  auto* audio = cmd->add_option("--audio", args->audio, "Query audio file");
  auto* text = cmd->add_option("--text", args->text, "Query text (UTF-8)");
  cmd->add_option("--k", args->k, "Results to return")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->callback([=] {
    retrieval::SearchRequest r;
    r.index_dir = args->index_dir;
    r.run_dir = args->run_dir;
    r.k = args->k;
    if (image->count()) r.query.image = runtime::EncodedFile::read(args->image);
    if (audio->count()) r.query.audio = runtime::EncodedFile::read(args->audio);
    if (text->count()) r.query.text = args->text;
    std::cout << retrieval::search(r).dump(2) << "\n";
  });
}

}  // namespace

void add_index_commands(CLI::App& app) {
  add_index_build_command(app);
  add_search_command(app);
}

}  // namespace mmfuse::tools
