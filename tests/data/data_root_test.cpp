// `data_root` confinement: manifest paths resolve against the manifest's folder, and with a
// data_root every file a line names must lie inside it (`..` escapes and symlinks out refused).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "data/fake_pipelines.h"
#include "mmfuse/data/dataset_spec.h"
#include "mmfuse/data/manifest.h"
#include "test_util.h"

namespace mmfuse::data {
namespace {

using ::mmfuse::testing::TempDir;
using ::mmfuse::testing::write_text;
using ::testing::HasSubstr;

TEST(DataRoot, PathsResolveAgainstTheManifestAndEscapesAreErrorsNamingTheLine) {
  TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directories(dir.file("root/sub"));
  fs::create_directories(dir.file("outside"));
  write_text(dir.file("outside/secret.png"), "x");
  fs::create_symlink(dir.file("outside"), dir.file("root/sub/link"));
  const std::string m = dir.file("root/sub/m.jsonl");
  write_text(m,
             "{\"id\": \"in\", \"image\": \"img/a.png\"}\n"                     // line 1
             "{\"id\": \"up\", \"image\": \"../../../../../../etc/passwd\"}\n"  // line 2
             "{\"id\": \"ln\", \"image\": \"link/secret.png\"}\n"               // line 3
             "{\"id\": \"abs\", \"audio\": {\"file\": \"/etc/passwd\"}}\n"      // line 4
             "{\"id\": \"nz\", \"audio\": {\"file\": \"a.wav\", \"noise\": "    // line 5
             "{\"file\": \"../../outside/n.wav\", \"snr_db\": 3}}}\n"
             "{\"id\": \"txt\", \"text\": {\"file\": \"../../outside/t.txt\"}}\n"  // line 6
             "{\"id\": \"inl\", \"text\": \"../../not/a/path\"}\n");               // line 7
  ManifestSchema schema = ManifestSchema::all_modalities();
  ManifestData open = read_manifest(m, schema, /*skip_bad=*/true);
  // Without a root, relative paths resolve against the manifest's folder.
  ASSERT_GE(open.samples.size(), 1u);
  EXPECT_EQ(std::get<ImageRef>(*open.samples[0].fields[index_of(Modality::image)]).path,
            dir.file("root/sub/img/a.png"));

  schema.data_root = dir.file("root");
  ManifestData data = read_manifest(m, schema, /*skip_bad=*/true);
  std::vector<std::string> ids;
  for (const auto& s : data.samples) ids.push_back(s.id);
  EXPECT_THAT(ids, ::testing::ElementsAre("in", "inl"));
  ASSERT_EQ(data.bad.size(), 5u);
  const std::vector<int64_t> lines = {2, 3, 4, 5, 6};
  const std::vector<std::string> fields = {"image", "image", "audio", "audio", "text"};
  for (std::size_t i = 0; i < data.bad.size(); ++i) {
    EXPECT_EQ(data.bad[i].line, lines[i]);
    EXPECT_EQ(data.bad[i].field, fields[i]);
    EXPECT_THAT(data.bad[i].message(), HasSubstr("outside the dataset's data_root"));
  }
  EXPECT_THAT(data.bad[0].message(), HasSubstr("resolves to /etc/passwd"));
  EXPECT_THAT(data.bad[1].message(), HasSubstr(dir.file("outside/secret.png")));
  try {
    read_manifest(m, schema, /*skip_bad=*/false);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("m.jsonl:2: field 'image'"));
  }
}

TEST(DataRoot, DatasetSpecResolvesDataRootAgainstItsFolder) {
  DatasetSpec spec = DatasetSpec::parse(
      "splits: {train: [t.jsonl]}\nmodalities: {image: {}}\ndata_root: ../data\n", "spec.yaml",
      "/cfg/specs");
  EXPECT_EQ(spec.data_root, "/cfg/data");
  EXPECT_EQ(spec.schema().data_root, "/cfg/data");
  EXPECT_EQ(DatasetSpec::parse("splits: {train: [t.jsonl]}\nmodalities: {image: {}}\n", "spec.yaml",
                               "/cfg")
                .data_root,
            "");
}

}  // namespace
}  // namespace mmfuse::data
