// A text classifier through the whole command line with the `wordpiece` pipeline and the `bert`
// encoder: train (1 epoch on 12 short texts), then predict on the run; the run keeps working
// when loaded again, and a different vocabulary at load is refused.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tools/tiny_run.h"

namespace mmfuse::testing {
namespace {

void write_bert_text_data(const TempDir& dir) {
  std::ofstream(dir.file("vocab.txt")) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ngood\ngreat\nbad\n"
                                          "awful\nfilm\nthe\nwas\n!\n.\n##s\n好\n";
  const char* pos[] = {"The film was great!", "good good film.", "GREAT films", "好 film",
                       "the film was good",   "great!"};
  const char* neg[] = {"The film was awful!", "bad bad film.", "AWFUL films", "bad 好",
                       "the film was bad",    "awful."};
  for (const char* split : {"train", "val", "test"}) {
    std::ofstream out(dir.file(std::string(split) + ".jsonl"));
    for (int i = 0; i < 6; ++i) {
      out << nlohmann::json{{"text", pos[i]}, {"label", "pos"}}.dump() << "\n"
          << nlohmann::json{{"text", neg[i]}, {"label", "neg"}}.dump() << "\n";
    }
  }
  std::ofstream(dir.file("data.yaml"))
      << "splits: {train: [train.jsonl], val: [val.jsonl], test: [test.jsonl]}\n"
         "modalities:\n  text: {field: text, pipeline: wordpiece, vocab: vocab.txt, max_len: 12}\n"
         "targets:\n  sentiment: {field: label, type: class}\n";
  std::ofstream(dir.file("run.yaml"))
      << "data: " << dir.file("data.yaml") << "\n"
      << "model:\n  encoders:\n    text: {type: bert, hidden: 16, layers: 1, heads: 2, "
         "intermediate: 32, max_positions: 12, dropout: 0.0}\n"
         "  heads: {sentiment: {type: linear}}\n"
         "train:\n  epochs: 1\n  batch_size: 4\n  seed: 3\n  threads: 1\n  loader_threads: 1\n"
         "  optimizer: {type: adam, lr: 0.01}\n";
}

TEST(BertRun, WordPiecePipelineAndBertEncoderTrainAndPredict) {
  TempDir dir;
  write_bert_text_data(dir);
  auto trained = run_mmfuse("-q train --no-progress --config " + dir.file("run.yaml") + " --out " +
                            dir.file("run") + " > /dev/null");
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  int code = 0;
  const auto p = run_mmfuse_json(
      "predict --run " + dir.file("run") + " --text 'Great film, NAÏVE 好!'", &code);
  ASSERT_EQ(code, 0) << p.dump();
  const auto& probs = p["targets"]["sentiment"]["probabilities"];
  EXPECT_NEAR(probs["pos"].get<double>() + probs["neg"].get<double>(), 1.0, 1e-5);
  // The run refuses a different vocabulary at load.
  std::ofstream(dir.file("vocab.txt"), std::ios::app) << "extra\n";
  auto refused = run_mmfuse("predict --run " + dir.file("run") + " --text 'good'");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("not the one the model was trained with"), std::string::npos)
      << refused.output;
}

}  // namespace
}  // namespace mmfuse::testing
