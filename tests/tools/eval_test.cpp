// `mmfuse eval` and `mmfuse predict` on a tiny trained run of the built-in dataset: eval's numbers
// against predictions made one sample at a time, robustness written into the run's report,
// errors naming file / line / field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "mmfuse/core/fs.h"
#include "mmfuse/eval/robustness.h"
#include "mmfuse/eval/run_eval.h"
#include "mmfuse/runtime/predictor.h"
#include "test_util.h"
#include "tiny_run.h"

namespace mmfuse {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;
using testing::run_mmfuse;
using testing::run_mmfuse_json;
using testing::TempDir;
using testing::tiny_run;

// The test split with absolute paths and the audio without its manifest noise, so that each line
// can also be given to `predict` (which takes plain files).
std::vector<json> clean_test_split(const std::string& out_path) {
  const std::string dir = tiny_run().data_dir;
  std::ifstream in(dir + "/test.jsonl");
  std::ofstream out(out_path);
  std::vector<json> rows;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    if (j.contains("image")) j["image"] = dir + "/" + j["image"].get<std::string>();
    if (j.contains("audio")) j["audio"] = dir + "/" + j["audio"]["file"].get<std::string>();
    out << j.dump() << "\n";
    rows.push_back(j);
  }
  return rows;
}

runtime::Request input_of(const json& row) {
  runtime::Request in;
  if (row.contains("image")) in.image = runtime::EncodedFile::read(row["image"].get<std::string>());
  if (row.contains("audio")) in.audio = runtime::EncodedFile::read(row["audio"].get<std::string>());
  if (row.contains("text")) in.text = row["text"].get<std::string>();
  return in;
}

// One request through the run, as `mmfuse predict` gives it.
json predict(const runtime::Predictor& p, const runtime::Request& in) {
  return p.predict(std::vector<runtime::Request>{in}).front().to_json();
}

TEST(Eval, JsonMetricsEqualThoseOfPredictions) {
  MMFUSE_REQUIRE_TINY_RUN();
  TempDir dir;
  auto rows = clean_test_split(dir.file("clean.jsonl"));
  ASSERT_EQ(rows.size(), 10u);
  int code = 0;
  json r = run_mmfuse_json("eval --run " + tiny_run().run_dir + " --data " +
                               dir.file("clean.jsonl") + " --json --batch 4 --top-k 3",
                           &code);
  ASSERT_EQ(code, 0) << r.dump();
  const runtime::Predictor run(runtime::load_run(tiny_run().run_dir));
  int correct = 0;
  double abs_err = 0.0;
  for (const auto& row : rows) {
    json p = predict(run, input_of(row));
    correct += p["targets"]["digit"]["class"] == std::to_string(row["label"].get<int>());
    abs_err +=
        std::abs(p["targets"]["value"]["value"][0].get<double>() - row["value"].get<double>());
    double sum = 0.0;
    for (const auto& it : p["targets"]["digit"]["probabilities"].items()) {
      sum += it.value().get<double>();
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  const json& t = r["metrics"]["targets"];
  EXPECT_EQ(r["metrics"]["samples"], 10);
  EXPECT_NEAR(t["digit"]["report"]["accuracy"].get<double>(), correct / 10.0, 1e-12);
  // eval reads the audio features through the run's feature cache, which stores them as float16
  // (round-off < 2.5e-4 per value, tests/data/cache_test.cpp); predict decodes the files afresh.
  EXPECT_NEAR(t["value"]["report"]["mae"].get<double>(), abs_err / 10.0, 1e-3);
  EXPECT_EQ(t["digit"]["report"]["top_k"], 3);
  // Complexity: the parameter count of the loaded model, a positive cost.
  int64_t params = 0;
  for (const auto& p : run.run().model.module()->parameters()) params += p.numel();
  EXPECT_EQ(r["complexity"]["params"].get<int64_t>(), params);
  EXPECT_GT(r["complexity"]["flops_per_sample"].get<double>(), 0.0);
  EXPECT_GT(r["complexity"]["latency_ms_batch1"].get<double>(), 0.0);
  EXPECT_GT(r["complexity"]["peak_rss_mb"].get<double>(), 10.0);
  EXPECT_TRUE(r["complexity"].contains("train_seconds"));
  EXPECT_FALSE(r.contains("frozen_memo"));  // the tiny run trains every encoder
  // --no-complexity: the same metrics without timing the model.
  json fast =
      run_mmfuse_json("eval --run " + tiny_run().run_dir + " --data " + dir.file("clean.jsonl") +
                          " --json --batch 4 --top-k 3 " + "--no-complexity --no-frozen-memo",
                      &code);
  ASSERT_EQ(code, 0) << fast.dump();
  EXPECT_FALSE(fast.contains("complexity"));
  EXPECT_EQ(fast["metrics"]["targets"], r["metrics"]["targets"]);

  auto table = run_mmfuse("-q eval --run " + tiny_run().run_dir + " --data " +
                          dir.file("clean.jsonl") + " --batch 4");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("target digit (classification)"));
  EXPECT_THAT(table.output, HasSubstr("confusion (rows: true, columns: predicted)"));
  EXPECT_THAT(table.output, HasSubstr("target value (regression)"));
}

// The metrics pass reads the manifest a chunk at a time: the figures do not depend on the chunk.
TEST(Eval, MetricsDoNotDependOnTheChunkOfManifestHeld) {
  MMFUSE_REQUIRE_TINY_RUN();
  eval::RunEvalRequest req;
  req.run_dir = tiny_run().run_dir;
  req.manifest = tiny_run().data_dir + "/test.jsonl";
  req.batch_size = 3;
  req.complexity = false;
  json whole = eval::evaluate_run(req)["metrics"];
  req.chunk_samples = 1;  // -> one batch of 3 per chunk: 4 chunks for the 10 samples
  json chunked = eval::evaluate_run(req)["metrics"];
  ASSERT_EQ(whole["samples"], 10);
  whole.erase("seconds");
  chunked.erase("seconds");
  EXPECT_EQ(chunked, whole);
  EXPECT_GT(whole["targets"]["digit"]["report"]["accuracy"].get<double>(), 0.0);
}

// How many charts Chromium lays out in `page` (-2: Chromium failed, -3: the page did not say).
int rendered_charts(const std::string& page, const TempDir& dir) {
  const std::string cmd = std::string(testing::kChromium) +
                          " --headless --no-sandbox --disable-gpu --no-first-run"
                          " --disable-background-networking --disable-component-update"
                          " --user-data-dir=" +
                          dir.file("profile") + " --virtual-time-budget=3000 --dump-dom file://" +
                          page + " > " + dir.file("dom.html") + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return -2;
  std::smatch m;
  std::string dom = read_file(dir.file("dom.html"));
  return std::regex_search(dom, m, std::regex("data-charts-rendered=\"(\\d+)\""))
             ? std::stoi(m[1].str())
             : -3;
}

TEST(Eval, RobustnessIsDeterministicAndGoesIntoTheRunReport) {
  MMFUSE_REQUIRE_TINY_RUN();
  TempDir dir;
  auto rows = clean_test_split(dir.file("clean.jsonl"));
  const std::string run_dir = dir.file("run");
  fs::copy(tiny_run().run_dir, run_dir, fs::copy_options::recursive);
  const std::string args = "eval --run " + run_dir + " --data " + dir.file("clean.jsonl") +
                           " --json --robustness --levels 0,0.5,0.9 --batch 5";
  int code = 0;
  json r = run_mmfuse_json(args + " --threads 1", &code);
  ASSERT_EQ(code, 0) << r.dump();
  const double clean = r["metrics"]["targets"]["digit"]["report"]["accuracy"];
  const json& rb = r["robustness"];
  EXPECT_EQ(rb["target"], "digit");
  EXPECT_EQ(r["noise_dir"], tiny_run().data_dir + "/noise");
  for (const char* m : {"image", "audio", "text"}) {
    ASSERT_TRUE(rb["curves"].contains(m)) << rb.dump();
    auto curve = rb["curves"][m].get<std::vector<double>>();
    ASSERT_EQ(curve.size(), 3u);
    EXPECT_DOUBLE_EQ(curve[0], clean) << m << ": level 0 must be the clean accuracy";
    EXPECT_NEAR(rb["auc"][m].get<double>(), eval::noise_auc({0, 0.5, 0.9}, curve), 1e-12);
    EXPECT_NEAR(rb["effective"][m].get<double>(), rb["auc"][m].get<double>() - clean, 1e-12);
  }
  // Ablation: "all" is the clean accuracy; "none" is what the model answers with no input.
  const json& ab = r["ablation"];
  ASSERT_EQ(ab.size(), 5u);  // all, without image/audio/text, none
  EXPECT_EQ(ab[0]["name"], "all");
  EXPECT_DOUBLE_EQ(ab[0]["accuracy"].get<double>(), clean);
  EXPECT_EQ(ab[4]["name"], "none");
  const runtime::Predictor run(runtime::load_run(run_dir));
  const std::string absent = predict(run, {})["targets"]["digit"]["class"];
  int hits = 0;
  for (const auto& row : rows) hits += std::to_string(row["label"].get<int>()) == absent;
  EXPECT_NEAR(ab[4]["accuracy"].get<double>(), hits / 10.0, 1e-12);

  // Same seed, other thread count: the same curves.
  json again = run_mmfuse_json(args + " --threads 2", &code);
  ASSERT_EQ(code, 0) << again.dump();
  EXPECT_EQ(again["robustness"]["curves"], rb["curves"]);

  // summary.json has the sections and report.html shows the curves and the ablation bars.
  json summary = json::parse(read_file(run_dir + "/summary.json"));
  EXPECT_EQ(summary["robustness"]["curves"], rb["curves"]);
  EXPECT_EQ(summary["ablation"], ab);
  EXPECT_TRUE(summary.contains("history"));  // the training sections are kept
  const std::string html = read_file(run_dir + "/report.html");
  EXPECT_THAT(html, HasSubstr("<h2>Robustness</h2>"));
  EXPECT_THAT(html, HasSubstr("Accuracy vs noise level"));
  EXPECT_THAT(html, HasSubstr("<h2>Modality ablation</h2>"));
  EXPECT_THAT(html, HasSubstr("without audio"));
  int svgs = 0;
  for (auto p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_GE(svgs, 2);
  // Last, as it needs Chromium: the browser lays out every chart of the page.
  const std::string no_browser = testing::missing_chromium();
  MMFUSE_REQUIRE(no_browser.empty() ? no_browser
                                    : no_browser + "; the charts were not laid out in a browser");
  EXPECT_EQ(rendered_charts(run_dir + "/report.html", dir), svgs)
      << "every chart, robustness and ablation included (-2: Chromium failed, -3: no "
         "data-charts-rendered)";
}

TEST(Eval, BadManifestsNameFileLineAndField) {
  MMFUSE_REQUIRE_TINY_RUN();
  TempDir dir;
  std::ofstream(dir.file("unseen.jsonl")) << "{\"id\": \"a\", \"text\": \"seven\", \"label\": 7, "
                                             "\"value\": 7}\n"
                                             "{\"id\": \"b\", \"text\": \"x\", \"label\": 11, "
                                             "\"value\": 1}\n";
  auto r = run_mmfuse("eval --run " + tiny_run().run_dir + " --data " + dir.file("unseen.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(dir.file("unseen.jsonl") + ":2: field 'label'"));
  EXPECT_THAT(r.output, HasSubstr("label '11' of target 'digit' was not seen in training"));

  std::ofstream(dir.file("broken.csv"))
      << "id,text,label,value\na,seven,7,7\nb,six,6,not-a-number\n";
  r = run_mmfuse("eval --run " + tiny_run().run_dir + " --data " + dir.file("broken.csv"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(dir.file("broken.csv") + ":3: field 'value'"));

  std::ofstream(dir.file("missing.jsonl"))
      << "{\"id\": \"a\", \"image\": \"nope.png\", \"label\": 7, \"value\": 7}\n";
  r = run_mmfuse("eval --run " + tiny_run().run_dir + " --data " + dir.file("missing.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr(dir.file("missing.jsonl") + ":1: field 'image'"));
}

TEST(Predict, AnyModalityMayBeLeftOut) {
  MMFUSE_REQUIRE_TINY_RUN();
  TempDir dir;
  auto rows = clean_test_split(dir.file("clean.jsonl"));
  std::string image;
  for (const auto& row : rows) {
    if (row.contains("image")) image = row["image"].get<std::string>();
  }
  ASSERT_FALSE(image.empty());
  int code = 0;
  json p = run_mmfuse_json(
      "predict --run " + tiny_run().run_dir + " --image " + image + " --text 'sept'", &code);
  ASSERT_EQ(code, 0) << p.dump();
  EXPECT_EQ(p["modalities"], json({"image", "text"}));
  EXPECT_EQ(p["targets"]["digit"]["kind"], "classification");
  EXPECT_EQ(p["targets"]["digit"]["probabilities"].size(), 10u);
  const std::string cls = p["targets"]["digit"]["class"];
  for (const auto& it : p["targets"]["digit"]["probabilities"].items()) {
    EXPECT_LE(it.value().get<double>(), p["targets"]["digit"]["probabilities"][cls].get<double>());
  }
  EXPECT_EQ(p["targets"]["value"]["value"].size(), 1u);
  // The same through the library, and without the text: another input, another answer's source.
  const runtime::Predictor run(runtime::load_run(tiny_run().run_dir));
  runtime::Request in;
  in.image = runtime::EncodedFile::read(image);
  in.text = "sept";
  EXPECT_EQ(predict(run, in)["targets"], p["targets"]);

  auto missing =
      run_mmfuse("predict --run " + tiny_run().run_dir + " --image " + dir.file("nope.png"));
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr(dir.file("nope.png") + ": cannot open file"));
  std::ofstream(dir.file("fake.wav")) << "not audio at all";
  auto bad = run_mmfuse("predict --run " + tiny_run().run_dir + " --audio " + dir.file("fake.wav"));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("fake.wav"));
  auto unused = run_mmfuse("predict --run " + tiny_run().run_dir + " --tabular 1,2");
  EXPECT_EQ(unused.exit_code, 2) << unused.output;
  EXPECT_THAT(unused.output, HasSubstr("the run does not use tabular"));
}

}  // namespace
}  // namespace mmfuse
