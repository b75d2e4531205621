// Training positives: pairs with identical queries share a group.
#include <gtest/gtest.h>

#include "mmfuse/core/error.h"
#include "mmfuse/models/retrieval_config.h"
#include "mmfuse/train/positives.h"

namespace mmfuse::train {
namespace {

data::Sample text_sample(const std::string& id, const std::string& text) {
  data::Sample s;
  s.id = id;
  s.fields[index_of(Modality::text)] = data::Field{text};
  s.fields[index_of(Modality::image)] = data::Field{data::ImageRef{id + ".png", -1}};
  return s;
}

TEST(QueryGroups, IdenticalQueriesShareAGroupAndUnknownIdsGetFreshOnes) {
  data::SampleSet set;
  set.samples = {text_sample("a", "woman frowning"), text_sample("b", "man frowning"),
                 text_sample("c", "woman frowning"), text_sample("d", "woman frowning ")};
  const QueryGroups groups(set, Modality::text);
  EXPECT_EQ(groups.size(), 3);  // "woman frowning " (trailing space) is another string
  const auto l = groups.labels({"a", "b", "c", "d", "x", "y"});
  const std::vector<int64_t> got(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
  EXPECT_EQ(got[0], got[2]);
  EXPECT_NE(got[0], got[1]);
  EXPECT_NE(got[0], got[3]);
  EXPECT_NE(got[4], got[5]);  // ids outside the training set: their own groups
  for (int i = 0; i < 4; ++i) EXPECT_NE(got[4], got[i]);
  // Grouped by image instead, every sample is its own group (distinct files).
  EXPECT_EQ(QueryGroups(set, Modality::image).size(), 4);
}

TEST(QueryGroups, KeysTellModalitiesAndNoiseApart) {
  data::Sample a, b;
  a.fields[index_of(Modality::audio)] = data::Field{data::AudioRef{"x.wav", std::nullopt}};
  b.fields[index_of(Modality::audio)] =
      data::Field{data::AudioRef{"x.wav", data::NoiseSpec{"n.wav", 1.5, -3.0}}};
  EXPECT_NE(query_key(a, Modality::audio), query_key(b, Modality::audio));
  EXPECT_EQ(query_key(a, Modality::text), "");
}

TEST(RetrievalConfig, PositivesParseAndConflictWithLabels) {
  auto parse = [](const std::string& extra) {
    return models::RetrievalConfig::from_config(
        ConfigNode::parse("retrieval: {modalities: [text, image]" + extra + "}", "run"));
  };
  EXPECT_EQ(parse("").positives, models::Positives::pair);
  EXPECT_EQ(parse(", positives: same_query").positives, models::Positives::same_query);
  try {
    parse(", positives: same_text");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("retrieval.positives"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("same_query"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse(", labels: digit, positives: same_query"), ConfigError);
}

}  // namespace
}  // namespace mmfuse::train
