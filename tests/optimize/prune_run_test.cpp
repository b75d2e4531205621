// Pruning whole runs (optimize/prune.h) on a small synthetic dataset: the pruned run loads like
// any run, structured pruning shrinks the kernels and equals the source model with the same
// channels zeroed, unstructured sparsity is exact and survives fine-tuning, bad requests fail.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/optimize/prune.h"
#include "mmfuse/runtime/run.h"
#include "mmfuse/train/trainer.h"
#include "refit_run.h"
#include "train/synthetic_data.h"

namespace mmfuse::optimize {
namespace {

namespace fs = std::filesystem;

// Two finished runs over one synthetic dataset: `run` (lenet image, mlp tabular with batch norm,
// concat, mlp head; one epoch) and `text_run` (adds an embedding text encoder; weights as built).
class PruneRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new testing::SyntheticRun();
    run_ = train_prune_fixture("base", "", 1);
    text_run_ = train_prune_fixture("text", "    text: {type: embedding, dim: 8}\n", 0);
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  static std::string train_prune_fixture(const std::string& name, const std::string& extra,
                                         int epochs) {
    const std::string config = data_->dir.file(name + ".yaml");
    std::ofstream(config)
        << "data: data.yaml\nmodel:\n  encoders:\n"
           "    image: {type: lenet, channels: 4, extra_blocks: 2}\n"
           "    tabular: {type: mlp, hidden: [12, 7, 6], norm: batch}\n"
        << extra
        << "  fusion: {type: concat}\n  heads: {label: {type: mlp, hidden: 9}}\n"
           "train:\n  epochs: "
        << epochs
        << "\n  batch_size: 12\n  seed: 3\n  threads: 1\n  loader_threads: 1\n"
           "  optimizer: {type: sgd, lr: 0.05, momentum: 0.9, weight_decay: 0.001}\n";
    train::TrainRequest req;
    req.config = train::RunConfig::load(config);
    req.run_dir = data_->dir.file("run_" + name);
    req.progress = false;
    (void)train::run_training(req);
    return req.run_dir;
  }

  static PruneOptions prune_request(const std::string& out, double amount, bool structured) {
    PruneOptions o;
    o.run = run_;
    o.out = out;
    o.amount = amount;
    o.structured = structured;
    o.progress = false;
    o.measure_latency = false;
    return o;
  }

  // The logits of the first 24 validation samples.
  static torch::Tensor prune_logits(const runtime::Run& run, models::MultimodalModel model) {
    data::LoaderOptions lo;
    lo.batch_size = 24;
    lo.shuffle = false;
    lo.threads = 0;
    data::Loader loader(run.dataset, run.dataset->read_split(data::Split::val), lo);
    auto batch = loader.next();
    EXPECT_TRUE(batch.has_value());
    torch::NoGradGuard no_grad;
    model->eval();
    return model->forward(*batch).outputs.at("label");
  }

  static testing::SyntheticRun* data_;
  static std::string run_, text_run_;
};

testing::SyntheticRun* PruneRunTest::data_ = nullptr;
std::string PruneRunTest::run_, PruneRunTest::text_run_;

TEST_F(PruneRunTest, StructuredShrinksKernelsAndEqualsTheSourceWithThoseChannelsZeroed) {
  testing::TempDir out;
  const std::string dir = out.file("pruned");
  auto source = runtime::load_run(run_);
  const auto plan = plan_structured_pruning(*source->model.module(), source->config, 0.5);
  const auto report = run_prune(prune_request(dir, 0.5, true));
  auto pruned = runtime::load_run(dir);

  // Shapes: lenet 4 -> 2, 8 -> 4 channels, 16 kept (the encoder's output); mlp 12 -> 6,
  // 7 -> 3 (llround(3.5) = 4 removed), 6 kept; head 9 -> 4 (llround(4.5) = 5 removed), 3 kept.
  auto state = module_state(*pruned->model.module());
  EXPECT_EQ(state.at("encoders.image.net.0.weight").sizes().vec(),
            (std::vector<int64_t>{2, 1, 5, 5}));
  EXPECT_EQ(state.at("encoders.image.net.4.weight").sizes().vec(),
            (std::vector<int64_t>{4, 2, 3, 3}));
  EXPECT_EQ(state.at("encoders.image.net.8.weight").sizes().vec(),
            (std::vector<int64_t>{16, 4, 3, 3}));
  EXPECT_EQ(state.at("encoders.image.net.5.running_var").size(0), 4);
  EXPECT_EQ(state.at("encoders.tabular.net.0.weight").size(0), 6);
  EXPECT_EQ(state.at("encoders.tabular.net.3.weight").sizes().vec(), (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(state.at("encoders.tabular.net.6.weight").sizes().vec(), (std::vector<int64_t>{6, 3}));
  EXPECT_EQ(state.at("heads.label.net.0.weight").size(0), 4);
  EXPECT_EQ(state.at("heads.label.net.2.weight").sizes().vec(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(pruned->config["model"]["encoders"]["image"]["widths"].as<std::vector<int64_t>>(),
            (std::vector<int64_t>{2, 4, 16}));
  EXPECT_EQ(pruned->config["model"]["heads"]["label"]["hidden"].as<int64_t>(), 4);
  EXPECT_LT(report.after.params, report.before.params);
  EXPECT_LT(report.after.weights_bytes, report.before.weights_bytes);
  EXPECT_EQ(report.layers.size(), plan.layers.size());
  EXPECT_FALSE(report.kept.empty());

  // Save -> load: the run on disk holds exactly the planned tensors.
  for (const auto& [name, t] : plan.state) EXPECT_TRUE(torch::equal(t, state.at(name))) << name;

  // The property: the source model with the removed channels zeroed (their weights, biases and
  // batch-norm scale and shift) computes what the pruned model computes.
  auto zeroed = std::dynamic_pointer_cast<models::MultimodalModelImpl>(source->heads()->clone());
  ASSERT_TRUE(zeroed);
  auto params = zeroed->named_parameters(true);
  {
    torch::NoGradGuard no_grad;
    for (const auto& layer : plan.layers) {
      auto drop = torch::ones({layer.before}, torch::kBool);
      for (int64_t k : layer.kept) drop[k] = false;
      for (const std::string& n : {layer.name + ".weight", layer.name + ".bias",
                                   layer.norm + ".weight", layer.norm + ".bias"}) {
        if (auto* p = params.find(n)) p->index_put_({drop}, 0.0);
      }
    }
  }
  auto expected = prune_logits(*source, models::MultimodalModel(zeroed));
  auto got = prune_logits(*pruned, pruned->heads());
  EXPECT_TRUE(torch::allclose(got, expected, 1e-4, 1e-5))
      << (got - expected).abs().max().item<float>();
  // ... and the zeroing matters: the unzeroed source differs.
  auto original = prune_logits(*source, source->heads());
  EXPECT_GT((original - expected).abs().max().item<float>(), 1e-4);
}

TEST_F(PruneRunTest, UnstructuredSparsityIsExactAndSurvivesFineTuning) {
  testing::TempDir out;
  auto o = prune_request(out.file("sparse"), 0.3, false);
  o.finetune_epochs = 1;
  o.finetune_overrides = {"train.optimizer.lr=0.0375"};
  const auto report = run_prune(o);
  auto pruned = runtime::load_run(o.out);
  EXPECT_EQ(pruned->config["train"]["optimizer"].get<double>("lr"), 0.0375);  // as overridden
  auto source = runtime::load_run(run_);
  const auto sparsity = weight_sparsity(*pruned->model.module());
  ASSERT_EQ(sparsity.size(), report.sparsity.size());
  int64_t zeros = 0, total = 0;
  for (std::size_t i = 0; i + 1 < sparsity.size(); ++i) {
    EXPECT_EQ(sparsity[i].zeros, std::llround(0.3 * static_cast<double>(sparsity[i].total)))
        << sparsity[i].name;
    zeros += sparsity[i].zeros, total += sparsity[i].total;
  }
  EXPECT_EQ(sparsity.back().zeros, zeros);
  EXPECT_EQ(sparsity.back().total, total);
  // The zeros are where the source's smallest weights were, and the rest was fine-tuned.
  const auto masks =
      magnitude_masks(prunable_weights(*source->model.module()), 0.3, PruneScope::layer);
  auto state = module_state(*pruned->model.module());
  auto before = module_state(*source->model.module());
  bool changed = false;
  for (const auto& [name, mask] : masks) {
    EXPECT_EQ(state.at(name).masked_select(mask == 0).abs().sum().item<double>(), 0.0) << name;
    changed |= !torch::equal(state.at(name) * mask, before.at(name) * mask);
  }
  EXPECT_TRUE(changed) << "fine-tuning did not move the kept weights";
  EXPECT_EQ(report.before.params, report.after.params);
  EXPECT_TRUE(fs::exists(fs::path(o.out) / "prune.json"));
  EXPECT_TRUE(fs::exists(fs::path(o.out) / "summary.json"));
}

TEST_F(PruneRunTest, ARunTrainedWithoutAValSplitIsPrunedTimedAndFineTuned) {
  const std::string refit = testing::train_refit_run(*data_, "pooled");
  testing::TempDir out;
  auto o = prune_request(out.file("pruned"), 0.3, false);
  o.run = refit;
  o.measure_latency = true;
  o.finetune_epochs = 1;
  const auto report = run_prune(o);
  EXPECT_GT(report.before.latency_ms_batch1, 0.0);  // timed on the training split
  EXPECT_GT(report.after.latency_ms_batch1, 0.0);
  EXPECT_TRUE(std::isnan(report.after.val_accuracy));  // no val split to measure it on
  EXPECT_GT(report.after.test_accuracy, 0.5) << report.before.test_accuracy;
  const auto s = nlohmann::json::parse(read_file((fs::path(o.out) / "summary.json").string()));
  EXPECT_EQ(s["selected"], "last");
  EXPECT_FALSE(s.contains("val"));
}

TEST_F(PruneRunTest, GlobalScopeCountsAllLayersTogether) {
  testing::TempDir out;
  auto o = prune_request(out.file("global"), 0.6, false);
  o.scope = PruneScope::global;
  const auto report = run_prune(o);
  const auto& overall = report.sparsity.back();
  EXPECT_EQ(overall.zeros, std::llround(0.6 * static_cast<double>(overall.total)));
}

TEST_F(PruneRunTest, BadRequestsAreRefusedAndTheSourceIsUntouched) {
  testing::TempDir out;
  const auto weights_before = fs::last_write_time(fs::path(run_) / "model.safetensors");
  EXPECT_THROW(run_prune(prune_request(out.file("a"), 1.0, true)), UsageError);
  EXPECT_THROW(run_prune(prune_request(out.file("a"), -0.2, false)), UsageError);
  EXPECT_THROW(run_prune(prune_request(run_, 0.5, false)), UsageError);       // the source
  EXPECT_THROW(run_prune(prune_request(text_run_, 0.5, false)), UsageError);  // holds a run
  auto o = prune_request(out.file("b"), 0.5, true);
  o.run = text_run_;
  try {
    run_prune(o);
    FAIL() << "an embedding encoder cannot be pruned structurally";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("encoders.text (type embedding)"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(fs::path(o.out) / "model.safetensors"));
  auto typo = prune_request(out.file("c"), 0.5, false);
  typo.finetune_epochs = 1;
  typo.finetune_overrides = {"train.optimiser.lr=0.001"};  // a misspelt key names itself
  try {
    run_prune(typo);
    FAIL() << "a fine-tuning override with an unknown key was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("optimiser"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fs::last_write_time(fs::path(run_) / "model.safetensors"), weights_before);
}

TEST_F(PruneRunTest, CommandLineRejectsAnAmountOutsideZeroToOne) {
  testing::TempDir out;
  auto r = testing::run_mmfuse("prune --run " + run_ + " --out " + out.file("c") +
                               " --amount 1.5 --no-progress");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("[0, 1)"), std::string::npos) << r.output;
}

TEST_F(PruneRunTest, OptimizePrunesThroughTheSameEntryAndRefusesPruneWithInt8) {
  testing::TempDir out;
  // --prune routes to the pruning entry: its own range check answers.
  auto r =
      testing::run_mmfuse("optimize --run " + run_ + " --out " + out.file("c") + " --prune 1.5");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("[0, 1)"), std::string::npos) << r.output;
  r = testing::run_mmfuse("optimize --run " + run_ + " --out " + out.file("d") +
                          " --prune 0.5 --int8 static");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("prune first"), std::string::npos) << r.output;
  r = testing::run_mmfuse("optimize --run " + run_ + " --out " + out.file("e"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--int8 static|dynamic or --prune"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(out.file("c")));
  EXPECT_FALSE(std::filesystem::exists(out.file("d")));
}

}  // namespace
}  // namespace mmfuse::optimize
