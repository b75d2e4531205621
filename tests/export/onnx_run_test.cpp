// `mmfuse export` on trained runs: the default config (configs/default.yaml: LeNets, a GRU over
// token ids, a composite fusion, two heads) trained briefly on the tiny built-in dataset, run in
// ONNX Runtime on the Predictor's own batches; and the run-level errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "export/ort_util.h"
#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/export/onnx_export.h"
#include "mmfuse/runtime/predictor.h"
#include "tools/tiny_run.h"

namespace mmfuse::onnx_export {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

struct DefaultRun {
  std::string data_dir, run_dir, error;
};

/// configs/default.yaml trained for one epoch on 60 tiny samples, made once per build of mmfuse
/// and shared by the test processes (tools/tiny_run.h: make_fixture_once).
const DefaultRun& default_config_run() {
  static DefaultRun run;
  static bool made = false;
  if (made) return run;
  made = true;
  const std::string dir = (testing::fixture_dir() / "default-config").string();
  run.data_dir = dir + "/data";
  run.run_dir = dir + "/run";
  run.error = testing::make_fixture_once("default-config", [&](const std::string&) {
    fs::remove_all(dir);
    auto made = testing::run_mmfuse("-q data make-default --out " + run.data_dir +
                                    " --samples 60 --seed 5");
    if (made.exit_code != 0) return "make-default failed: " + made.output;
    auto trained = testing::run_mmfuse(
        "-q train --no-progress --config " + std::string(MMFUSE_SOURCE_DIR) +
        "/configs/default.yaml --out " + run.run_dir + " data=" + run.data_dir +
        "/dataset.yaml train.epochs=1 train.batch_size=16 train.threads=1 > /dev/null");
    return trained.exit_code != 0 ? "train failed: " + trained.output : std::string();
  });
  return run;
}

/// The tiny data set's test lines that have every modality, as requests.
std::vector<runtime::Request> full_test_requests(const std::string& data_dir) {
  std::ifstream in(data_dir + "/test.jsonl");
  std::vector<runtime::Request> out;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    if (!j.value("image", json()).is_string() || !j.value("audio", json()).is_object() ||
        !j.value("text", json()).is_string()) {
      continue;
    }
    runtime::Request r;
    r.image = runtime::EncodedFile::read(data_dir + "/" + j["image"].get<std::string>());
    r.audio = runtime::EncodedFile::read(data_dir + "/" + j["audio"]["file"].get<std::string>());
    r.text = j["text"].get<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TEST(ExportRun, DefaultConfigMatchesThePredictorInOnnxRuntime) {
  MMFUSE_REQUIRE(testing::missing_default_dataset_tools());
  MMFUSE_REQUIRE_ONNXRUNTIME();
  const auto& run = default_config_run();
  ASSERT_EQ(run.error, "");
  testing::TempDir dir;
  const std::string weights_before = file_bytes(run.run_dir + "/model.safetensors");
  std::size_t files_before = std::distance(fs::recursive_directory_iterator(run.run_dir), {});

  auto res = testing::run_mmfuse("export --run " + run.run_dir + " --onnx " + dir.file("m.onnx"));
  ASSERT_EQ(res.exit_code, 0) << res.output;
  EXPECT_THAT(res.output, HasSubstr("input  text int64 [batch, "));
  EXPECT_THAT(res.output, HasSubstr("input  text_lengths int64 [batch]"));
  EXPECT_THAT(res.output, HasSubstr("output digit float32 [batch, 10]"));
  EXPECT_THAT(res.output, HasSubstr("output value float32 [batch, 1]"));
  // The run is only read.
  EXPECT_EQ(file_bytes(run.run_dir + "/model.safetensors"), weights_before);
  EXPECT_EQ(std::size_t(std::distance(fs::recursive_directory_iterator(run.run_dir), {})),
            files_before);

  const runtime::Predictor predictor(runtime::load_run(run.run_dir));
  const auto requests = full_test_requests(run.data_dir);
  ASSERT_GE(requests.size(), 4u);
  std::vector<runtime::Prepared> prepared;
  for (const auto& r : requests) prepared.push_back(predictor.prepare(r));
  std::vector<testing::OrtRun> runs;
  std::vector<testing::TensorMap> expected;
  for (std::size_t n : {std::size_t{1}, prepared.size()}) {
    auto batch = predictor.collate({prepared.begin(), prepared.begin() + n});
    testing::TensorMap feeds;
    for (Modality m : {Modality::image, Modality::audio, Modality::text}) {
      feeds[std::string(to_string(m))] = batch.at(m).data;
    }
    ASSERT_TRUE(batch.at(Modality::text).lengths.defined());
    feeds["text_lengths"] = batch.at(Modality::text).lengths;
    runs.push_back({dir.file("m.onnx"), feeds});
    torch::NoGradGuard no_grad;
    expected.push_back(predictor.run().heads()->forward(batch).outputs);
  }
  // The texts are padded to T: the lengths input carries the valid tokens (varied lengths are
  // checked by the conformance test).
  auto lengths = runs.back().inputs.at("text_lengths");
  EXPECT_LT(lengths.max().item<int64_t>(), runs.back().inputs.at("text").size(1));
  auto got = testing::run_onnxruntime(runs, dir.str());
  ASSERT_EQ(got.size(), 2u);
  for (std::size_t r = 0; r < got.size(); ++r) {
    for (const auto& [target, want] : expected[r]) {
      EXPECT_LE(testing::max_abs_diff(got[r].at(target), want), 1e-4)
          << target << " batch " << want.size(0);
    }
  }
}

TEST(ExportRun, AFolderWithoutAModelIsNotARun) {
  testing::TempDir dir;
  fs::create_directories(dir.file("empty"));
  auto res =
      testing::run_mmfuse("export --run " + dir.file("empty") + " --onnx " + dir.file("m.onnx"));
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_THAT(res.output,
              HasSubstr(dir.file("empty") + ": not a finished run (model.safetensors is missing)"));
  EXPECT_FALSE(fs::exists(dir.file("m.onnx")));
}

TEST(ExportRun, AnOutputInAMissingFolderIsRefusedBeforeLoading) {
  MMFUSE_REQUIRE(testing::missing_default_dataset_tools());
  const auto& run = default_config_run();
  ASSERT_EQ(run.error, "");
  testing::TempDir dir;
  const std::string out = dir.file("no/such/folder/m.onnx");
  try {
    export_run(run.run_dir, out);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(out + ": the output folder"));
    EXPECT_THAT(e.what(), HasSubstr("does not exist"));
  }
  EXPECT_FALSE(fs::exists(dir.file("no")));
}

}  // namespace
}  // namespace mmfuse::onnx_export
