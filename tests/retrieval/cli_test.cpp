// End to end through the mmfuse binary on a small slice of the emoji pairs (../shared): a tiny
// retrieval run trained for 2 epochs (and another for 1), `eval` reporting both directions, `index
// build` + `search` round trip, the errors of a mismatched or corrupt index, and `mmfuse ensemble`
// of retrieval runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>

#include "mmfuse/core/fs.h"
#include "test_util.h"

namespace mmfuse::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// stdout as JSON; on failure {"error": output}.
json run_json(const std::string& args, int* code = nullptr) {
  TempDir tmp;
  auto r = run_command("(" + std::string(MMFUSE_BINARY) + " " + args + " > " +
                       tmp.file("out.json") + ")");
  if (code) *code = r.exit_code;
  if (r.exit_code != 0) return {{"error", r.output}};
  return json::parse(read_file(tmp.file("out.json")));
}

struct TinyRetrieval {
  std::unique_ptr<TempDir> dir;
  std::string spec, run, other_config, other_run, test_manifest, error;
  std::vector<json> test_rows;
};

// A split of the first `n` lines of the emoji `split`, image paths made absolute.
std::vector<json> slice(const std::string& split, std::size_t from, std::size_t n) {
  const std::string base = shared_dir() + "/data/emoji";
  std::ifstream in(base + "/" + split + ".jsonl");
  std::vector<json> rows;
  std::size_t i = 0;
  for (std::string line; std::getline(in, line) && rows.size() < n; ++i) {
    if (i < from) continue;
    json j = json::parse(line);
    j["image"] = base + "/" + j["image"].get<std::string>();
    rows.push_back(j);
  }
  return rows;
}

std::string write_rows(const TempDir& dir, const std::string& name, const std::vector<json>& rows) {
  std::string text;
  for (const auto& r : rows) text += r.dump() + "\n";
  write_file_atomic(dir.file(name), text);
  return dir.file(name);
}

const TinyRetrieval& tiny() {
  static TinyRetrieval t;
  if (t.dir) return t;
  t.dir = std::make_unique<TempDir>();
  const TempDir& d = *t.dir;
  write_rows(d, "train.jsonl", slice("train", 0, 96));
  write_rows(d, "val.jsonl", slice("val", 0, 32));
  t.test_rows = slice("test", 0, 40);
  t.test_manifest = write_rows(d, "test.jsonl", t.test_rows);
  t.spec = d.file("emoji.yaml");
  write_file_atomic(t.spec,
                    "splits: {train: [train.jsonl], val: [val.jsonl], test: [test.jsonl]}\n"
                    "modalities:\n"
                    "  image: {field: image, pipeline: image, size: [32, 32], channels: 3}\n"
                    "  text: {field: text, pipeline: text}\n"
                    // no class target: a val label unseen in this small train slice would drop
                    // its sample
                    "cache: {enabled: false}\n");
  auto config = [&](const std::string& name, int seed, int dim, int epochs) {
    write_file_atomic(d.file(name), "data: " + t.spec +
                                        "\ntask: retrieval\n"
                                        "retrieval: {modalities: [text, image], dim: " +
                                        std::to_string(dim) +
                                        "}\n"
                                        "model:\n  encoders:\n"
                                        "    text: {type: embedding, dim: 16}\n"
                                        "    image: {type: lenet, channels: 4, extra_blocks: 1}\n"
                                        "train: {epochs: " +
                                        std::to_string(epochs) +
                                        ", batch_size: 16, threads: 1, loader_threads: 1, seed: " +
                                        std::to_string(seed) +
                                        ", optimizer: {type: adamw, lr: 0.003}}\n");
    return d.file(name);
  };
  t.run = d.file("run");
  auto r = run_mmfuse("-q train --no-progress --config " + config("a.yaml", 1, 8, 2) + " --out " +
                      t.run + " > /dev/null");
  if (r.exit_code != 0) t.error = "train failed: " + r.output;
  // Only the mismatch test needs a second run (other weights, other dimension): made on demand.
  t.other_config = config("b.yaml", 2, 12, 1);
  t.other_run = d.file("other");
  return t;
}

#define REQUIRE_TINY()           \
  do {                           \
    MMFUSE_REQUIRE_SHARED();     \
    ASSERT_EQ(tiny().error, ""); \
  } while (0)

// The second run (seed 2, 12-d), trained once by whichever test needs it first.
const std::string& other_run() {
  static std::string error = [] {
    if (std::filesystem::exists(tiny().other_run + "/model.safetensors")) return std::string();
    auto r = run_mmfuse("-q train --no-progress --config " + tiny().other_config + " --out " +
                        tiny().other_run + " > /dev/null");
    return r.exit_code == 0 ? std::string() : "other train failed: " + r.output;
  }();
  EXPECT_EQ(error, "");
  return tiny().other_run;
}

TEST(RetrievalCli, TrainWritesARetrievalRunSelectedOnVal) {
  REQUIRE_TINY();
  for (const char* f : {"config.yaml", "dataset.json", "model.safetensors", "summary.json",
                        "metrics.jsonl", "checkpoints/best.safetensors"}) {
    EXPECT_TRUE(std::filesystem::exists(tiny().run + "/" + f)) << f;
  }
  const json s = json::parse(read_file(tiny().run + "/summary.json"));
  EXPECT_EQ(s["task"], "retrieval");
  EXPECT_EQ(s["history"].size(), 2u);
  EXPECT_EQ(s["test"]["n"], 40);
  EXPECT_EQ(s["val"]["n"], 32);
  // the selected epoch is the one with the best validation value
  double best = -1;
  int best_epoch = 0;
  for (const auto& e : s["history"]) {
    if (e["val_metric"].get<double>() > best) best = e["val_metric"], best_epoch = e["epoch"];
  }
  EXPECT_EQ(s["best_epoch"], best_epoch);
  EXPECT_NEAR(s["val"]["select"].get<double>(), best, 1e-9);
}

TEST(RetrievalCli, EvalReportsBothDirectionsAndMatchesTheSummary) {
  REQUIRE_TINY();
  const json r = run_json("eval --json --run " + tiny().run + " --data " + tiny().test_manifest);
  ASSERT_FALSE(r.contains("error")) << r.dump();
  EXPECT_EQ(r["task"], "retrieval");
  const json s = json::parse(read_file(tiny().run + "/summary.json"));
  for (const char* dir : {"text_to_image", "image_to_text"}) {
    const json& m = r["metrics"][dir];
    EXPECT_EQ(m["queries"], 40) << dir;
    EXPECT_LE(m["R@1"].get<double>(), m["R@5"].get<double>());
    EXPECT_LE(m["R@5"].get<double>(), m["R@10"].get<double>());
    EXPECT_NEAR(m["R@10"].get<double>(), s["test"][dir]["R@10"].get<double>(), 1e-9);
    EXPECT_NEAR(m["mAP"].get<double>(), s["test"][dir]["mAP"].get<double>(), 1e-9);
  }
  auto table = run_mmfuse("eval --run " + tiny().run + " --data " + tiny().test_manifest);
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("text_to_image"));
  EXPECT_THAT(table.output, HasSubstr("median_rank"));
}

TEST(RetrievalCli, IndexBuildThenSearchRoundTrip) {
  REQUIRE_TINY();
  TempDir out;
  const json built = run_json("index build --run " + tiny().run + " --data " +
                              tiny().test_manifest + " --modality image --out " + out.file("idx"));
  ASSERT_FALSE(built.contains("error")) << built.dump();
  EXPECT_EQ(built["count"], 40);
  EXPECT_EQ(built["dim"], 8);
  EXPECT_EQ(built["modality"], "image");
  // Searching with an image of the collection finds that image first (cosine 1).
  const json& row = tiny().test_rows[7];
  const json hit = run_json("search --index " + out.file("idx") + " --run " + tiny().run +
                            " --image " + row["image"].get<std::string>() + " --k 3");
  ASSERT_FALSE(hit.contains("error")) << hit.dump();
  ASSERT_EQ(hit["results"].size(), 3u);
  EXPECT_EQ(hit["results"][0]["id"], row["id"]);
  EXPECT_NEAR(hit["results"][0]["score"].get<double>(), 1.0, 1e-4);
  EXPECT_EQ(hit["results"][0]["image"], row["image"]);
  // A text query returns k ranked image ids with decreasing scores.
  const json text = run_json("search --index " + out.file("idx") + " --run " + tiny().run +
                             " --text 'grinning face' --k 10");
  ASSERT_FALSE(text.contains("error")) << text.dump();
  ASSERT_EQ(text["results"].size(), 10u);
  for (std::size_t i = 1; i < 10; ++i) {
    EXPECT_GE(text["results"][i - 1]["score"].get<double>(),
              text["results"][i]["score"].get<double>());
  }
  EXPECT_EQ(text["query"]["modality"], "text");
}

TEST(RetrievalCli, MismatchedOrCorruptIndexGivesAClearError) {
  REQUIRE_TINY();
  TempDir out;
  const std::string idx = out.file("idx");
  ASSERT_FALSE(run_json("index build --run " + tiny().run + " --data " + tiny().test_manifest +
                        " --modality image --index-type hnsw --out " + idx)
                   .contains("error"));
  int code = 0;
  // another run's weights
  json r = run_json("search --index " + idx + " --run " + other_run() + " --text cat", &code);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(r["error"].get<std::string>(), HasSubstr(idx + "/manifest.json"));
  EXPECT_THAT(r["error"].get<std::string>(), HasSubstr("model hashes differ"));
  EXPECT_THAT(r["error"].get<std::string>(), HasSubstr("rebuild the index"));
  // a modality the run has no tower for
  r = run_json("index build --run " + tiny().run + " --data " + tiny().test_manifest +
                   " --modality audio --out " + out.file("audio"),
               &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(r["error"].get<std::string>(), HasSubstr("the run embeds text and image"));
  // a corrupt index file
  std::string bytes = read_file(idx + "/index.faiss");
  bytes[bytes.size() - 5] ^= 0x11;
  write_file_atomic(idx + "/index.faiss", bytes);
  r = run_json("search --index " + idx + " --run " + tiny().run + " --text cat", &code);
  EXPECT_EQ(code, 1);
  EXPECT_THAT(r["error"].get<std::string>(), HasSubstr(idx + "/index.faiss: corrupt"));
}

TEST(RetrievalCli, EnsembleOfRetrievalRunsEvaluatesIndexesAndSearches) {
  REQUIRE_TINY();
  TempDir out;
  const std::string a = tiny().run, b = other_run();
  auto made = run_mmfuse("-q ensemble --runs " + a + " " + b + " --out " + out.file("ab"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  made = run_mmfuse("-q ensemble --runs " + a + " " + a + " --out " + out.file("aa"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  // Two copies of one run score every pair as the run does: the same ranks, the same metrics.
  const json ra = run_json("eval --json --run " + a + " --data " + tiny().test_manifest);
  const json raa =
      run_json("eval --json --run " + out.file("aa") + " --data " + tiny().test_manifest);
  const json rab =
      run_json("eval --json --run " + out.file("ab") + " --data " + tiny().test_manifest);
  ASSERT_FALSE(raa.contains("error")) << raa.dump();
  ASSERT_FALSE(rab.contains("error")) << rab.dump();
  EXPECT_EQ(rab["task"], "retrieval");
  for (const char* dir : {"text_to_image", "image_to_text"}) {
    for (const char* k : {"R@1", "R@5", "R@10", "mAP"}) {
      EXPECT_NEAR(raa["metrics"][dir][k].get<double>(), ra["metrics"][dir][k].get<double>(), 1e-6)
          << dir << " " << k;
    }
    EXPECT_EQ(rab["metrics"][dir]["queries"], 40);
  }
  // The index of the ensemble holds both members' embeddings side by side (8 + 12), and an
  // image of the collection finds itself first (cosine 1).
  const json built = run_json("index build --run " + out.file("ab") + " --data " +
                              tiny().test_manifest + " --modality image --out " + out.file("idx"));
  ASSERT_FALSE(built.contains("error")) << built.dump();
  EXPECT_EQ(built["dim"], 20);
  const json& row = tiny().test_rows[3];
  const json hit = run_json("search --index " + out.file("idx") + " --run " + out.file("ab") +
                            " --image " + row["image"].get<std::string>() + " --k 2");
  ASSERT_FALSE(hit.contains("error")) << hit.dump();
  EXPECT_EQ(hit["results"][0]["id"], row["id"]);
  EXPECT_NEAR(hit["results"][0]["score"].get<double>(), 1.0, 1e-4);
  // A vote has no meaning for embeddings.
  auto vote =
      run_mmfuse("-q ensemble --runs " + a + " " + b + " --mode vote --out " + out.file("vote"));
  EXPECT_EQ(vote.exit_code, 2) << vote.output;
  EXPECT_THAT(vote.output, HasSubstr("averages its members' cosine scores"));
}

}  // namespace
}  // namespace mmfuse::testing
