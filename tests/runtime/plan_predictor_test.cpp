// A loaded run predicts through its inference plan by default (RunLoadOptions::inference_plan),
// with the module path's predictions; the option turns it off.
#include <gtest/gtest.h>

#include <fstream>

#include "mmfuse/runtime/predictor.h"
#include "tools/tiny_run.h"

namespace mmfuse::runtime {
namespace {

using nlohmann::json;

std::vector<Request> plan_predictor_requests(std::size_t count) {
  const std::string dir = testing::tiny_run().data_dir;
  std::ifstream in(dir + "/test.jsonl");
  std::vector<Request> out;
  for (std::string line; out.size() < count && std::getline(in, line);) {
    const json j = json::parse(line);
    Request r;
    if (j.value("image", json()).is_string()) {
      r.image = EncodedFile::read(dir + "/" + j["image"].get<std::string>());
    }
    if (out.size() % 2 == 0 && j.value("audio", json()).is_object()) {
      r.audio = EncodedFile::read(dir + "/" + j["audio"]["file"].get<std::string>());
    }
    if (j.value("text", json()).is_string()) r.text = j["text"].get<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

TEST(PlanPredictor, PredictsAsTheModulePathAndCanBeTurnedOff) {
  const auto& tiny = testing::tiny_run();
  ASSERT_TRUE(tiny.error.empty()) << tiny.error;
  const auto planned = load_run(tiny.run_dir);
  ASSERT_TRUE(planned->plan);
  EXPECT_EQ(planned->plan->compiled_blocks(), 2);  // the two lenet encoders; linear heads stay
  RunLoadOptions off;
  off.inference_plan = false;
  const auto plain = load_run(tiny.run_dir, off);
  EXPECT_FALSE(plain->plan);

  const auto requests = plan_predictor_requests(6);
  ASSERT_EQ(requests.size(), 6u);
  for (std::size_t n : {std::size_t{1}, requests.size()}) {
    const std::vector<Request> batch(requests.begin(), requests.begin() + n);
    const auto a = Predictor(planned).predict(batch);
    const auto b = Predictor(plain).predict(batch);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      for (const auto& [target, pa] : a[i].targets) {
        const auto& pb = b[i].targets.at(target);
        EXPECT_EQ(pa.index, pb.index) << target;
        for (std::size_t k = 0; k < pa.probabilities.size(); ++k) {
          EXPECT_NEAR(pa.probabilities[k], pb.probabilities[k], 1e-5) << target;
        }
        for (std::size_t k = 0; k < pa.values.size(); ++k) {
          EXPECT_NEAR(pa.values[k], pb.values[k], 1e-5 * std::max(1.0f, std::abs(pb.values[k])));
        }
      }
    }
  }
  // Built once per batch size (and per chunk size of the encoders): a second round adds none.
  const int64_t built = planned->plan->compiled_shapes();
  EXPECT_GE(built, 2 * 2);
  Predictor again(planned);
  (void)again.predict(std::vector<Request>(requests.begin(), requests.begin() + 1));
  (void)again.predict(requests);
  EXPECT_EQ(planned->plan->compiled_shapes(), built);
}

}  // namespace
}  // namespace mmfuse::runtime
