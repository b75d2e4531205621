// k-fold cross-validation: the folds partition train + val, the preprocessing is fitted on the
// training folds, a saved dataset keeps its folds; `cross_validate` trains one run per fold
// without reading the test split, reports their mean and spread, reads finished folds back and
// refuses to mix folds of two settings; the refit trains on train + val pooled, without a val
// split, for the median of the folds' best epochs.
#include "mmfuse/train/cross_validation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/train/trainer.h"
#include "synthetic_data.h"
#include "test_util.h"

namespace mmfuse::train {
namespace {

using nlohmann::json;

std::set<std::string> fold_test_ids(const data::SampleSet& set) {
  std::set<std::string> ids;
  for (const auto& s : set.samples) ids.insert(s.id);
  return ids;
}

TEST(Folds, PartitionTrainAndValFitOnTheTrainingFoldsAndSurviveASave) {
  testing::SyntheticRun data;
  const auto spec = data::DatasetSpec::load(data.dir.file("data.yaml"));
  EXPECT_EQ(spec.folds.k, 0);
  std::set<std::string> all;
  const auto plain = data::Dataset::create(spec);
  for (auto split : {data::Split::train, data::Split::val}) {
    for (const auto& id : fold_test_ids(*plain->read_split(split))) all.insert(id);
  }
  ASSERT_EQ(all.size(), 96u + 24u);

  std::set<std::string> held_out;
  for (int64_t f = 0; f < 3; ++f) {
    const auto ds = data::Dataset::create(spec.with_folds({3, f, 7}));
    const auto train = fold_test_ids(*ds->train_samples());
    const auto val = fold_test_ids(*ds->read_split(data::Split::val));
    EXPECT_GT(val.size(), 20u);  // about 40 each
    EXPECT_EQ(train.size() + val.size(), all.size());
    for (const auto& id : val) {
      EXPECT_EQ(train.count(id), 0u) << id;
      EXPECT_TRUE(held_out.insert(id).second) << id << " held out twice";
      EXPECT_EQ(ds->spec().folds.fold_of(id), f);
    }
    EXPECT_EQ(ds->read_split(data::Split::test)->samples.size(), 24u);  // as listed
    // The saved preprocessing carries the folds: a loaded run reads the same split.
    ds->save(data.dir.file("ds.json"));
    const auto loaded = data::Dataset::load(data.dir.file("ds.json"));
    EXPECT_EQ(loaded->spec().folds.k, 3);
    EXPECT_EQ(loaded->spec().folds.fold, f);
    EXPECT_EQ(fold_test_ids(*loaded->read_split(data::Split::val)), val);
  }
  EXPECT_EQ(held_out, all);
  // Another seed, another assignment.
  const data::FoldSpec a{3, 0, 7}, b{3, 0, 8};
  int differ = 0;
  for (const auto& id : all) differ += a.fold_of(id) != b.fold_of(id);
  EXPECT_GT(differ, 20);
}

TEST(Folds, StratifiedFoldsHoldEachClassInProportion) {
  testing::SyntheticRun data;
  const auto spec = data::DatasetSpec::load(data.dir.file("data.yaml"));
  std::map<std::string, std::vector<int64_t>> per_class;  // class -> count in each fold
  std::vector<int64_t> sizes;
  std::set<std::string> held_out;
  for (int64_t f = 0; f < 3; ++f) {
    const auto ds = data::Dataset::create(spec.with_folds({3, f, 7, "label"}));
    EXPECT_EQ(ds->spec().folds.stratify, "label");
    const auto val = ds->read_split(data::Split::val);
    sizes.push_back(static_cast<int64_t>(val->samples.size()));
    for (const auto& s : val->samples) {
      auto& counts = per_class[std::get<std::string>(s.targets.at("label"))];
      counts.resize(3, 0);
      ++counts[static_cast<std::size_t>(f)];
      EXPECT_TRUE(held_out.insert(s.id).second) << s.id;
    }
  }
  EXPECT_EQ(held_out.size(), 120u);
  ASSERT_EQ(per_class.size(), 3u);
  const auto spread = [](const std::vector<int64_t>& v) {
    return *std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end());
  };
  EXPECT_LE(spread(sizes), 1);
  for (const auto& [label, counts] : per_class) EXPECT_LE(spread(counts), 1) << label;
}

TEST(Folds, BadFoldSpecsNameTheKey) {
  const auto parse = [](const std::string& folds) {
    return data::DatasetSpec::parse(
        "splits: {train: [t.jsonl]}\nmodalities: {tabular: {pipeline: tabular}}\nfolds: " + folds +
            "\n",
        "<spec>", "/tmp");
  };
  EXPECT_EQ(parse("{k: 4, fold: 3, seed: 2}").folds.fold, 3);
  try {  // stratified by a target the spec does not have: the class targets are listed
    data::DatasetSpec::parse(
        "splits: {train: [t.jsonl]}\nmodalities: {tabular: {pipeline: tabular}}\n"
        "targets: {label: {field: y, type: class}}\nfolds: {k: 3, stratify: mood}\n",
        "<spec>", "/tmp");
    ADD_FAILURE() << "an unknown stratify target was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("folds.stratify"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("label"), std::string::npos) << e.what();
  }
  for (const std::string bad : {"{k: 1}", "{k: 4, fold: 4}", "{k: 4, fold: -1}", "{k: 4, n: 1}"}) {
    try {
      parse(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("folds"), std::string::npos) << e.what();
    }
  }
}

TEST(CrossValidation, TrainsOneRunPerFoldAndReportsTheirMean) {
  testing::SyntheticRun data;
  CrossValidationRequest req;
  req.config_path = data.config(models::TaskKind::supervised);
  req.folds = 3;
  req.seed = 1;
  req.out_dir = data.dir.file("cv");
  req.progress = false;
  const json r = cross_validate(req);
  ASSERT_EQ(r["folds"].size(), 3u);
  double sum = 0.0, sum_sq = 0.0;
  int64_t held_out = 0;
  for (const auto& f : r["folds"]) {
    const double m = f["val_metric"].get<double>();
    EXPECT_GT(m, 0.5);  // three well-separated classes
    sum += m;
    sum_sq += m * m;
    held_out += f["val_samples"].get<int64_t>();
    EXPECT_EQ(f["train_samples"].get<int64_t>() + f["val_samples"].get<int64_t>(), 120);
    const json s = json::parse(read_file(
        (std::filesystem::path(f["run_dir"].get<std::string>()) / "summary.json").string()));
    EXPECT_FALSE(s.contains("test")) << "a fold read the test split";
    EXPECT_EQ(s["best_val_metric"], f["val_metric"]);
  }
  EXPECT_EQ(held_out, 120);
  EXPECT_NEAR(r["mean"].get<double>(), sum / 3.0, 1e-12);
  EXPECT_NEAR(r["std"].get<double>(), std::sqrt((sum_sq - 3.0 * std::pow(sum / 3.0, 2)) / 2.0),
              1e-9);
  EXPECT_EQ(json::parse(read_file(data.dir.file("cv/cv.json"))), r);
  EXPECT_NE(cross_validation_table(r).find("mean"), std::string::npos);

  // Again: every fold is read back, not trained (its summary is left as it was).
  const auto stamp = std::filesystem::last_write_time(data.dir.file("cv/fold_1/summary.json"));
  EXPECT_EQ(cross_validate(req), r);
  EXPECT_EQ(std::filesystem::last_write_time(data.dir.file("cv/fold_1/summary.json")), stamp);
  // A request.json from before stratified folds (no "stratify") is the unstratified request.
  json before = json::parse(read_file(data.dir.file("cv/request.json")));
  ASSERT_EQ(before.erase("stratify"), 1u);
  write_file_atomic(data.dir.file("cv/request.json"), before.dump());
  EXPECT_EQ(cross_validate(req), r);
  // Other settings into the same folder are refused; fewer than 2 folds too.
  CrossValidationRequest other = req;
  other.overrides = {"train.epochs=2"};
  EXPECT_THROW(cross_validate(other), UsageError);
  other = req;
  other.folds = 1;
  other.out_dir = data.dir.file("cv1");
  EXPECT_THROW(cross_validate(other), UsageError);
}

TEST(Folds, PooledValJoinsTheTrainingSplitAndLeavesNoValSplit) {
  testing::SyntheticRun data;
  const auto spec = data::DatasetSpec::load(data.dir.file("data.yaml"));
  const auto pooled = spec.with_val_pooled();
  ASSERT_EQ(pooled.manifests(data::Split::train).size(), 2u);
  EXPECT_EQ(pooled.manifests(data::Split::train)[1], spec.manifests(data::Split::val)[0]);
  EXPECT_TRUE(pooled.manifests(data::Split::val).empty());
  const auto ds = data::Dataset::create(pooled);
  EXPECT_EQ(ds->train_samples()->samples.size(), 96u + 24u);
  EXPECT_THROW(ds->read_split(data::Split::val), UsageError);
  EXPECT_EQ(ds->read_split(data::Split::test)->samples.size(), 24u);
  ds->save(data.dir.file("pooled.json"));  // the saved text says so too
  const auto loaded = data::Dataset::load(data.dir.file("pooled.json"));
  EXPECT_TRUE(loaded->spec().manifests(data::Split::val).empty());
  EXPECT_EQ(loaded->train_samples()->samples.size(), 120u);
  EXPECT_THROW(spec.with_folds({3, 0, 7}).with_val_pooled(), UsageError);
}

TEST(Training, WithoutAValSplitKeepsTheLastEpochAndNeedsNoSelection) {
  testing::SyntheticRun data;
  TrainRequest req;
  req.config = RunConfig::load(data.config(models::TaskKind::supervised, "  select: last\n"), {});
  req.run_dir = data.dir.file("pooled_run");
  req.pool_val = true;
  req.progress = false;
  const json s = run_training(req).summary;
  EXPECT_EQ(s["train_samples"].get<int64_t>(), 120);
  EXPECT_FALSE(s.contains("val"));
  EXPECT_FALSE(s.contains("best_epoch"));
  EXPECT_EQ(s["selected"], "last");
  EXPECT_EQ(s["selected_epoch"].get<int64_t>(), 3);
  ASSERT_EQ(s["history"].size(), 3u);
  for (const auto& e : s["history"]) {
    EXPECT_FALSE(e.contains("val_metric")) << e.dump();
    EXPECT_TRUE(std::isfinite(e["train_loss"].get<double>()));
  }
  EXPECT_FALSE(std::filesystem::exists(data.dir.file("pooled_run/checkpoints/best.safetensors")));
  EXPECT_GT(s["test"]["targets"]["label"]["report"]["accuracy"].get<double>(), 0.8);
  const auto saved = data::Dataset::load(data.dir.file("pooled_run/dataset.json"));
  EXPECT_EQ(saved->train_samples()->samples.size(), 120u);

  // Selecting the best epoch, early stopping or a plateau schedule need a val split: refused,
  // naming what to set.
  for (const std::string extra : {"", "  select: last\n  early_stopping: {patience: 2}\n",
                                  "  select: last\n  schedule: {type: plateau}\n"}) {
    TrainRequest bad = req;
    bad.config = RunConfig::load(data.config(models::TaskKind::supervised, extra), {});
    bad.run_dir = data.dir.file("refused");
    try {
      run_training(bad);
      ADD_FAILURE() << "trained without a val split: " << extra;
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("train.select: last"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("no val split"), std::string::npos) << e.what();
    }
  }
}

TEST(CrossValidation, RefitEpochsAreTheMedianOfTheFoldsBestEpochs) {
  EXPECT_EQ(refit_epochs({33, 23, 29, 32, 18}), 29);
  EXPECT_EQ(refit_epochs({4, 1}), 3);  // (1 + 4) / 2 = 2.5, half up
  EXPECT_EQ(refit_epochs({5, 1, 2, 4}), 3);
  EXPECT_EQ(refit_epochs({7}), 7);
  EXPECT_EQ(refit_epochs({0, 0, 0}), 1);
  EXPECT_EQ(refit_epochs({}), 1);
}

TEST(CrossValidation, RefitTrainsTheFinalModelOnTrainAndValForTheMedianEpoch) {
  testing::SyntheticRun data;
  CrossValidationRequest req;
  req.config_path = data.config(models::TaskKind::supervised);
  req.overrides = {"train.epochs=4"};
  req.folds = 3;
  req.seed = 2;
  req.out_dir = data.dir.file("cv");
  req.progress = false;
  const json plain = cross_validate(req);
  EXPECT_FALSE(plain.contains("refit"));
  EXPECT_FALSE(std::filesystem::exists(data.dir.file("cv/refit")));
  req.refit = true;  // the same folder: the folds are read back, the refit trained
  const json r = cross_validate(req);
  EXPECT_EQ(r["folds"], plain["folds"]);
  std::vector<int64_t> best;
  for (const auto& f : r["folds"]) best.push_back(f["best_epoch"].get<int64_t>());
  ASSERT_TRUE(r.contains("refit"));
  EXPECT_EQ(r["refit"]["epochs"].get<int64_t>(), refit_epochs(best));
  EXPECT_EQ(r["refit"]["train_samples"].get<int64_t>(), 120);
  const json s = json::parse(read_file(data.dir.file("cv/refit/summary.json")));
  EXPECT_EQ(s["history"].size(), static_cast<std::size_t>(refit_epochs(best)));
  EXPECT_EQ(s["selected"], "last");
  EXPECT_FALSE(s.contains("val"));
  EXPECT_FALSE(s.contains("test")) << "the refit read the test split";
  EXPECT_TRUE(std::filesystem::exists(data.dir.file("cv/refit/model.safetensors")));
  EXPECT_NE(cross_validation_table(r).find("refit"), std::string::npos);
  EXPECT_EQ(json::parse(read_file(data.dir.file("cv/cv.json"))), r);
  // Again: read back, not retrained.
  const auto stamp = std::filesystem::last_write_time(data.dir.file("cv/refit/summary.json"));
  EXPECT_EQ(cross_validate(req), r);
  EXPECT_EQ(std::filesystem::last_write_time(data.dir.file("cv/refit/summary.json")), stamp);
}

}  // namespace
}  // namespace mmfuse::train
