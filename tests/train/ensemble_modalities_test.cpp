// Ensembles of runs that read different modalities: a tabular-only run and an image-only run,
// trained on two data specs, combine into one run whose dataset reads both modalities and whose
// probabilities are the mean of the members'; two members that read a modality through different
// preprocessing are refused, naming both and the modality.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/eval/run_eval.h"
#include "mmfuse/runtime/ensemble.h"
#include "mmfuse/runtime/predictor.h"
#include "mmfuse/train/trainer.h"
#include "synthetic_data.h"
#include "test_util.h"

namespace mmfuse::train {
namespace {

using nlohmann::json;

// A run of `encoder` (one modality, `modality_spec` its data spec entry) on the synthetic data.
std::string train_one_modality_run(const testing::SyntheticRun& data, const std::string& name,
                                   const std::string& modality_spec, const std::string& encoder) {
  std::ofstream(data.dir.file(name + "_data.yaml"))
      << "splits: {train: [train.jsonl], val: [val.jsonl], test: [test.jsonl]}\n"
         "modalities:\n  "
      << modality_spec
      << "\ntargets: {label: {field: label, type: class}}\n"
         "cache: {enabled: false}\n";
  const std::string config = data.dir.file(name + ".yaml");
  std::ofstream(config) << "data: " << name << "_data.yaml\nmodel:\n  encoders:\n    " << encoder
                        << "\n  heads: {label: {type: linear}}\n"
                           "train:\n  epochs: 2\n  batch_size: 12\n  seed: 3\n  threads: 1\n"
                           "  optimizer: {type: adam, lr: 0.003}\n";
  TrainRequest req;
  req.config = RunConfig::load(config);
  req.run_dir = data.dir.file(name);
  req.progress = false;
  run_training(req);
  return req.run_dir;
}

// The synthetic test split as requests carrying the tabular row and/or the image.
std::vector<runtime::Request> modality_test_requests(const testing::SyntheticRun& data,
                                                     bool tabular, bool image) {
  std::ifstream in(data.dir.file("test.jsonl"));
  std::vector<runtime::Request> out;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    runtime::Request r;
    if (image) r.image = runtime::EncodedFile::read(data.dir.file(j["image"].get<std::string>()));
    if (tabular) r.tabular = j["tabular"].get<std::vector<float>>();
    out.push_back(std::move(r));
  }
  return out;
}

TEST(EnsembleModalities, RunsOfDifferentModalitiesCombineIntoOneRunReadingBoth) {
  testing::SyntheticRun data;
  const std::string tab = train_one_modality_run(data, "tab", "tabular: {pipeline: tabular}",
                                                 "tabular: {type: mlp, hidden: [8]}");
  const std::string img =
      train_one_modality_run(data, "img", "image: {pipeline: image, channels: 1, size: [28, 28]}",
                             "image: {type: lenet, channels: 2}");
  runtime::EnsembleRequest er;
  er.runs = {tab, img};
  er.out = data.dir.file("both");
  runtime::write_ensemble_run(er);
  const json state = json::parse(read_file(data.dir.file("both/dataset.json")));
  EXPECT_TRUE(state["pipelines"].contains("tabular"));
  EXPECT_TRUE(state["pipelines"].contains("image"));
  const auto both = runtime::load_run(er.out);
  EXPECT_TRUE(both->dataset->spec().uses(Modality::image));
  EXPECT_TRUE(both->dataset->spec().uses(Modality::tabular));

  const auto requests = modality_test_requests(data, true, true);
  ASSERT_EQ(requests.size(), 24u);
  const auto pt =
      runtime::Predictor(runtime::load_run(tab)).predict(modality_test_requests(data, true, false));
  const auto pi =
      runtime::Predictor(runtime::load_run(img)).predict(modality_test_requests(data, false, true));
  const auto pb = runtime::Predictor(both).predict(requests);
  double d_mean = 0.0, d_members = 0.0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& a = pt[i].targets.at("label").probabilities;
    const auto& b = pi[i].targets.at("label").probabilities;
    const auto& m = pb[i].targets.at("label").probabilities;
    ASSERT_EQ(m.size(), 3u);
    for (std::size_t k = 0; k < 3; ++k) {
      d_mean = std::max<double>(d_mean, std::abs(m[k] - (a[k] + b[k]) / 2));
      d_members = std::max<double>(d_members, std::abs(a[k] - b[k]));
    }
  }
  EXPECT_LE(d_mean, 1e-5);
  EXPECT_GT(d_members, 1e-3);  // the two members really differ

  // eval reads both modalities of the manifest: its accuracy is that of the mean probabilities.
  std::ifstream in(data.dir.file("test.jsonl"));
  int correct = 0, i = 0;
  for (std::string line; std::getline(in, line); ++i) {
    correct += pb[static_cast<std::size_t>(i)].targets.at("label").label ==
               std::to_string(json::parse(line)["label"].get<int>());
  }
  eval::RunEvalRequest ev;
  ev.run_dir = er.out;
  ev.manifest = data.dir.file("test.jsonl");
  ev.complexity = false;
  const json m = eval::evaluate_run(ev)["metrics"];
  EXPECT_EQ(m["samples"], 24);
  EXPECT_NEAR(m["targets"]["label"]["report"]["accuracy"].get<double>(), correct / 24.0, 1e-12);
}

TEST(EnsembleModalities, MembersReadingAModalityDifferentlyAreRefused) {
  testing::SyntheticRun data;
  const std::string encoder = "text: {type: embedding, dim: 8}";
  const std::string a = train_one_modality_run(
      data, "text4", "text: {pipeline: text, output: ids, max_len: 4}", encoder);
  const std::string b = train_one_modality_run(
      data, "text6", "text: {pipeline: text, output: ids, max_len: 6}", encoder);
  runtime::EnsembleRequest er;
  er.runs = {a, b};
  er.out = data.dir.file("refused");
  try {
    runtime::write_ensemble_run(er);
    ADD_FAILURE() << "members with different text preprocessing were combined";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("read text through different preprocessing"), std::string::npos) << what;
    EXPECT_NE(what.find(a), std::string::npos) << what;
    EXPECT_NE(what.find(b), std::string::npos) << what;
  }
  EXPECT_FALSE(std::filesystem::exists(data.dir.file("refused/config.yaml")));
  // The same preprocessing in two runs (another seed) combines.
  er.runs = {a, a};
  er.out = data.dir.file("same");
  EXPECT_NO_THROW(runtime::write_ensemble_run(er));
}

}  // namespace
}  // namespace mmfuse::train
