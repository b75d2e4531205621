// `mmfuse optimize --int8` end to end (optimize/optimize.h) on a small synthetic dataset: the int8
// run loads like any run, holds the documented tensors (int8 layers, weight-only parameters), gives
// outputs close to its float source and the same ones at every load, leaves the source untouched;
// runs that cannot be quantized and a missing calibration split are refused with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/optimize/optimize.h"
#include "mmfuse/runtime/ensemble.h"
#include "mmfuse/runtime/run.h"
#include "mmfuse/train/trainer.h"
#include "refit_run.h"
#include "train/synthetic_data.h"

namespace mmfuse::optimize {
namespace {

namespace fs = std::filesystem;

// One finished run: lenet image, mlp tabular, a low-rank fusion (its factors are parameters no
// Linear owns: stored weight-only) and an mlp head; two epochs.
class OptimizeRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new testing::SyntheticRun();
    const std::string config = data_->dir.file("lowrank.yaml");
    std::ofstream(config) << "data: data.yaml\nmodel:\n  encoders:\n"
                             "    image: {type: lenet, channels: 4}\n"
                             "    tabular: {type: mlp, hidden: [16]}\n"
                             "  fusion: {type: low_rank, rank: 4, out: 32}\n"
                             "  heads: {label: {type: mlp, hidden: 16}}\n"
                             "train:\n  epochs: 2\n  batch_size: 12\n  seed: 5\n  threads: 1\n"
                             "  loader_threads: 1\n  optimizer: {type: adam, lr: 0.01}\n";
    train::TrainRequest req;
    req.config = train::RunConfig::load(config);
    req.run_dir = data_->dir.file("run_lowrank");
    req.progress = false;
    (void)train::run_training(req);
    run_ = req.run_dir;
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  static OptimizeOptions request(const std::string& run, const std::string& out) {
    OptimizeOptions o;
    o.run_dir = run;
    o.out_dir = out;
    o.int8 = nn::quant::QuantMode::static_int8;
    o.calib_samples = 48;
    o.max_layer_drop = -1;  // every layer int8
    o.batch = 4;
    o.latency_steps = 2;
    o.eval_batch = 24;
    o.threads = 1;
    return o;
  }

  // The logits of the 24 validation samples.
  static torch::Tensor logits(const std::string& dir) {
    auto run = runtime::load_run(dir);
    data::LoaderOptions lo;
    lo.batch_size = 24;
    lo.shuffle = false;
    lo.threads = 0;
    data::Loader loader(run->dataset, run->dataset->read_split(data::Split::val), lo);
    auto batch = loader.next();
    EXPECT_TRUE(batch.has_value());
    torch::NoGradGuard no_grad;
    auto model = run->heads();
    model->eval();
    return model->forward(*batch).outputs.at("label");
  }

  static testing::SyntheticRun* data_;
  static std::string run_;
};

testing::SyntheticRun* OptimizeRunTest::data_ = nullptr;
std::string OptimizeRunTest::run_;

TEST_F(OptimizeRunTest, Int8RunLoadsLikeAnyRunNearItsSourceAndTheSourceIsUntouched) {
  testing::TempDir out;
  const auto weights = fs::path(run_) / "model.safetensors";
  const auto before = fs::last_write_time(weights);
  const auto o = request(run_, out.file("int8"));
  const OptimizeReport report = optimize_run(o);
  EXPECT_FALSE(report.quantized.empty());
  EXPECT_EQ(report.weight_only, (std::vector<std::string>{"fusion.factors.0", "fusion.factors.1"}));

  auto file = load_safetensors((fs::path(o.out_dir) / "model.safetensors").string());
  EXPECT_EQ(file.tensors.count("fusion.factors.0"), 0U);
  EXPECT_EQ(file.tensors.at("fusion.factors.0.int8").scalar_type(), torch::kChar);
  EXPECT_EQ(file.tensors.at("heads.label.net.0.weight_int8").scalar_type(), torch::kChar);
  EXPECT_LT(fs::file_size(fs::path(o.out_dir) / "model.safetensors"), fs::file_size(weights));

  EXPECT_TRUE(runtime::load_run(o.out_dir)->quantized);
  const auto fp32 = logits(run_), int8 = logits(o.out_dir);
  const double change = (int8 - fp32).abs().max().item<double>() / fp32.abs().max().item<double>();
  EXPECT_GT(change, 0.0) << "the int8 run computes exactly the float model";
  EXPECT_LE(change, 0.08) << "int8 logits moved by " << change << " of their range";
  EXPECT_TRUE(torch::equal(logits(o.out_dir), int8)) << "a second load gives other outputs";
  EXPECT_EQ(fs::last_write_time(weights), before);
  EXPECT_TRUE(fs::exists(fs::path(o.out_dir) / "summary.json"));
}

TEST_F(OptimizeRunTest, ARunTrainedWithoutAValSplitIsQuantizedAndTimedOnItsTrainingSplit) {
  const std::string refit = testing::train_refit_run(*data_, "pooled");
  testing::TempDir out;
  const OptimizeReport report = optimize_run(request(refit, out.file("int8")));
  EXPECT_FALSE(report.quantized.empty());
  for (const auto* f : {&report.fp32, &report.optimized}) {
    EXPECT_TRUE(std::isnan(f->val_accuracy));  // no val split
    EXPECT_GT(f->test_accuracy, 50.0);
    EXPECT_GT(f->batch1_p50_ms, 0.0);  // timed on the training split
  }
  EXPECT_NE(report.table().find("| val accuracy | - | - | - |"), std::string::npos)
      << report.table();
  // Measuring each layer's accuracy drop needs the val split: refused, saying what to give.
  auto o = request(refit, out.file("sensitive"));
  o.max_layer_drop = 1.0;
  try {
    (void)optimize_run(o);
    ADD_FAILURE() << "--max-layer-drop ran without a val split";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("without a val split"), std::string::npos) << e.what();
  }
}

TEST_F(OptimizeRunTest, UnquantizableRunsAndAMissingCalibrationSplitAreRefused) {
  testing::TempDir out;
  auto expect_error = [](const OptimizeOptions& o, const std::string& says) {
    try {
      (void)optimize_run(o);
      ADD_FAILURE() << o.run_dir << " was optimized; expected an error saying '" << says << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  const auto int8 = out.file("int8");
  (void)optimize_run(request(run_, int8));
  expect_error(request(int8, out.file("twice")), "already quantized");

  runtime::EnsembleRequest ens;
  ens.runs = {run_, run_};
  ens.out = out.file("ensemble");
  runtime::write_ensemble_run(ens);
  expect_error(request(ens.out, out.file("ens8")), "is an ensemble");

  // A copy of the run whose data spec (kept in its dataset.json) names a training manifest that
  // is gone: nothing to calibrate on.
  const auto copy = out.file("no_train");
  fs::copy(run_, copy, fs::copy_options::recursive);
  const auto state_file = (fs::path(copy) / "dataset.json").string();
  auto state = nlohmann::json::parse(read_file(state_file));
  auto yaml = state["spec"]["yaml"].get<std::string>();
  const auto at = yaml.find("train.jsonl");
  ASSERT_NE(at, std::string::npos) << yaml;
  state["spec"]["yaml"] = yaml.replace(at, std::string("train.jsonl").size(), "gone.jsonl");
  write_file_atomic(state_file, state.dump());
  expect_error(request(copy, out.file("calib")), "gone.jsonl");
  EXPECT_FALSE(fs::exists(fs::path(out.file("calib")) / "model.safetensors"));
}

}  // namespace
}  // namespace mmfuse::optimize
