// Manifest parsing: JSONL and CSV, path resolution, absent modalities, targets, bad lines.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/fake_pipelines.h"
#include "mmfuse/data/manifest.h"
#include "test_util.h"

namespace mmfuse::data {
namespace {

using ::mmfuse::testing::TempDir;
using ::mmfuse::testing::write_text;
using ::testing::HasSubstr;

ManifestSchema schema_with_targets() {
  ManifestSchema s = ManifestSchema::all_modalities();
  s.targets = {{"digit", "label", TargetKind::class_label, true},
               {"value", "value", TargetKind::regression, false}};
  return s;
}

std::string error_of(const std::string& path, const ManifestSchema& schema) {
  try {
    read_manifest(path, schema, /*skip_bad=*/false);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Manifest, JsonlFieldsPathsTargetsAndAbsentModalities) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("sub"));
  const std::string m = dir.file("sub/m.jsonl");
  write_text(m,
             "{\"id\": \"a\", \"label\": 7, \"value\": [1.5, -2], \"image\": \"img/a.png\", "
             "\"audio\": {\"file\": \"../w.wav\", \"noise\": {\"file\": \"/abs/n.wav\", "
             "\"offset_s\": 1.25, \"snr_db\": -3}}, \"text\": \"h\\u00e9llo\", "
             "\"tabular\": [1, 2.5]}\n"
             "\n"
             "{\"label\": \"cat\", \"value\": 0.5, \"image\": {\"file\": \"x.idx3.gz\", "
             "\"index\": 4}, \"audio\": null}\n");
  ManifestData d = read_manifest(m, schema_with_targets(), false);
  ASSERT_EQ(d.samples.size(), 2u);
  const Sample& a = d.samples[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.line, 1);
  EXPECT_EQ(a.manifest, m);
  EXPECT_EQ(std::get<ImageRef>(*a.field(Modality::image)).path, dir.file("sub/img/a.png"));
  EXPECT_EQ(std::get<ImageRef>(*a.field(Modality::image)).index, -1);
  const auto& audio = std::get<AudioRef>(*a.field(Modality::audio));
  EXPECT_EQ(audio.path, dir.file("w.wav"));
  ASSERT_TRUE(audio.noise.has_value());
  EXPECT_EQ(audio.noise->path, "/abs/n.wav");
  EXPECT_DOUBLE_EQ(audio.noise->offset_s, 1.25);
  EXPECT_DOUBLE_EQ(audio.noise->snr_db, -3.0);
  EXPECT_EQ(std::get<std::string>(*a.field(Modality::text)), "h\xC3\xA9llo");
  EXPECT_EQ(std::get<std::vector<float>>(*a.field(Modality::tabular)),
            (std::vector<float>{1.0f, 2.5f}));
  EXPECT_EQ(std::get<std::string>(a.targets.at("digit")), "7");
  EXPECT_EQ(std::get<std::vector<float>>(a.targets.at("value")), (std::vector<float>{1.5f, -2.f}));

  const Sample& b = d.samples[1];
  EXPECT_EQ(b.id, "m.jsonl:3");  // no id: file name and line (the blank line 2 is skipped)
  EXPECT_EQ(b.line, 3);
  EXPECT_EQ(std::get<ImageRef>(*b.field(Modality::image)).index, 4);
  EXPECT_FALSE(b.has(Modality::audio));  // null: absent
  EXPECT_FALSE(b.has(Modality::text));   // missing: absent
  EXPECT_EQ(std::get<std::string>(b.targets.at("digit")), "cat");
  EXPECT_EQ(std::get<std::vector<float>>(b.targets.at("value")), (std::vector<float>{0.5f}));
}

TEST(Manifest, CsvCellsMatchJsonl) {
  TempDir dir;
  const std::string m = dir.file("m.csv");
  write_text(m,
             "id,image,text,tabular,label,value\r\n"
             "s1,pics/1.png,\"hello, world\",0.5 -1 2,3,1 2\r\n"
             "s2,\"{\"\"file\"\": \"\"d.idx\"\", \"\"index\"\": 2}\",,,dog,\n");
  ManifestData d = read_manifest(m, schema_with_targets(), false);
  ASSERT_EQ(d.samples.size(), 2u);
  EXPECT_EQ(std::get<ImageRef>(*d.samples[0].field(Modality::image)).path, dir.file("pics/1.png"));
  EXPECT_EQ(std::get<std::string>(*d.samples[0].field(Modality::text)), "hello, world");
  EXPECT_EQ(std::get<std::vector<float>>(*d.samples[0].field(Modality::tabular)),
            (std::vector<float>{0.5f, -1.f, 2.f}));
  EXPECT_EQ(std::get<std::string>(d.samples[0].targets.at("digit")), "3");
  EXPECT_EQ(std::get<std::vector<float>>(d.samples[0].targets.at("value")),
            (std::vector<float>{1.f, 2.f}));
  EXPECT_EQ(d.samples[1].id, "s2");
  EXPECT_EQ(d.samples[1].line, 3);
  EXPECT_EQ(std::get<ImageRef>(*d.samples[1].field(Modality::image)).path, dir.file("d.idx"));
  EXPECT_EQ(std::get<ImageRef>(*d.samples[1].field(Modality::image)).index, 2);
  EXPECT_FALSE(d.samples[1].has(Modality::text));
  EXPECT_FALSE(d.samples[1].has(Modality::tabular));
  EXPECT_EQ(d.samples[1].targets.count("value"), 0u);
}

struct BadCase {
  const char* name;
  const char* line;
  const char* expected;  // substring of the message, after "m.jsonl:2: "
};

class ManifestBadLine : public ::testing::TestWithParam<BadCase> {};

TEST_P(ManifestBadLine, NamesLineAndField) {
  TempDir dir;
  const std::string m = dir.file("m.jsonl");
  write_text(m, std::string("{\"id\": \"ok\", \"label\": 1, \"text\": \"fine\"}\n") +
                    GetParam().line + "\n");
  EXPECT_THAT(error_of(m, schema_with_targets()), HasSubstr(m + ":2: " + GetParam().expected));
  // skip_bad: the line is counted and listed, the good one kept.
  ManifestData d = read_manifest(m, schema_with_targets(), true);
  ASSERT_EQ(d.samples.size(), 1u);
  ASSERT_EQ(d.bad.size(), 1u);
  EXPECT_EQ(d.bad[0].line, 2);
  EXPECT_EQ(d.bad[0].manifest, m);
  EXPECT_THAT(d.bad[0].message(), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ManifestBadLine,
    ::testing::Values(
        BadCase{"malformed", "{\"id\": \"b\", \"label\": 1,", "malformed JSON"},
        BadCase{"not_object", "[1, 2]", "expected a JSON object per line, got array"},
        BadCase{"image_number", "{\"label\": 1, \"image\": 5}",
                "field 'image': expected a path string or {\"file\", \"index\"}, got number"},
        BadCase{"audio_noise", "{\"label\": 1, \"audio\": {\"file\": \"a.wav\", \"noise\": 3}}",
                "field 'audio': \"noise\": expected {\"file\", \"offset_s\", \"snr_db\"}"},
        BadCase{"negative_index", "{\"label\": 1, \"image\": {\"file\": \"a\", \"index\": -1}}",
                "field 'image': \"index\": expected a non-negative integer, got -1"},
        BadCase{"utf8", "{\"label\": 1, \"text\": \"ab\xFF\"}", "field 'text': invalid UTF-8"},
        BadCase{"text_type", "{\"label\": 1, \"text\": [1]}",
                "field 'text': expected a UTF-8 string or {\"file\": ...}, got array"},
        BadCase{"nan", "{\"label\": 1, \"tabular\": [1, NaN, 3]}",
                "field 'tabular': element 1: expected a finite number, got \"NaN\""},
        BadCase{"tabular_string", "{\"label\": 1, \"tabular\": [1, \"x\"]}",
                "field 'tabular': element 1: expected a finite number, got \"x\""},
        BadCase{"missing_target", "{\"id\": \"c\", \"text\": \"t\"}",
                "field 'label': missing target 'digit'"},
        BadCase{"class_float", "{\"label\": 2.5}",
                "field 'label': expected a class name (string) or an integer, got 2.5"},
        BadCase{"regression_inf", "{\"label\": 1, \"value\": [1, -Infinity]}",
                "field 'value': element 1: expected a finite number"},
        BadCase{"duplicate_id", "{\"id\": \"ok\", \"label\": 2}",
                "field 'id': duplicate id 'ok' (first at "}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Manifest, CsvTabularNanNamesElement) {
  TempDir dir;
  const std::string m = dir.file("t.csv");
  write_text(m, "id,tabular,label\na,1 2,0\nb,1 nan,1\nc,\"1,2\",1\n");
  ManifestData d = read_manifest(m, schema_with_targets(), true);
  ASSERT_EQ(d.samples.size(), 1u);
  ASSERT_EQ(d.bad.size(), 2u);
  EXPECT_THAT(d.bad[0].message(),
              HasSubstr("t.csv:3: field 'tabular': element 1: expected a finite"));
  EXPECT_THAT(d.bad[1].message(), HasSubstr("t.csv:4: field 'tabular': element 0"));
}

TEST(Manifest, IdsMustBeUniqueAcrossManifests) {
  TempDir dir;
  write_text(dir.file("a.jsonl"), "{\"id\": \"x\", \"label\": 1}\n");
  write_text(dir.file("b.jsonl"), "{\"id\": \"y\", \"label\": 1}\n{\"id\": \"x\", \"label\": 2}\n");
  try {
    read_manifests({dir.file("a.jsonl"), dir.file("b.jsonl")}, schema_with_targets(), false);
    FAIL() << "expected a duplicate id error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("b.jsonl:2: field 'id': duplicate id 'x' (first at " +
                                    dir.file("a.jsonl") + ":1)"));
  }
}

}  // namespace
}  // namespace mmfuse::data
