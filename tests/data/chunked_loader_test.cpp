// ManifestReader and ChunkedLoader: a manifest read a chunk at a time gives the same samples,
// errors and batches as reading it whole, holding one chunk.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/dataset_fixture.h"
#include "mmfuse/core/allocator.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/chunked_loader.h"
#include "mmfuse/data/manifest.h"

namespace mmfuse::data {
namespace {

using namespace ::mmfuse::testing;
using ::testing::HasSubstr;

std::vector<std::pair<std::string, int64_t>> ids_lines(const std::vector<Sample>& samples) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (const auto& s : samples) out.emplace_back(s.id, s.line);
  return out;
}

TEST(ManifestReader, ChunksConcatenateToTheWholeReadAcrossFiles) {
  TempDir dir;
  write_text(dir.file("a.jsonl"),
             "{\"id\": \"a0\", \"text\": \"x\", \"label\": 1}\r\n"
             "\n"
             "{\"id\": \"a1\", \"text\": \"y\"}\n"
             "not json\n"
             "{\"id\": \"a2\", \"text\": \"\\u4e2d\\u6587\", \"label\": 2}");  // no final newline
  write_text(dir.file("b.csv"), "id,text,label\nb0,hello,3\n\nb1,\"a, b\",4\n");
  const std::vector<std::string> paths = {dir.file("a.jsonl"), dir.file("b.csv")};
  const ManifestSchema schema = ManifestSchema::all_modalities();
  const ManifestData whole = read_manifests(paths, schema, /*skip_bad=*/true);
  ASSERT_EQ(whole.samples.size(), 5u);
  ASSERT_EQ(whole.bad.size(), 1u);

  for (std::size_t max : {1u, 2u, 3u, 100u}) {
    ManifestReader reader(paths, schema, /*skip_bad=*/true);
    std::vector<Sample> samples;
    std::vector<BadSample> bad;
    ManifestData chunk;
    int calls = 0;
    while (reader.read(chunk, max)) {
      EXPECT_LE(chunk.samples.size(), max);
      samples.insert(samples.end(), chunk.samples.begin(), chunk.samples.end());
      bad.insert(bad.end(), chunk.bad.begin(), chunk.bad.end());
      chunk = {};
      ASSERT_LT(++calls, 20);
    }
    EXPECT_EQ(ids_lines(samples), ids_lines(whole.samples)) << "max " << max;
    ASSERT_EQ(bad.size(), 1u);
    EXPECT_EQ(bad[0].line, 4);
    EXPECT_EQ(std::get<std::string>(*samples[2].field(Modality::text)), "\xE4\xB8\xAD\xE6\x96\x87");
    EXPECT_EQ(samples[4].manifest, dir.file("b.csv"));
    EXPECT_EQ(samples[4].line, 4);
    EXPECT_FALSE(reader.read(chunk, max));  // stays exhausted
  }
}

TEST(ManifestReader, DuplicateIdsAcrossChunksAndMissingFilesAreNamed) {
  TempDir dir;
  write_text(dir.file("m.jsonl"),
             "{\"id\": \"x\", \"text\": \"a\"}\n{\"id\": \"y\", \"text\": \"b\"}\n"
             "{\"id\": \"z\", \"text\": \"c\"}\n{\"id\": \"x\", \"text\": \"d\"}\n");
  ManifestReader reader({dir.file("m.jsonl")}, ManifestSchema::all_modalities(), false);
  ManifestData chunk;
  ASSERT_TRUE(reader.read(chunk, 2));
  chunk = {};
  try {
    reader.read(chunk, 2);
    FAIL() << "no error for the duplicate id";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("m.jsonl:4"));
    EXPECT_THAT(e.what(), HasSubstr("duplicate id 'x' (first at " + dir.file("m.jsonl") + ":1)"));
  }
  ManifestReader missing({dir.file("none.jsonl")}, ManifestSchema::all_modalities(), false);
  try {
    missing.read(chunk, 2);
    FAIL() << "no error for a missing manifest";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("none.jsonl"));
    EXPECT_THAT(e.what(), HasSubstr("cannot open file"));
  }
}

class ChunkedLoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ds_ = Dataset::create(DatasetSpec::load(write_dataset(dir_, 23, 5)), data_.options());
    lo_.batch_size = 3;
    lo_.shuffle = false;
    lo_.threads = 2;
  }
  TempDir dir_;
  TestData data_;
  std::shared_ptr<Dataset> ds_;
  LoaderOptions lo_;
};

TEST_F(ChunkedLoaderTest, SameBatchesAsALoaderOverTheWholeFileHoldingOneChunk) {
  const std::string manifest = dir_.file("train.jsonl");
  Loader whole(ds_, ds_->read_manifest_file(manifest), lo_);
  std::vector<Batch> expected;
  while (auto b = whole.next()) expected.push_back(std::move(*b));
  ASSERT_EQ(expected.size(), 8u);  // ceil(23 / 3)

  const int64_t releases = release_free_memory_calls();
  ChunkedLoader chunked(ds_, manifest, lo_, false, /*chunk_samples=*/7);  // -> 9, whole batches
  std::size_t i = 0;
  while (auto b = chunked.next()) {
    ASSERT_LT(i, expected.size());
    EXPECT_EQ(b->ids, expected[i].ids) << "batch " << i;
    for (Modality m : {Modality::image, Modality::text}) {
      EXPECT_TRUE(torch::equal(b->at(m).data, expected[i].at(m).data)) << "batch " << i;
      EXPECT_TRUE(torch::equal(b->at(m).present, expected[i].at(m).present)) << "batch " << i;
    }
    EXPECT_TRUE(torch::equal(b->targets.at("digit"), expected[i].targets.at("digit")));
    ++i;
  }
  EXPECT_EQ(i, expected.size());
  EXPECT_EQ(chunked.samples_read(), 23);
  EXPECT_EQ(chunked.peak_chunk_samples(), 9);
  EXPECT_TRUE(chunked.bad().empty());
  EXPECT_FALSE(chunked.next().has_value());
  // free pages returned after each of the 3 chunks (9, 9, 5): the reader holds one chunk's memory
  EXPECT_EQ(release_free_memory_calls(), releases + 3);
}

TEST_F(ChunkedLoaderTest, BadLinesThrowWhereMetOrAreListed) {
  std::string lines = read_file(dir_.file("val.jsonl"));
  lines += "{\"id\": \"late\", \"label\": 99}\n{\"id\": \"broken\"\n";
  write_text(dir_.file("bad.jsonl"), lines);
  ChunkedLoader strict(ds_, dir_.file("bad.jsonl"), lo_, false, 3);
  try {
    while (strict.next()) {
    }
    FAIL() << "no error for the unseen label";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.jsonl:6"));
    EXPECT_THAT(e.what(), HasSubstr("label '99'"));
  }
  ChunkedLoader lenient(ds_, dir_.file("bad.jsonl"), lo_, /*skip_bad=*/true, 3);
  int64_t n = 0;
  while (auto b = lenient.next()) n += b->size();
  EXPECT_EQ(n, 5);
  const auto bad = lenient.bad();
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].line, 6);
  EXPECT_EQ(bad[0].id, "late");
  EXPECT_EQ(bad[1].line, 7);
}

TEST_F(ChunkedLoaderTest, RefusesShufflingTrainingAndShards) {
  LoaderOptions o = lo_;
  o.shuffle = true;
  EXPECT_THROW(ChunkedLoader(ds_, dir_.file("val.jsonl"), o), Error);
  o = lo_;
  o.train = true;
  EXPECT_THROW(ChunkedLoader(ds_, dir_.file("val.jsonl"), o), Error);
  o = lo_;
  o.shard_count = 2;
  EXPECT_THROW(ChunkedLoader(ds_, dir_.file("val.jsonl"), o), Error);
}

}  // namespace
}  // namespace mmfuse::data
