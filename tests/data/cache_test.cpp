// Feature cache: hits instead of extract() calls, corrupt entries recomputed, keys follow file
// contents and settings, float16 storage error, the RAM budget.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "data/dataset_fixture.h"
#include "mmfuse/data/feature_cache.h"
#include "mmfuse/data/loader.h"

namespace mmfuse::data {
namespace {

using namespace ::mmfuse::testing;

NumbersFilePipeline numbers(double scale, std::shared_ptr<CallCounter> calls) {
  return NumbersFilePipeline(
      Modality::image, ConfigNode::parse("{dim: 3, scale: " + std::to_string(scale) + "}"), calls);
}

TEST(FeatureCache, SecondPassDoesNotExtractAgain) {
  TempDir dir;
  TestData t;
  auto ds = Dataset::create(DatasetSpec::load(write_dataset(dir, 10, 0)), t.options());
  EXPECT_EQ(t.calls->extract, 10);  // fitting extracted each training image once
  LoaderOptions o;
  o.batch_size = 3;
  for (int64_t e = 0; e < 2; ++e) {
    Loader loader(ds, ds->train_samples(), o);
    loader.seek({e, 0});
    while (loader.next()) {
    }
  }
  EXPECT_EQ(t.calls->extract, 10);                   // two epochs from RAM
  EXPECT_EQ(ds->cache().stats().ram_hits, 20 + 10);  // fit's mean pass + two epochs

  // A new process (fresh dataset object, same cache folder) reads the disk, not the files.
  TestData t2;
  auto again = Dataset::create(DatasetSpec::load(dir.file("spec.yaml")), t2.options());
  EXPECT_EQ(t2.calls->extract, 0);
  EXPECT_EQ(again->cache().stats().disk_hits, 10);
  EXPECT_EQ(again->state(), ds->state());
}

TEST(FeatureCache, CorruptOrTruncatedEntryIsRecomputed) {
  TempDir dir;
  auto calls = std::make_shared<CallCounter>();
  auto p = numbers(1.0, calls);
  write_text(dir.file("x.txt"), "0.25 0.5 0.75");
  Field f = ImageRef{dir.file("x.txt"), -1};
  const std::string key = FeatureCache::key(p, f);
  auto compute = [&] { return p.extract(f); };
  {
    FeatureCache cache({dir.file("cache"), 0, CacheDtype::float32});
    auto x = cache.get_or_compute(key, compute);
    EXPECT_TRUE(torch::equal(x, torch::tensor({0.25f, 0.5f, 0.75f})));
    ASSERT_TRUE(std::filesystem::exists(cache.entry_path(key)));
  }
  std::string entry = FeatureCache({dir.file("cache"), 0, CacheDtype::float32}).entry_path(key);
  std::string bytes = read_file(entry);
  for (const std::string& broken :
       {bytes.substr(0, bytes.size() - 2), std::string("garbage"),
        bytes.substr(0, bytes.size() - 1) + char(bytes.back() ^ 0x40)}) {
    write_text(entry, broken);
    FeatureCache cache({dir.file("cache"), 0, CacheDtype::float32});
    const int before = calls->extract;
    auto x = cache.get_or_compute(key, compute);
    EXPECT_EQ(calls->extract, before + 1);
    EXPECT_EQ(cache.stats().corrupt, 1);
    EXPECT_TRUE(torch::equal(x, torch::tensor({0.25f, 0.5f, 0.75f})));
    EXPECT_EQ(read_file(entry), bytes);  // rewritten
  }
  FeatureCache cache({dir.file("cache"), 0, CacheDtype::float32});
  (void)cache.get_or_compute(key, compute);
  EXPECT_EQ(cache.stats().disk_hits, 1);
}

TEST(FeatureCache, KeyFollowsFileContentSettingsAndNoise) {
  TempDir dir;
  auto calls = std::make_shared<CallCounter>();
  write_text(dir.file("x.txt"), "1 2 3");
  Field f = ImageRef{dir.file("x.txt"), -1};
  const std::string k1 = FeatureCache::key(numbers(1.0, calls), f);
  EXPECT_EQ(FeatureCache::key(numbers(1.0, calls), f), k1);
  EXPECT_NE(FeatureCache::key(numbers(2.0, calls), f), k1);  // settings
  EXPECT_NE(FeatureCache::key(numbers(1.0, calls), ImageRef{dir.file("x.txt"), 0}), k1);
  write_text(dir.file("x.txt"), "1 2 3.5");
  EXPECT_NE(FeatureCache::key(numbers(1.0, calls), f), k1);  // file content

  NumbersFilePipeline audio(Modality::audio, ConfigNode::parse("{}"), calls);
  write_text(dir.file("n.txt"), "0 0 0");
  AudioRef a{dir.file("x.txt"), NoiseSpec{dir.file("n.txt"), 0.5, -3.0}};
  const std::string ka = FeatureCache::key(audio, a);
  a.noise->snr_db = 0.0;
  EXPECT_NE(FeatureCache::key(audio, a), ka);  // noise spec
  a.noise->snr_db = -3.0;
  write_text(dir.file("n.txt"), "0 0 0 1");
  EXPECT_NE(FeatureCache::key(audio, a), ka);  // noise file content
  std::filesystem::remove(dir.file("n.txt"));
  EXPECT_THROW(FeatureCache::key(audio, a), InputError);
}

TEST(FeatureCache, Float16StorageErrorOnUnitValuesIsBelowQuarterMilli) {
  TempDir dir;
  torch::manual_seed(0);
  auto x = torch::rand({112, 112});
  FeatureCache half({dir.file("c16"), 0, CacheDtype::float16});
  FeatureCache full({dir.file("c32"), 0, CacheDtype::float32});
  auto first = half.get_or_compute("k1", [&] { return x; });
  auto stored = FeatureCache({dir.file("c16"), 0, CacheDtype::float16}).get_or_compute("k1", [] {
    return torch::Tensor();
  });
  EXPECT_EQ(stored.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(first, stored));  // a fresh and a cached read agree exactly
  const double err = (stored - x).abs().max().item<double>();
  EXPECT_GT(err, 0.0);
  EXPECT_LT(err, 2.5e-4);  // half of fp16's 2^-11 spacing on [0.5, 1)
  (void)full.get_or_compute("k1", [&] { return x; });
  auto exact = FeatureCache({dir.file("c32"), 0, CacheDtype::float32}).get_or_compute("k1", [] {
    return torch::Tensor();
  });
  EXPECT_TRUE(torch::equal(exact, x));
  // In RAM too a float16 entry takes 2 bytes per value and comes back as float32.
  FeatureCache ram16({"", /*ram_bytes=*/1 << 20, CacheDtype::float16});
  auto a = ram16.get_or_compute("k", [&] { return x; });
  auto b = ram16.get_or_compute("k", [] { return torch::Tensor(); });
  // 25,088 bytes of storage (already 64-byte aligned), the key and the per-entry overhead.
  EXPECT_EQ(ram16.stats().ram_bytes, 112 * 112 * 2 +
                                         static_cast<int64_t>(std::string("k").capacity()) +
                                         FeatureCache::kRamEntryOverhead);
  EXPECT_EQ(ram16.stats().ram_hits, 1);
  EXPECT_EQ(b.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_LT(std::filesystem::file_size(half.entry_path("k1")),
            std::filesystem::file_size(full.entry_path("k1")) / 2 + 64);
}

TEST(FeatureCache, RamBudgetServesRepeatsWithoutDisk) {
  TempDir dir;
  // Room for three entries of 10 floats, as entry_bytes() counts them (64-byte aligned storage,
  // the key and the per-entry overhead), not for four.
  const int64_t per_entry = FeatureCache::entry_bytes("key0", torch::zeros({10}));
  EXPECT_EQ(per_entry, 64 + static_cast<int64_t>(std::string("key0").capacity()) +
                           FeatureCache::kRamEntryOverhead);
  FeatureCache cache({dir.file("c"), /*ram_bytes=*/3 * per_entry + 10, CacheDtype::float32});
  int computed = 0;
  auto get = [&](int k) {
    return cache.get_or_compute("key" + std::to_string(k), [&] {
      ++computed;
      return torch::full({10}, static_cast<float>(k));
    });
  };
  for (int k = 0; k < 12; ++k) (void)get(k);
  EXPECT_EQ(cache.stats().ram_entries, 3);  // the last three: 9, 10, 11
  EXPECT_EQ(cache.stats().ram_bytes, 3 * per_entry);
  EXPECT_EQ(cache.stats().ram_evictions, 9);
  for (int k : {11, 10, 9}) EXPECT_EQ(get(k)[0].item<float>(), static_cast<float>(k));
  EXPECT_EQ(cache.stats().ram_hits, 3);
  // Least recently used goes first: touching 11 again, then reading 0 from disk, evicts 10.
  (void)get(11);
  (void)get(0);
  EXPECT_EQ(cache.stats().disk_hits, 1);
  (void)get(11);
  (void)get(9);
  EXPECT_EQ(cache.stats().ram_hits, 3 + 3);
  (void)get(10);
  EXPECT_EQ(cache.stats().disk_hits, 2);
  EXPECT_EQ(computed, 12);
}

// A budget of B bytes holds: filling the cache far past it keeps the bytes it holds (storage
// bytes as allocated, key and overhead) at or under B after every insertion, and evicts.
TEST(FeatureCache, FilledPastItsBudgetHoldsAtMostTheBudget) {
  const int64_t budget = 1 << 20;  // 1 MiB
  FeatureCache cache({"", budget, CacheDtype::float16});
  for (int k = 0; k < 200; ++k) {  // 200 x 16 KiB of float16 = 3.1 MiB offered
    auto t = cache.get_or_compute("k" + std::to_string(k), [] { return torch::rand({64, 128}); });
    ASSERT_TRUE(t.defined());
    ASSERT_LE(cache.stats().ram_bytes, budget) << "after entry " << k;
  }
  const auto s = cache.stats();
  EXPECT_GT(s.ram_evictions, 100);
  // 64 x 128 float16 = 16,384 bytes of storage plus key and overhead per entry.
  const int64_t per_entry =
      FeatureCache::entry_bytes("k100", torch::zeros({64, 128}, torch::kHalf));
  EXPECT_EQ(s.ram_entries, budget / per_entry);
  EXPECT_EQ(s.ram_bytes, s.ram_entries * per_entry);

  // A view never pins its base: the cache keeps a compact copy and counts that.
  FeatureCache small({"", 64 * 1024, CacheDtype::float32});
  auto base = torch::rand({1000, 100});  // 400 KB, above the budget
  c10::weak_intrusive_ptr<c10::StorageImpl> base_storage(base.storage().getWeakStorageImpl());
  auto row = small.get_or_compute("row", [&] { return base[3]; });
  base = torch::Tensor();
  row = torch::Tensor();
  EXPECT_TRUE(base_storage.expired());  // the 400 KB block is gone although row 3 is cached
  EXPECT_EQ(small.stats().ram_entries, 1);
  EXPECT_EQ(small.stats().ram_bytes, FeatureCache::entry_bytes("row", torch::zeros({100})));
  EXPECT_TRUE(torch::equal(small.get_or_compute("row", [] { return torch::Tensor(); }),
                           small.get_or_compute("row", [] { return torch::Tensor(); })));
}

}  // namespace
}  // namespace mmfuse::data
