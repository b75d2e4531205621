// Dataset spec parsing, label maps, fitting, bad samples and the save -> load round trip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/dataset_fixture.h"
#include "mmfuse/data/label_map.h"

namespace mmfuse::data {
namespace {

using namespace ::mmfuse::testing;
using ::testing::HasSubstr;

std::string config_error(const std::string& yaml) {
  try {
    DatasetSpec::parse(yaml, "spec.yaml", "/base");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(DatasetSpec, ParsesSplitsModalitiesTargetsAndStripsOwnKeys) {
  DatasetSpec s = DatasetSpec::parse(
      "splits: {train: [a/t.jsonl, /abs/u.jsonl], test: x.csv}\n"
      "modalities:\n  audio: {field: speech, pipeline: audio, features: mfcc}\n  text: {}\n"
      "targets: {digit: {field: label}, y: {type: regression}}\n"
      "skip_bad: false\n",
      "spec.yaml", "/base");
  EXPECT_EQ(s.manifests(Split::train),
            (std::vector<std::string>{"/base/a/t.jsonl", "/abs/u.jsonl"}));
  EXPECT_EQ(s.manifests(Split::test), (std::vector<std::string>{"/base/x.csv"}));
  EXPECT_TRUE(s.manifests(Split::val).empty());
  EXPECT_EQ(s.used_modalities(), (std::vector<Modality>{Modality::audio, Modality::text}));
  const ModalitySpec& a = *s.modalities[index_of(Modality::audio)];
  EXPECT_EQ(a.field, "speech");
  EXPECT_EQ(a.pipeline, "audio");
  EXPECT_EQ(a.options.keys(), (std::vector<std::string>{"features"}));
  EXPECT_EQ(a.options.path(), "modalities.audio");
  EXPECT_EQ(s.modalities[index_of(Modality::text)]->field, "text");
  ASSERT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.targets[0].field, "label");
  EXPECT_EQ(s.targets[0].kind, TargetKind::class_label);
  EXPECT_EQ(s.targets[1].field, "y");
  EXPECT_EQ(s.targets[1].kind, TargetKind::regression);
  EXPECT_FALSE(s.skip_bad);
  EXPECT_EQ(s.cache.dir, "/base/.mmfuse-cache/spec");
  EXPECT_EQ(s.schema().fields[index_of(Modality::audio)], "speech");
  EXPECT_TRUE(s.schema().fields[index_of(Modality::image)].empty());
}

TEST(DatasetSpec, ErrorsNameTheConfigPath) {
  const std::string ok_splits = "splits: {train: [t.jsonl]}\n";
  EXPECT_THAT(config_error(ok_splits + "modalities: {smell: {}}"),
              HasSubstr("spec.yaml: modalities.smell: unknown modality 'smell'"));
  EXPECT_THAT(config_error(ok_splits + "modalities: {text: {}}\ntargets: {d: {type: ordinal}}"),
              HasSubstr("targets.d.type: unknown target type 'ordinal'; known: class, regression"));
  EXPECT_THAT(config_error("splits: {val: [v.jsonl]}\nmodalities: {text: {}}"),
              HasSubstr("splits.train: missing"));
  EXPECT_THAT(config_error(ok_splits + "modalities: {text: {}}\ncache: {dtype: int8}"),
              HasSubstr("cache.dtype: unknown cache dtype 'int8'"));
  EXPECT_THAT(config_error(ok_splits + "modalites: {text: {}}"),
              HasSubstr("modalites: unknown key"));
}

TEST(LabelMap, IntegersInNumericOrderNamesSorted) {
  LabelMap ints = LabelMap::fit({"10", "2", "1", "2", "-3"});
  EXPECT_EQ(ints.names(), (std::vector<std::string>{"-3", "1", "2", "10"}));
  EXPECT_EQ(ints.index("10"), 3);
  EXPECT_EQ(ints.index("7"), -1);
  LabelMap names = LabelMap::fit({"dog", "cat", "10", "ant", "cat"});
  EXPECT_EQ(names.names(), (std::vector<std::string>{"10", "ant", "cat", "dog"}));
  EXPECT_EQ(LabelMap::from_json(names.to_json()).names(), names.names());
}

TEST(Dataset, FitsLabelMapsWidthsAndPipelines) {
  TempDir dir;
  TestData t;
  auto ds = Dataset::create(DatasetSpec::load(write_dataset(dir, 12, 6)), t.options());
  EXPECT_EQ(ds->modalities(), (std::vector<Modality>{Modality::image, Modality::text}));
  EXPECT_EQ(ds->label_map("digit").names(), (std::vector<std::string>{"1", "2", "10"}));
  EXPECT_EQ(ds->num_classes("digit"), 3);
  EXPECT_EQ(ds->regression_width("value"), 2);
  EXPECT_EQ(ds->item_shape(Modality::image), (std::vector<int64_t>{3}));
  // Image mean over train: mean_i(0.2 i) = 0.2 * 5.5 = 1.1.
  EXPECT_NEAR(ds->pipeline(Modality::image).state()["mean"].get<double>(), 1.1, 1e-3);
  // Texts of samples with i % 5 != 4: words w0..w3 and "common".
  EXPECT_EQ(ds->pipeline(Modality::text).state()["vocab_size"].get<int64_t>(), 5);
  EXPECT_EQ(ds->train_samples()->samples.size(), 12u);
  EXPECT_THROW(ds->label_map("value"), Error);
  EXPECT_THROW(ds->pipeline(Modality::audio), Error);
}

TEST(Dataset, UnseenValLabelIsSkippedOrThrown) {
  TempDir dir;
  TestData t;
  std::string spec = write_dataset(dir, 6, 0);
  write_text(dir.file("val.jsonl"),
             "{\"id\": \"v0\", \"image\": \"files/train0.txt\", \"label\": 2}\n"
             "{\"id\": \"v1\", \"image\": \"files/train1.txt\", \"label\": 99}\n");
  auto ds = Dataset::create(DatasetSpec::load(spec), t.options());
  auto val = ds->read_split(Split::val);
  ASSERT_EQ(val->samples.size(), 1u);
  ASSERT_EQ(val->bad.size(), 1u);
  EXPECT_THAT(val->bad[0].message(),
              HasSubstr("val.jsonl:2: field 'label': label '99' of target 'digit' was not seen "
                        "in training; known: 1, 2, 10"));
  auto opts = t.options();
  opts.skip_bad = false;
  auto strict = Dataset::create(DatasetSpec::load(spec), opts);
  EXPECT_THROW(strict->read_split(Split::val), InputError);
}

TEST(Dataset, BadTrainingFilesAreSkippedAndListedOrThrown) {
  TempDir dir;
  TestData t;
  std::string spec = write_dataset(dir, 8, 0);
  std::filesystem::remove(dir.file("files/train2.txt"));     // missing file
  write_text(dir.file("files/train5.txt"), "1 2 oops\n");    // corrupt content
  write_text(dir.file("files/train6.txt"), "torch-fail\n");  // a torch op throws
  auto ds = Dataset::create(DatasetSpec::load(spec), t.options());
  EXPECT_EQ(ds->train_samples()->samples.size(), 5u);
  const auto& bad = ds->train_samples()->bad;
  ASSERT_EQ(bad.size(), 3u);
  EXPECT_EQ(bad[0].id, "train2");
  EXPECT_EQ(bad[0].line, 3);
  EXPECT_EQ(bad[0].field, "image");
  EXPECT_EQ(bad[0].file, dir.file("files/train2.txt"));
  EXPECT_EQ(bad[1].line, 6);
  EXPECT_EQ(bad[1].reason, "not a number: 'oops'");
  EXPECT_EQ(bad[2].line, 7);
  EXPECT_THAT(bad[2].reason, HasSubstr("decoding failed: simulated torch failure"));
  // The mean is fitted on the five good samples: 0.2 * mean(0,1,3,4,7) = 0.6.
  EXPECT_NEAR(ds->pipeline(Modality::image).state()["mean"].get<double>(), 0.6, 1e-3);

  auto opts = t.options(1);
  opts.skip_bad = false;
  try {
    Dataset::create(DatasetSpec::load(spec), opts);
    FAIL() << "strict mode must throw";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), dir.file("train.jsonl") + ":3: field 'image': " +
                                         dir.file("files/train2.txt") + ": file not found");
  }
}

TEST(Dataset, SaveLoadRoundTripReproducesPreprocessing) {
  TempDir dir;
  TestData t;
  auto ds = Dataset::create(DatasetSpec::load(write_dataset(dir, 9, 4)), t.options());
  ds->save(dir.file("state/dataset.json"));
  auto back = Dataset::load(dir.file("state/dataset.json"), t.options());
  EXPECT_EQ(back->state(), ds->state());
  EXPECT_EQ(back->label_map("digit").names(), ds->label_map("digit").names());
  EXPECT_EQ(back->regression_width("value"), 2);
  auto val = back->read_split(Split::val);
  ASSERT_EQ(val->samples.size(), 4u);
  for (const auto& s : val->samples) {
    EXPECT_TRUE(torch::equal(back->item(s, Modality::image, nullptr),
                             ds->item(s, Modality::image, nullptr)));
  }
  // The finalized item is features minus the fitted mean (0.2 * 4 = 0.8 over 0..8).
  EXPECT_NEAR(back->item(val->samples[1], Modality::image, nullptr)[1].item<double>(), 0.2 - 0.8,
              1e-3);
  write_text(dir.file("bad.json"), "{\"format\": \"other\"}");
  EXPECT_THROW(Dataset::load(dir.file("bad.json"), t.options()), InputError);
}

}  // namespace
}  // namespace mmfuse::data

namespace mmfuse::data {
namespace {

TEST(DatasetSpec, ShippedConfigsResolveToTheSharedManifests) {
  MMFUSE_REQUIRE_SHARED();
  for (const char* name : {"avmnist", "emoji"}) {
    DatasetSpec s =
        DatasetSpec::load(std::string(MMFUSE_SOURCE_DIR) + "/configs/data/" + name + ".yaml");
    for (Split split : kAllSplits) {
      ASSERT_EQ(s.manifests(split).size(), 1u) << name;
      EXPECT_TRUE(std::filesystem::is_regular_file(s.manifests(split)[0])) << s.manifests(split)[0];
    }
    ASSERT_EQ(s.targets.size(), 1u);
    EXPECT_EQ(s.targets[0].field, "label");
    EXPECT_EQ(s.targets[0].kind, TargetKind::class_label);
    EXPECT_TRUE(s.uses(Modality::image));
  }
  DatasetSpec av = DatasetSpec::load(std::string(MMFUSE_SOURCE_DIR) + "/configs/data/avmnist.yaml");
  EXPECT_EQ(av.used_modalities(), (std::vector<Modality>{Modality::image, Modality::audio}));
  EXPECT_EQ(av.modalities[index_of(Modality::audio)]->options["features"].as<std::string>(),
            "avmnist_spectrogram");
  // The spec's own keys are not passed to the pipeline.
  EXPECT_FALSE(av.modalities[index_of(Modality::image)]->options.has("pipeline"));
  EXPECT_FALSE(av.modalities[index_of(Modality::image)]->options.has("field"));
  // Parsing the avmnist test manifest through the spec's schema: 10,000 samples, both modalities.
  ManifestData test = read_manifest(av.manifests(Split::test)[0], av.schema(), false);
  ASSERT_EQ(test.samples.size(), 10000u);
  EXPECT_EQ(std::get<std::string>(test.samples[0].targets.at("digit")), "7");
  EXPECT_EQ(std::get<ImageRef>(*test.samples[0].field(Modality::image)).index, 0);
  EXPECT_TRUE(std::get<AudioRef>(*test.samples[0].field(Modality::audio)).noise.has_value());
}

}  // namespace
}  // namespace mmfuse::data
