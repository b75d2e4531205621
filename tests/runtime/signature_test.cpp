// What a loaded run takes and gives (runtime/signature.h) and predictions with a modality left
// out (leave_out), on the tiny trained run of the built-in dataset.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "mmfuse/runtime/predictor.h"
#include "mmfuse/runtime/signature.h"
#include "tools/tiny_run.h"

namespace mmfuse::runtime {
namespace {

using nlohmann::json;
using testing::tiny_run;

// The first test line with every modality, as a request.
Request full_request() {
  const std::string dir = tiny_run().data_dir;
  std::ifstream in(dir + "/test.jsonl");
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    if (!j.contains("image") || !j.contains("audio") || !j.contains("text")) continue;
    Request r;
    r.image = EncodedFile::read(dir + "/" + j["image"].get<std::string>());
    r.audio = EncodedFile::read(dir + "/" + j["audio"]["file"].get<std::string>());
    r.text = j["text"].get<std::string>();
    return r;
  }
  ADD_FAILURE() << "no test line with image, audio and text";
  return {};
}

TEST(Signature, SupervisedRunListsItsModalitiesAndHeads) {
  MMFUSE_REQUIRE_TINY_RUN();
  const Predictor p(load_run(tiny_run().run_dir));
  const Signature s = signature(p.run());
  EXPECT_EQ(s.task, models::TaskKind::supervised);
  ASSERT_EQ(s.inputs.size(), 3u);
  const std::vector<Modality> order = {Modality::image, Modality::audio, Modality::text};
  for (std::size_t i = 0; i < order.size(); ++i) {
    EXPECT_EQ(s.inputs[i].modality, order[i]);
    EXPECT_EQ(s.inputs[i].item_shape, p.run().dataset->item_shape(order[i]));
  }
  // The outputs' shapes are those a real prediction has.
  const Prediction pred = p.predict(std::vector<Request>{full_request()}).front();
  ASSERT_EQ(s.outputs.size(), 2u);
  for (const auto& o : s.outputs) {
    const HeadPrediction& h = pred.targets.at(o.name);
    if (o.kind == OutputKind::classes) {
      EXPECT_EQ(o.name, "digit");
      EXPECT_EQ(o.classes, h.classes);
      EXPECT_EQ(o.shape, std::vector<int64_t>{static_cast<int64_t>(h.probabilities.size())});
    } else {
      EXPECT_EQ(o.kind, OutputKind::values);
      EXPECT_EQ(o.name, "value");
      EXPECT_EQ(o.shape, std::vector<int64_t>{static_cast<int64_t>(h.values.size())});
    }
  }
  const json j = s.to_json();
  EXPECT_EQ(j["task"], "supervised");
  EXPECT_EQ(j["inputs"][1]["name"], "audio");
}

TEST(LeaveOut, EqualsTheRequestWithoutThatModality) {
  MMFUSE_REQUIRE_TINY_RUN();
  const Predictor p(load_run(tiny_run().run_dir));
  const Request full = full_request();
  const Prepared prepared = p.prepare(full);
  std::set<std::vector<float>> distinct;
  for (Modality m : {Modality::image, Modality::audio, Modality::text}) {
    Request without = full;
    if (m == Modality::image) without.image.reset();
    if (m == Modality::audio) without.audio.reset();
    if (m == Modality::text) without.text.reset();
    const Prepared left = leave_out(prepared, m);
    EXPECT_EQ(left.modalities, without.modalities());
    EXPECT_FALSE(left.items[index_of(m)].defined());
    const Prediction a = p.predict(std::vector<Prepared>{left}).front();
    const Prediction b = p.predict(std::vector<Request>{without}).front();
    EXPECT_EQ(a.to_json(), b.to_json()) << to_string(m);
    distinct.insert(a.targets.at("digit").probabilities);
  }
  // The original is untouched, and leaving out different modalities changes the answer.
  EXPECT_EQ(prepared.modalities.size(), 3u);
  EXPECT_TRUE(prepared.items[index_of(Modality::audio)].defined());
  distinct.insert(
      p.predict(std::vector<Prepared>{prepared}).front().targets.at("digit").probabilities);
  EXPECT_EQ(distinct.size(), 4u);
}

}  // namespace
}  // namespace mmfuse::runtime
