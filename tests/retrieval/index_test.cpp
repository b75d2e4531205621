// VectorIndex: save/load round trip for each index type, search finds the stored vectors, and
// missing, corrupt or inconsistent files give errors naming the file and the fix.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"
#include "mmfuse/retrieval/index.h"
#include "test_util.h"

namespace mmfuse::retrieval {
namespace {

using ::testing::HasSubstr;
using mmfuse::testing::TempDir;
using nlohmann::json;

torch::Tensor unit_rows(int64_t n, int64_t d, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::nn::functional::normalize(torch::randn({n, d}),
                                          torch::nn::functional::NormalizeFuncOptions().dim(1));
}

VectorIndex make_index(const torch::Tensor& x, IndexType type) {
  std::vector<json> meta;
  for (int64_t i = 0; i < x.size(0); ++i) meta.push_back({{"row", i}, {"id", "s" + std::to_string(i)}});
  IndexInfo info;
  info.run = "/runs/r";
  info.model_hash = "abc";
  info.modality = Modality::image;
  IndexOptions o;
  o.type = type;
  return VectorIndex(x, info, o, meta);
}

class IndexRoundTrip : public ::testing::TestWithParam<IndexType> {};

TEST_P(IndexRoundTrip, SavedIndexFindsEachStoredVectorFirst) {
  TempDir dir;
  const auto x = unit_rows(200, 16, 1);
  make_index(x, GetParam()).save(dir.file("idx"));
  const VectorIndex loaded = VectorIndex::load(dir.file("idx"));
  EXPECT_EQ(loaded.info().count, 200);
  EXPECT_EQ(loaded.info().dim, 16);
  EXPECT_EQ(loaded.info().type, GetParam());
  EXPECT_EQ(loaded.info().model_hash, "abc");
  for (int64_t i : {0, 57, 199}) {
    const auto hits = loaded.search(x[i], 5);
    ASSERT_EQ(hits.size(), 5u);
    EXPECT_EQ(hits[0].row, i);
    EXPECT_NEAR(hits[0].score, 1.0, 1e-5);  // inner product of a unit vector with itself
    EXPECT_GE(hits[0].score, hits[1].score);
    EXPECT_EQ(loaded.metadata(hits[0].row)["id"], "s" + std::to_string(i));
  }
}

INSTANTIATE_TEST_SUITE_P(Types, IndexRoundTrip,
                         ::testing::Values(IndexType::flat, IndexType::ivf, IndexType::hnsw),
                         [](const auto& info) { return to_string(info.param); });

TEST(VectorIndex, FlatSearchMatchesBruteForceOrder) {
  TempDir dir;
  const auto x = unit_rows(50, 8, 2);
  const auto q = unit_rows(1, 8, 3)[0];
  const auto hits = make_index(x, IndexType::flat).search(q, 50);
  const auto expected = torch::matmul(x, q).argsort(0, /*descending=*/true);
  ASSERT_EQ(hits.size(), 50u);
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(hits[i].row, expected[i].item<int64_t>());
}

TEST(VectorIndex, RebuildReplacesTheFolderAndLeavesNoTemporaries) {
  TempDir dir;
  make_index(unit_rows(20, 4, 1), IndexType::flat).save(dir.file("idx"));
  make_index(unit_rows(30, 4, 2), IndexType::flat).save(dir.file("idx"));
  EXPECT_EQ(VectorIndex::load(dir.file("idx")).info().count, 30);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) ++entries, (void)e;
  EXPECT_EQ(entries, 1);
}

TEST(VectorIndex, RefusesToOverwriteAFolderThatIsNotAnIndex) {
  TempDir dir;
  write_file_atomic(dir.file("notes/a.txt"), "keep me");
  EXPECT_THROW(make_index(unit_rows(5, 4, 1), IndexType::flat).save(dir.file("notes")), UsageError);
  EXPECT_EQ(read_file(dir.file("notes/a.txt")), "keep me");
}

std::string load_error(const std::string& dir) {
  try {
    VectorIndex::load(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(VectorIndex, CorruptIndexFileIsNamedWithTheFix) {
  TempDir dir;
  make_index(unit_rows(20, 4, 1), IndexType::flat).save(dir.file("idx"));
  std::string bytes = read_file(dir.file("idx/index.faiss"));
  bytes[bytes.size() / 2] ^= 0x5a;
  write_file_atomic(dir.file("idx/index.faiss"), bytes);
  const std::string msg = load_error(dir.file("idx"));
  EXPECT_THAT(msg, HasSubstr(dir.file("idx/index.faiss")));
  EXPECT_THAT(msg, HasSubstr("corrupt"));
  EXPECT_THAT(msg, HasSubstr("mmfuse index build"));
}

TEST(VectorIndex, TruncatedIndexFileWithMatchingHashIsRejectedByFaiss) {
  // Someone truncates the file and "fixes" the hash: FAISS itself must refuse it cleanly.
  TempDir dir;
  make_index(unit_rows(20, 4, 1), IndexType::flat).save(dir.file("idx"));
  std::string bytes = read_file(dir.file("idx/index.faiss"));
  bytes.resize(bytes.size() / 3);
  write_file_atomic(dir.file("idx/index.faiss"), bytes);
  json m = json::parse(read_file(dir.file("idx/manifest.json")));
  Hasher h;
  h.update(bytes);
  m["index_hash"] = h.hex();
  write_file_atomic(dir.file("idx/manifest.json"), m.dump());
  const std::string msg = load_error(dir.file("idx"));
  EXPECT_THAT(msg, HasSubstr("index.faiss: FAISS cannot read it"));
}

TEST(VectorIndex, MissingFilesAreNamed) {
  TempDir dir;
  EXPECT_THAT(load_error(dir.str()), HasSubstr(dir.file("manifest.json") + ": missing"));
  make_index(unit_rows(20, 4, 1), IndexType::flat).save(dir.file("idx"));
  std::filesystem::remove(dir.file("idx/metadata.jsonl"));
  EXPECT_THAT(load_error(dir.file("idx")), HasSubstr("metadata.jsonl: missing"));
}

TEST(VectorIndex, ManifestThatDisagreesWithTheIndexIsRejected) {
  TempDir dir;
  make_index(unit_rows(20, 4, 1), IndexType::flat).save(dir.file("idx"));
  json m = json::parse(read_file(dir.file("idx/manifest.json")));
  m["dim"] = 8;
  write_file_atomic(dir.file("idx/manifest.json"), m.dump());
  EXPECT_THAT(load_error(dir.file("idx")),
              HasSubstr("holds 20 vectors of 4 dimensions, manifest.json says 20 of 8"));
  write_file_atomic(dir.file("idx/manifest.json"), "{not json");
  EXPECT_THAT(load_error(dir.file("idx")), HasSubstr("manifest.json: corrupt"));
}

TEST(VectorIndex, IvfNeedsAsManyVectorsAsLists) {
  IndexOptions o;
  o.type = IndexType::ivf;
  o.nlist = 10;
  std::vector<json> meta(5, json::object());
  EXPECT_THROW(VectorIndex(unit_rows(5, 4, 1), IndexInfo{}, o, meta), UsageError);
  EXPECT_THROW(index_type_from_string("lsh"), UsageError);
}

}  // namespace
}  // namespace mmfuse::retrieval
