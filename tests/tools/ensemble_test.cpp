// `mmfuse ensemble` on the tiny trained run: the ensemble of one run predicts as the run; the mean
// of two runs (the second with its weights changed) predicts the hand-averaged probabilities and
// values; `eval` runs on the ensemble folder; a folder that already holds a run is refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mmfuse/core/safetensors.h"
#include "mmfuse/runtime/predictor.h"
#include "tools/tiny_run.h"

namespace mmfuse::runtime {
namespace {

using nlohmann::json;
using testing::tiny_run;

// The tiny run's test lines as requests with their image and text.
std::vector<Request> ensemble_test_requests() {
  const std::string dir = tiny_run().data_dir;
  std::ifstream in(dir + "/test.jsonl");
  std::vector<Request> out;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    Request r;
    if (j.value("image", json()).is_string()) {
      r.image = EncodedFile::read(dir + "/" + j["image"].get<std::string>());
    }
    if (j.value("text", json()).is_string()) r.text = j["text"].get<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

// A copy of the tiny run whose digit head and value head weights are scaled by `factor`.
std::string altered_copy(const std::string& dir, double factor) {
  std::filesystem::copy(tiny_run().run_dir, dir, std::filesystem::copy_options::recursive);
  auto tensors = load_safetensors(dir + "/model.safetensors").tensors;
  for (auto& [name, t] : tensors) {
    if (name.rfind("heads.", 0) == 0) t = t * factor;
  }
  save_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

TEST(EnsembleCommand, OfOneRunPredictsAsTheRunAndMeanOfTwoAveragesThem) {
  MMFUSE_REQUIRE_TINY_RUN();
  testing::TempDir dir;
  const std::string a = tiny_run().run_dir, b = altered_copy(dir.file("b"), -1.5);
  auto one = testing::run_mmfuse("-q ensemble --runs " + a + " --out " + dir.file("one"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  auto two = testing::run_mmfuse("-q ensemble --runs " + a + " " + b + " --out " + dir.file("two") +
                                 " --mode mean");
  ASSERT_EQ(two.exit_code, 0) << two.output;

  const auto requests = ensemble_test_requests();
  ASSERT_EQ(requests.size(), 10u);
  const auto pa = Predictor(load_run(a)).predict(requests);
  const auto pb = Predictor(load_run(b)).predict(requests);
  const auto p1 = Predictor(load_run(dir.file("one"))).predict(requests);
  const auto p2 = Predictor(load_run(dir.file("two"))).predict(requests);
  double d_one = 0, d_two = 0, d_value = 0, d_members = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const auto& ya = pa[i].targets.at("digit").probabilities;
    const auto& yb = pb[i].targets.at("digit").probabilities;
    const auto& y1 = p1[i].targets.at("digit").probabilities;
    const auto& y2 = p2[i].targets.at("digit").probabilities;
    ASSERT_EQ(y2.size(), 10u);
    for (std::size_t k = 0; k < ya.size(); ++k) {
      d_one = std::max<double>(d_one, std::abs(y1[k] - ya[k]));
      d_two = std::max<double>(d_two, std::abs(y2[k] - (ya[k] + yb[k]) / 2));
      d_members = std::max<double>(d_members, std::abs(ya[k] - yb[k]));
    }
    EXPECT_EQ(p1[i].targets.at("digit").index, pa[i].targets.at("digit").index);
    const double va = pa[i].targets.at("value").values[0], vb = pb[i].targets.at("value").values[0];
    d_value = std::max(d_value, std::abs(p2[i].targets.at("value").values[0] - (va + vb) / 2));
  }
  EXPECT_LE(d_one, 1e-6);
  EXPECT_LE(d_two, 1e-6);
  EXPECT_LE(d_value, 1e-5);
  EXPECT_GT(d_members, 1e-3);  // the members really differ

  // eval takes the ensemble folder as a run.
  int code = 0;
  const json r = testing::run_mmfuse_json(
      "eval --run " + dir.file("two") + " --data " + tiny_run().data_dir + "/test.jsonl --json",
      &code);
  ASSERT_EQ(code, 0) << r.dump();
  EXPECT_EQ(r["metrics"]["samples"], 10);
  // A folder that holds a run already is refused.
  auto again = testing::run_mmfuse("-q ensemble --runs " + a + " --out " + dir.file("two"));
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("already holds a run"), std::string::npos) << again.output;
}

}  // namespace
}  // namespace mmfuse::runtime
