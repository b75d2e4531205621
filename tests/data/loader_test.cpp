// Loader: order and augmentation determinism across threads and runs, resume, targets, masks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "data/dataset_fixture.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/data/sampling.h"

namespace mmfuse::data {
namespace {

using namespace ::mmfuse::testing;
using ::testing::HasSubstr;

std::vector<Batch> epoch(Loader& loader) {
  std::vector<Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

std::vector<std::string> ids_of(const std::vector<Batch>& batches) {
  std::vector<std::string> ids;
  for (const auto& b : batches) ids.insert(ids.end(), b.ids.begin(), b.ids.end());
  return ids;
}

void expect_same(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].ids, b[i].ids);
    for (Modality m : {Modality::image, Modality::text}) {
      EXPECT_TRUE(torch::equal(a[i].at(m).data, b[i].at(m).data)) << "batch " << i;
      EXPECT_TRUE(torch::equal(a[i].at(m).present, b[i].at(m).present)) << "batch " << i;
    }
    EXPECT_TRUE(torch::equal(a[i].targets.at("digit"), b[i].targets.at("digit")));
  }
}

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ds_ = Dataset::create(DatasetSpec::load(write_dataset(dir_, 23, 5)), data_.options());
  }
  std::vector<Batch> run(LoaderOptions o, int64_t epoch_index = 0) {
    Loader loader(ds_, ds_->train_samples(), o);
    loader.seek({epoch_index, 0});
    return epoch(loader);
  }
  TempDir dir_;
  TestData data_;
  std::shared_ptr<Dataset> ds_;
};

TEST_F(LoaderTest, OrderDependsOnSeedAndEpochOnlyNotThreads) {
  LoaderOptions o;
  o.batch_size = 5;
  o.seed = 42;
  o.threads = 1;
  auto one = run(o);
  o.threads = 2;
  auto two = run(o);
  auto again = run(o);
  expect_same(one, two);
  expect_same(two, again);
  ASSERT_EQ(one.size(), 5u);  // 23 samples: 4 x 5 + 3
  EXPECT_EQ(one.back().size(), 3);
  auto ids = ids_of(one);
  std::set<std::string> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), 23u);  // every sample exactly once
  o.seed = 43;
  EXPECT_NE(ids_of(run(o)), ids);
  o.seed = 42;
  EXPECT_NE(ids_of(run(o, 1)), ids);  // the next epoch is shuffled differently
  o.shuffle = false;
  EXPECT_EQ(ids_of(run(o)).front(), "train0");
}

TEST_F(LoaderTest, AugmentationIsDeterministicAcrossThreadCounts) {
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 7;
  o.train = true;
  o.modality_dropout = 0.5;
  o.feature_noise[index_of(Modality::image)] = 0.1;
  o.threads = 0;
  auto serial = run(o);
  o.threads = 3;
  o.prefetch = 2;
  auto pooled = run(o);
  expect_same(serial, pooled);
  // Augmentation did something: training items differ from evaluation items.
  LoaderOptions eval = o;
  eval.train = false;
  auto plain = run(eval);
  ASSERT_EQ(plain.size(), serial.size());
  EXPECT_FALSE(
      torch::allclose(plain[0].at(Modality::image).data, serial[0].at(Modality::image).data));
  // Dropout at p = 0.5 removed some modalities but never all of a sample's.
  int64_t dropped = 0;
  for (std::size_t b = 0; b < serial.size(); ++b) {
    auto any = serial[b].at(Modality::image).present | serial[b].at(Modality::text).present;
    EXPECT_TRUE(any.all().item<bool>());
    dropped +=
        (plain[b].at(Modality::image).present.sum() - serial[b].at(Modality::image).present.sum())
            .item<int64_t>();
  }
  EXPECT_GT(dropped, 0);
}

// The prefetch queue counts the bytes of the batches it holds and stays within its byte budget
// (plus the one batch the consumer waits for), however many batches `prefetch` would allow.
TEST_F(LoaderTest, PrefetchQueueHoldsItsByteBudget) {
  LoaderOptions o;
  o.batch_size = 2;
  o.shuffle = false;
  o.drop_last = true;
  o.threads = 2;
  o.prefetch = 8;
  int64_t biggest = 0;
  for (const auto& b : run(o)) biggest = std::max(biggest, b.nbytes());
  ASSERT_GT(biggest, 0);
  for (int64_t budget : {int64_t{0}, 2 * biggest}) {
    o.prefetch_bytes = budget;
    Loader loader(ds_, ds_->train_samples(), o);
    int64_t batches = 0;
    while (auto b = loader.next()) {
      ++batches;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow consumer: queue fills
    }
    EXPECT_EQ(batches, 11);
    const auto q = loader.queue_stats();
    EXPECT_GT(q.peak_bytes, 0);
    EXPECT_LE(q.peak_batches, o.prefetch);
    if (budget > 0) EXPECT_LE(q.peak_bytes, budget + biggest) << "budget " << budget;
  }
}

TEST_F(LoaderTest, ResumeGivesTheIdenticalRemainingBatches) {
  LoaderOptions o;
  o.batch_size = 4;
  o.seed = 3;
  o.train = true;
  o.feature_noise[index_of(Modality::image)] = 0.05;
  Loader first(ds_, ds_->train_samples(), o);
  first.seek({2, 0});
  auto full = epoch(first);
  EXPECT_EQ(first.position(), (LoaderPosition{3, 0}));

  Loader killed(ds_, ds_->train_samples(), o);
  killed.seek({2, 0});
  ASSERT_TRUE(killed.next());
  ASSERT_TRUE(killed.next());
  LoaderPosition saved = LoaderPosition::from_json(killed.position().to_json());
  EXPECT_EQ(saved, (LoaderPosition{2, 2}));

  Loader resumed(ds_, ds_->train_samples(), o);
  resumed.seek(saved);
  auto rest = epoch(resumed);
  expect_same(rest, std::vector<Batch>(full.begin() + 2, full.end()));
}

TEST_F(LoaderTest, TargetsAndPresenceMasks) {
  LoaderOptions o;
  o.batch_size = 8;
  o.shuffle = false;
  auto batches = run(o);
  const Batch& b = batches[0];  // train0..train7
  EXPECT_TRUE(
      torch::equal(b.targets.at("digit"), torch::tensor({0, 1, 2, 0, 1, 2, 0, 1}, torch::kLong)));
  const auto value = b.targets.at("value");
  EXPECT_EQ(value.sizes(), (std::vector<int64_t>{8, 2}));
  EXPECT_FLOAT_EQ(value[2][0].item<float>(), 2.f);
  EXPECT_FLOAT_EQ(value[2][1].item<float>(), -2.f);
  EXPECT_TRUE(std::isnan(value[3][0].item<float>()));  // sample 3 has no value
  EXPECT_TRUE(std::isnan(value[7][1].item<float>()));
  const auto& text = b.at(Modality::text);
  EXPECT_FALSE(text.present[4].item<bool>());  // sample 4 has no text
  EXPECT_TRUE(text.present[5].item<bool>());
  EXPECT_FLOAT_EQ(text.data[4][0].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(text.data[0][0].item<float>(), 9.f);  // "w0 common"
  EXPECT_EQ(b.at(Modality::image).data.sizes(), (std::vector<int64_t>{8, 3}));
}

TEST_F(LoaderTest, BadSampleIsLeftOutAndListedOrThrows) {
  write_text(dir_.file("files/val3.txt"), "truncated");
  LoaderOptions o;
  o.batch_size = 2;
  o.shuffle = false;
  Loader loader(ds_, ds_->read_split(Split::val), o);
  auto batches = epoch(loader);
  EXPECT_EQ(ids_of(batches), (std::vector<std::string>{"val0", "val1", "val2", "val4"}));
  ASSERT_EQ(loader.bad().size(), 1u);
  EXPECT_THAT(loader.bad()[0].message(),
              HasSubstr("val.jsonl:4: field 'image': " + dir_.file("files/val3.txt") +
                        ": not a number: 'truncated'"));

  auto opts = data_.options();
  opts.skip_bad = false;
  auto strict = Dataset::create(DatasetSpec::load(dir_.file("spec.yaml")), opts);
  Loader strict_loader(strict, strict->read_split(Split::val), o);
  ASSERT_TRUE(strict_loader.next());  // val0, val1
  try {
    strict_loader.next();
    FAIL() << "strict mode must throw";
  } catch (const InputError& e) {
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(e.field(), "image");
  }
  EXPECT_EQ(strict_loader.position(), (LoaderPosition{0, 1}));  // stays at the failing batch
}

/// The ranks' slices of one global batch, concatenated in rank order (empty slices left out).
Batch concat(const std::vector<const Batch*>& parts) {
  Batch out;
  std::vector<const Batch*> nonempty;
  for (const Batch* p : parts) {
    out.ids.insert(out.ids.end(), p->ids.begin(), p->ids.end());
    if (p->size() > 0) nonempty.push_back(p);
  }
  auto cat = [&](auto get) {
    std::vector<torch::Tensor> ts;
    for (const Batch* p : nonempty) ts.push_back(get(*p));
    return torch::cat(ts);
  };
  for (Modality m : {Modality::image, Modality::text}) {
    ModalityBatch mb;
    mb.data = cat([&](const Batch& b) { return b.at(m).data; });
    mb.present = cat([&](const Batch& b) { return b.at(m).present; });
    out.inputs[index_of(m)] = mb;
  }
  for (const char* t : {"digit", "value"}) {
    out.targets[t] = cat([&](const Batch& b) { return b.targets.at(t); });
  }
  return out;
}

TEST_F(LoaderTest, ShardedGlobalBatchesConcatenateToTheSingleProcessBatches) {
  LoaderOptions o;
  o.batch_size = 3;  // per rank
  o.seed = 11;
  o.train = true;
  o.modality_dropout = 0.3;
  o.feature_noise[index_of(Modality::image)] = 0.1;
  for (int w : {2, 3}) {
    // 23 samples: W = 2 -> global batches of 6, 6, 6, 5 (3 + 2); W = 3 -> 9, 9, 5 (3 + 2 + 0).
    LoaderOptions single = o;
    single.batch_size = o.batch_size * w;
    for (LoaderPosition start :
         {LoaderPosition{0, 0}, LoaderPosition{1, 0}, LoaderPosition{2, 1}}) {
      Loader one(ds_, ds_->train_samples(), single);
      one.seek(start);
      auto expected = epoch(one);
      std::vector<std::vector<Batch>> ranks;
      for (int r = 0; r < w; ++r) {
        LoaderOptions mine = o;
        mine.shard_rank = r;
        mine.shard_count = w;
        mine.threads = r;  // 0, 1, 2 decode threads: no influence
        Loader loader(ds_, ds_->train_samples(), mine);
        EXPECT_EQ(loader.batches_per_epoch(), (23 + 3 * w - 1) / (3 * w));
        loader.seek(start);
        ranks.push_back(epoch(loader));
        EXPECT_EQ(loader.position(), (LoaderPosition{start.epoch + 1, 0}));
        ASSERT_EQ(ranks.back().size(), expected.size()) << "rank " << r << " of " << w;
      }
      std::vector<Batch> joined;
      for (std::size_t b = 0; b < expected.size(); ++b) {
        std::vector<const Batch*> parts;
        for (int r = 0; r < w; ++r) {
          parts.push_back(&ranks[static_cast<std::size_t>(r)][b]);
          EXPECT_LE(parts.back()->size(), 3);
        }
        joined.push_back(concat(parts));
      }
      // The value target has NaN where unknown: compare it with NaN as 0 and the NaN mask.
      for (auto* batches : {&expected, &joined}) {
        for (auto& b : *batches) {
          auto& v = b.targets.at("value");
          b.targets["value_nan"] = v.isnan();
          v = torch::nan_to_num(v, 0.0);
        }
      }
      expect_same(expected, joined);
      for (std::size_t b = 0; b < expected.size(); ++b) {
        EXPECT_TRUE(torch::equal(expected[b].targets.at("value"), joined[b].targets.at("value")));
        EXPECT_TRUE(
            torch::equal(expected[b].targets.at("value_nan"), joined[b].targets.at("value_nan")));
      }
    }
  }
  // W = 3, last global batch of 5: rank 2's slice is empty but it still gets the step.
  LoaderOptions last = o;
  last.shard_count = 3;
  last.shard_rank = 2;
  Loader loader(ds_, ds_->train_samples(), last);
  auto batches = epoch(loader);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].size(), 3);
  EXPECT_EQ(batches[2].size(), 0);
  EXPECT_FALSE(batches[2].has(Modality::image));
  // drop_last counts whole global batches only.
  last.drop_last = true;
  EXPECT_EQ(Loader(ds_, ds_->train_samples(), last).batches_per_epoch(), 2);
  last.shard_rank = 3;
  EXPECT_THROW(Loader(ds_, ds_->train_samples(), last), UsageError);
}

TEST_F(LoaderTest, ShardSplitsASampleSetIntoContiguousParts) {
  auto all = ds_->train_samples();
  std::vector<std::string> joined;
  std::vector<std::size_t> sizes;
  for (int r = 0; r < 3; ++r) {
    auto part = shard(all, r, 3);
    sizes.push_back(part->samples.size());
    for (const auto& s : part->samples) joined.push_back(s.id);
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{8, 8, 7}));
  std::vector<std::string> ids;
  for (const auto& s : all->samples) ids.push_back(s.id);
  EXPECT_EQ(joined, ids);
  EXPECT_EQ(shard(all, 0, 1), all);
  EXPECT_EQ(shard(all, 4, 5)->samples.size(), 4u);  // 23 = 5 + 5 + 5 + 4 + 4
  EXPECT_THROW(shard(all, 2, 2), UsageError);
}

TEST(Sampling, ShuffleIsAPermutationAndDropoutKeepsOne) {
  auto order = epoch_order(100, true, 1, 0);
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_NE(order, epoch_order(100, true, 1, 1));
  EXPECT_EQ(order, epoch_order(100, true, 1, 0));
  int kept_both = 0;
  for (int i = 0; i < 1000; ++i) {
    Rng rng = sample_rng(5, 0, i);
    auto keep = drop_modalities({true, false, true, false}, 0.9, rng);
    EXPECT_TRUE(keep[0] || keep[2]);
    EXPECT_FALSE(keep[1] || keep[3]);
    kept_both += keep[0] && keep[2];
  }
  EXPECT_LT(kept_both, 40);  // p(both kept) = 0.01
}

}  // namespace
}  // namespace mmfuse::data
