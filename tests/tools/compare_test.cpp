// `mmfuse compare` with composite fusion specs, the config's own fusion, the robustness column
// and the comparison report; `mmfuse cv` on the command line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "mmfuse/core/fs.h"
#include "mmfuse/train/compare.h"
#include "test_util.h"
#include "tiny_run.h"

namespace mmfuse {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::run_mmfuse;
using testing::run_mmfuse_json;
using testing::TempDir;
using testing::tiny_run;

TEST(Compare, FusionListsSplitOnSemicolonsAroundCompositeSpecs) {
  EXPECT_EQ(train::split_fusion_list("concat,tensor, low_rank"),
            (std::vector<std::string>{"concat", "tensor", "low_rank"}));
  EXPECT_EQ(train::split_fusion_list("{type: composite, combine: [concat, gated]}; config;;"),
            (std::vector<std::string>{"{type: composite, combine: [concat, gated]}", "config"}));
}

TEST(Compare, RobustnessColumnConfigFusionAndReport) {
  MMFUSE_REQUIRE_TINY_RUN();
  TempDir dir;
  int code = 0;
  json rows = run_mmfuse_json(
      "-q compare --no-progress --config " + tiny_run().config +
          " --fusions '{type: gated, dim: 16};config' --no-single --levels 0,0.5 --json --out " +
          dir.file("cmp"),
      &code);
  ASSERT_EQ(code, 0) << rows.dump();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["name"], "gated+0");
  EXPECT_EQ(rows[0]["fusion"], "gated");
  EXPECT_EQ(rows[1]["name"], "config concat");
  EXPECT_EQ(rows[0]["modalities"], "image+audio+text");
  for (const auto& row : rows) {
    ASSERT_TRUE(row.contains("robustness_auc")) << row.dump();
    const double auc = row["robustness_auc"];
    EXPECT_GE(auc, 0.0);
    EXPECT_LE(auc, 1.0);
    // Level 0 is the clean test accuracy, so the area of a curve over [0, 0.5] is bounded by it
    // and the noisy point: mean AUC <= (accuracy + 1) / 2.
    EXPECT_LE(auc, (row["accuracy"].get<double>() + 1.0) / 2.0 + 1e-12);
  }
  // Each row's figures are those of its saved run, as `mmfuse eval` computes them on the test
  // split: the accuracy, and the robustness column as the mean noise AUC over the modalities.
  const std::vector<std::pair<std::string, std::string>> run_dirs = {
      {"gated+0", "gated_0"}, {"config concat", "config_concat"}};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE(run_dirs[i].first);
    ASSERT_EQ(rows[i]["name"], run_dirs[i].first);
    json e = run_mmfuse_json("eval --json --robustness --levels 0,0.5 --run " +
                                 dir.file("cmp/" + run_dirs[i].second) + " --data " +
                                 tiny_run().data_dir + "/test.jsonl",
                             &code);
    ASSERT_EQ(code, 0) << e.dump();
    EXPECT_DOUBLE_EQ(rows[i]["accuracy"].get<double>(),
                     e["metrics"]["targets"]["digit"]["report"]["accuracy"].get<double>());
    EXPECT_NEAR(rows[i]["robustness_auc"].get<double>(), e["robustness"]["mean_auc"].get<double>(),
                1e-12);
  }
  json saved = json::parse(read_file(dir.file("cmp/comparison.json")));
  EXPECT_EQ(saved, rows);
  const std::string html = read_file(dir.file("cmp/report.html"));
  EXPECT_THAT(html, HasSubstr("<h2>Comparison</h2>"));
  EXPECT_THAT(html, HasSubstr("robustness_auc"));
  EXPECT_THAT(html, HasSubstr("config concat"));
}

int64_t cv_test_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

TEST(Cv, CommandLineTrainsStratifiedFoldsAndRefusesBadRequests) {
  MMFUSE_REQUIRE_TINY_RUN();
  TempDir dir;
  const std::string base = "-q cv --no-progress --config " + tiny_run().config + " ";
  int code = 0;
  json r =
      run_mmfuse_json(base + "--folds 2 --stratify digit --json --out " + dir.file("cv"), &code);
  ASSERT_EQ(code, 0) << r.dump();
  ASSERT_EQ(r["folds"].size(), 2u);
  EXPECT_EQ(r["stratify"], "digit");
  const int64_t a = r["folds"][0]["val_samples"], b = r["folds"][1]["val_samples"];
  EXPECT_EQ(a + b, cv_test_lines(tiny_run().data_dir + "/train.jsonl") +
                       cv_test_lines(tiny_run().data_dir + "/val.jsonl"));
  EXPECT_LE(std::abs(a - b), 1);
  // The table, read back from the finished folds, then the refit on train + val.
  auto table = run_mmfuse(base + "--folds 2 --stratify digit --refit --out " + dir.file("cv"));
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("mean"));
  EXPECT_THAT(table.output, HasSubstr("train + val samples"));
  const json refit = json::parse(read_file(dir.file("cv/refit/summary.json")));
  EXPECT_EQ(refit["train_samples"].get<int64_t>(), a + b);
  EXPECT_EQ(refit["selected"], "last");
  code = 0;  // the refit is a run like any other: evaluated on the test split
  const json ev = run_mmfuse_json("-q eval --no-complexity --json --run " + dir.file("cv/refit") +
                                      " --data " + tiny_run().data_dir + "/test.jsonl",
                                  &code);
  ASSERT_EQ(code, 0) << ev.dump();
  EXPECT_EQ(ev["metrics"]["samples"], cv_test_lines(tiny_run().data_dir + "/test.jsonl"));
  // One fold, a regression target to stratify by, other settings into the same folder: refused.
  auto one = run_mmfuse(base + "--folds 1 --out " + dir.file("cv1"));
  EXPECT_NE(one.exit_code, 0);
  EXPECT_THAT(one.output, HasSubstr("--folds"));
  auto value = run_mmfuse(base + "--stratify value --out " + dir.file("cv2"));
  EXPECT_NE(value.exit_code, 0);
  EXPECT_THAT(value.output, HasSubstr("not a class target"));
  auto other = run_mmfuse(base + "--folds 3 --out " + dir.file("cv"));
  EXPECT_NE(other.exit_code, 0);
  EXPECT_THAT(other.output, HasSubstr("another --out"));
}

TEST(Cv, JobsTrainTheFoldsInParallelProcessesWithTheSequentialResults) {
  MMFUSE_REQUIRE_TINY_RUN();
  TempDir dir;
  const std::string base =
      "-q cv --no-progress --json --threads 1 --folds 3 --config " + tiny_run().config + " ";
  int code = 0;
  const json seq = run_mmfuse_json(base + "--out " + dir.file("seq"), &code);
  ASSERT_EQ(code, 0) << seq.dump();
  const json par = run_mmfuse_json(base + "--jobs 2 --out " + dir.file("par"), &code);
  ASSERT_EQ(code, 0) << par.dump();
  ASSERT_EQ(par["folds"].size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {  // each fold trains as it would alone
    EXPECT_EQ(par["folds"][k]["val_metric"], seq["folds"][k]["val_metric"]) << k;
    EXPECT_EQ(par["folds"][k]["best_epoch"], seq["folds"][k]["best_epoch"]) << k;
    EXPECT_EQ(par["folds"][k]["val_samples"], seq["folds"][k]["val_samples"]) << k;
    // The children run with the parent's global flags: -q leaves no info lines in their logs.
    const std::string log = read_file(dir.file("par/fold_" + std::to_string(k) + ".log"));
    EXPECT_EQ(log.find("] info "), std::string::npos) << log;
  }
  EXPECT_EQ(par["mean"], seq["mean"]);
  // A fold that fails in its process: the error names it, its reason and its log.
  auto bad = run_mmfuse("-q cv --no-progress --folds 2 --jobs 2 --stratify value --config " +
                        tiny_run().config + " --out " + dir.file("bad"));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("2 of 2 folds failed"));
  EXPECT_THAT(bad.output, HasSubstr("not a class target"));
  EXPECT_THAT(bad.output, HasSubstr("fold_0.log"));
}

}  // namespace
}  // namespace mmfuse
