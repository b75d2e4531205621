// `mmfuse eval` of a run whose image encoder stayed frozen: the first evaluation computes the
// encoder's rows and stores them, a second one (or an ensemble whose members share the encoder)
// reads them, with the same metrics as an evaluation that runs the encoder; a run that trained
// its encoder is not memoized, and timing the model measures the encoder itself. Retrieval runs
// memoize their frozen towers alike, and a retrieval ensemble shares an encoder pass between
// members whose encoders have the same weights and options.
#include <gtest/gtest.h>

#include <filesystem>

#include "mmfuse/core/fs.h"
#include "mmfuse/eval/run_eval.h"
#include "mmfuse/runtime/ensemble.h"
#include "mmfuse/train/trainer.h"
#include "synthetic_data.h"
#include "test_util.h"

namespace mmfuse::train {
namespace {

using nlohmann::json;

std::string train_memo_test_run(const testing::SyntheticRun& data, const std::string& name,
                                const std::string& extra) {
  TrainRequest req;
  req.config = RunConfig::load(data.config(models::TaskKind::supervised, extra));
  req.run_dir = data.dir.file(name);
  req.progress = false;
  run_training(req);
  return req.run_dir;
}

json memo_test_eval(const testing::SyntheticRun& data, const std::string& run, bool memo,
                    bool complexity = false) {
  eval::RunEvalRequest req;
  req.run_dir = run;
  req.manifest = data.dir.file("test.jsonl");
  req.frozen_memo = memo;
  req.complexity = complexity;
  req.threads = 0;
  return eval::evaluate_run(req);
}

json memo_test_metrics(json result) {
  json m = result["metrics"];
  m.erase("seconds");
  return m;
}

TEST(FrozenMemoEval, ASecondEvaluationReadsTheFrozenEncodersRows) {
  testing::SyntheticRun data;
  const std::string frozen = train_memo_test_run(
      data, "frozen",
      "  transfer: {freeze: [encoders.image.], feature_cache: " + data.dir.file("fc") + "}\n");

  const json first = memo_test_eval(data, frozen, true);
  EXPECT_EQ(first["frozen_memo"]["image"]["computed"], 24);
  EXPECT_EQ(first["frozen_memo"]["image"]["read"], 0);
  EXPECT_EQ(first["frozen_memo"].size(), 1u);  // the tabular and text encoders trained
  const json second = memo_test_eval(data, frozen, true, /*complexity=*/true);
  EXPECT_EQ(second["frozen_memo"]["image"]["computed"], 0);
  EXPECT_EQ(second["frozen_memo"]["image"]["read"], 24);  // complexity's passes run the encoder
  EXPECT_GT(second["complexity"]["latency_ms_batch1"].get<double>(), 0.0);
  EXPECT_EQ(memo_test_metrics(second), memo_test_metrics(first));

  const json live = memo_test_eval(data, frozen, false);
  EXPECT_FALSE(live.contains("frozen_memo"));
  const json& t = live["metrics"]["targets"]["label"];
  const json& f = first["metrics"]["targets"]["label"];
  EXPECT_EQ(t["report"]["accuracy"], f["report"]["accuracy"]);
  EXPECT_NEAR(t["loss"].get<double>(), f["loss"].get<double>(), 1e-5);

  // An ensemble of the run with itself: both members read the rows the run stored.
  runtime::EnsembleRequest er;
  er.runs = {frozen, frozen};
  er.out = data.dir.file("ensemble");
  runtime::write_ensemble_run(er);
  const json both = memo_test_eval(data, er.out, true);
  EXPECT_EQ(both["frozen_memo"]["image"]["read"], 48);
  EXPECT_EQ(both["frozen_memo"]["image"]["computed"], 0);
  EXPECT_EQ(both["metrics"]["targets"]["label"]["report"]["accuracy"], f["report"]["accuracy"]);

  // Frozen for the first epoch only: the encoder's weights moved, nothing is memoized.
  const std::string thawed = train_memo_test_run(
      data, "thawed", "  transfer: {freeze: [encoders.image.], freeze_epochs: 1}\n");
  EXPECT_FALSE(memo_test_eval(data, thawed, true).contains("frozen_memo"));
}

// A retrieval run whose tabular tower stayed frozen: its embeddings read the stored rows.
TEST(FrozenMemoEval, RetrievalRunsReadTheirFrozenTowersRows) {
  testing::SyntheticRun data;
  TrainRequest req;
  req.config = RunConfig::load(data.config(
      models::TaskKind::retrieval,
      "  transfer: {freeze: [encoders.tabular.], feature_cache: " + data.dir.file("fc") + "}\n"));
  req.run_dir = data.dir.file("retrieval");
  req.progress = false;
  run_training(req);
  const json first = memo_test_eval(data, req.run_dir, true);
  EXPECT_EQ(first["frozen_memo"]["tabular"]["computed"], 24);
  EXPECT_EQ(first["frozen_memo"]["tabular"]["read"], 0);
  EXPECT_EQ(first["frozen_memo"].size(), 1u);
  const json second = memo_test_eval(data, req.run_dir, true);
  EXPECT_EQ(second["frozen_memo"]["tabular"]["read"], 24);
  EXPECT_EQ(second["frozen_memo"]["tabular"]["computed"], 0);
  EXPECT_EQ(memo_test_metrics(second), memo_test_metrics(first));
  const json live = memo_test_eval(data, req.run_dir, false);
  EXPECT_EQ(memo_test_metrics(live), memo_test_metrics(first));

  // An ensemble runs an encoder once for the members whose copies have the same weights and
  // options: the run with itself shares both; a copy whose tabular encoder's options differ (same
  // weights) keeps its own tabular pass.
  const std::string copy = data.dir.file("retrieval_copy");
  std::filesystem::copy(req.run_dir, copy, std::filesystem::copy_options::recursive);
  ConfigNode cfg = ConfigNode::load_file(copy + "/config.yaml");
  cfg.set_override("model.encoders.tabular.dropout=0.1");
  write_file_atomic(copy + "/config.yaml", cfg.dump() + "\n");
  const auto shares = [&](const std::vector<std::string>& runs, const std::string& name) {
    runtime::EnsembleRequest er;
    er.runs = runs;
    er.out = data.dir.file(name);
    runtime::write_ensemble_run(er);
    const auto towers = runtime::load_run(er.out)->towers();
    return std::pair{towers->shared_encoder_of(Modality::tabular),
                     towers->shared_encoder_of(Modality::text)};
  };
  using Same = std::vector<std::size_t>;
  EXPECT_EQ(shares({req.run_dir, req.run_dir}, "self"), std::pair(Same{0, 0}, Same{0, 0}));
  EXPECT_EQ(shares({req.run_dir, copy}, "options"), std::pair(Same{0, 1}, Same{0, 0}));
}

}  // namespace
}  // namespace mmfuse::train
