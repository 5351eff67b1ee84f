// Loader: coverage, determinism, sharding across ranks, drop_last, prefetch, errors.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "pretext/core/error.h"
#include "pretext/data/loader.h"
#include "test_files.h"

namespace pretext {
namespace {

using testing_files::as_vector;

// Sample i has pixel value i % 256 and label i % 4.
DatasetPtr numbered(int64_t count) {
  torch::Tensor images = torch::arange(count, torch::kInt64).remainder(256).to(torch::kUInt8).reshape({count, 1, 1, 1});
  return std::make_shared<ImageDataset>(images, torch::arange(count, torch::kInt64).remainder(4),
                                        std::vector<std::string>{"a", "b", "c", "d"}, "numbered");
}

// Every batch's sample indices, in order, for one epoch.
std::vector<std::vector<int64_t>> epoch_indices(Loader& loader, int64_t epoch, int64_t skip = 0) {
  loader.start_epoch(epoch, skip);
  std::vector<std::vector<int64_t>> batches;
  while (auto batch = loader.next()) {
    // The batch's contents match the indices it claims.
    EXPECT_EQ(as_vector(batch->input.reshape({-1})), as_vector(batch->index.remainder(256)));
    EXPECT_EQ(as_vector(batch->label), as_vector(batch->index.remainder(4)));
    batches.push_back(as_vector(batch->index));
  }
  EXPECT_FALSE(loader.next().has_value());  // stays at the end
  return batches;
}

LoaderOptions options(int64_t batch_size, int64_t prefetch = 2) {
  LoaderOptions out;
  out.batch_size = batch_size;
  out.prefetch = prefetch;
  out.seed = 7;
  return out;
}

TEST(DataLoader, EachEpochCoversEverySampleOnce) {
  Loader loader(numbered(40), options(8));
  EXPECT_EQ(loader.batches_per_epoch(), 5);
  EXPECT_EQ(loader.samples_per_epoch(), 40);
  auto batches = epoch_indices(loader, 0);
  ASSERT_EQ(batches.size(), 5u);
  std::multiset<int64_t> seen;
  for (const auto& batch : batches) {
    EXPECT_EQ(batch.size(), 8u);
    seen.insert(batch.begin(), batch.end());
  }
  std::multiset<int64_t> all;
  for (int64_t i = 0; i < 40; ++i) all.insert(i);
  EXPECT_EQ(seen, all);
}

TEST(DataLoader, SeedAndEpochFixTheOrder) {
  Loader first(numbered(64), options(16));
  Loader second(numbered(64), options(16));
  auto epoch0 = epoch_indices(first, 0);
  EXPECT_EQ(epoch0, epoch_indices(second, 0));
  EXPECT_NE(epoch0, epoch_indices(first, 1));
  EXPECT_EQ(epoch0, epoch_indices(first, 0));  // back to epoch 0: the same order again

  LoaderOptions other_seed = options(16);
  other_seed.seed = 8;
  Loader third(numbered(64), other_seed);
  EXPECT_NE(epoch0, epoch_indices(third, 0));

  LoaderOptions in_order = options(16);
  in_order.shuffle = false;
  Loader sequential(numbered(64), in_order);
  EXPECT_EQ(epoch_indices(sequential, 3).front(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
}

TEST(DataLoader, RanksGetDisjointEqualShares) {
  const int64_t world = 3;
  std::set<int64_t> seen;
  int64_t total = 0;
  for (int64_t rank = 0; rank < world; ++rank) {
    LoaderOptions sharded = options(4);
    sharded.rank = rank;
    sharded.world_size = world;
    sharded.drop_last = false;
    Loader loader(numbered(50), sharded);
    EXPECT_EQ(loader.samples_per_epoch(), 16);  // 50 / 3, truncated so every rank has the same count
    int64_t count = 0;
    for (const auto& batch : epoch_indices(loader, 2)) {
      for (int64_t index : batch) {
        EXPECT_TRUE(seen.insert(index).second) << "sample " << index << " on two ranks";
        ++count;
      }
    }
    EXPECT_EQ(count, 16);
    total += count;
  }
  EXPECT_EQ(total, 48);
}

TEST(DataLoader, DropLastDropsOnlyTheShortBatch) {
  LoaderOptions keep = options(8);
  keep.drop_last = false;
  Loader keeping(numbered(21), keep);
  EXPECT_EQ(keeping.batches_per_epoch(), 3);
  auto kept = epoch_indices(keeping, 0);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept.back().size(), 5u);

  Loader dropping(numbered(21), options(8));
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
  auto dropped = epoch_indices(dropping, 0);
  ASSERT_EQ(dropped.size(), 2u);
  EXPECT_EQ(dropped[0], kept[0]);  // same order, just shorter
  // A full batch is the configured size (the LR scales with it), not samples / batches (10).
  EXPECT_EQ(dropping.batch_size(), 8);
  EXPECT_EQ(keeping.batch_size(), 8);
  LoaderOptions whole = options(64);
  whole.drop_last = false;
  EXPECT_EQ(Loader(numbered(21), whole).batch_size(), 21);

  EXPECT_THROW(Loader(numbered(5), options(8)), ConfigError);  // not one full batch
  LoaderOptions bad = options(0);
  EXPECT_THROW(Loader(numbered(5), bad), ConfigError);
  LoaderOptions bad_rank = options(1);
  bad_rank.rank = 2;
  bad_rank.world_size = 2;
  EXPECT_THROW(Loader(numbered(5), bad_rank), ConfigError);
}

TEST(DataLoader, PrefetchAndSynchronousAgreeAndSkipResumes) {
  Loader background(numbered(100), options(10, 3));
  Loader synchronous(numbered(100), options(10, 0));
  auto prefetched = epoch_indices(background, 4);
  EXPECT_EQ(prefetched, epoch_indices(synchronous, 4));

  auto resumed = epoch_indices(background, 4, 7);
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_EQ(resumed.front(), prefetched[7]);
  EXPECT_EQ(epoch_indices(synchronous, 4, 7), resumed);
}

TEST(DataLoader, StoppingMidEpochDoesNotHang) {
  auto loader = std::make_unique<Loader>(numbered(200), options(2, 1));
  loader->start_epoch(0);
  ASSERT_TRUE(loader->next().has_value());
  loader->start_epoch(1);  // the worker is blocked on a full queue: must still stop
  ASSERT_TRUE(loader->next().has_value());
  loader.reset();  // and the destructor too
  SUCCEED();
}

// Fails on the third get() call.
class FailingDataset : public Dataset {
 public:
  int64_t size() const override { return 32; }
  Batch get(const torch::Tensor& indices) const override {
    if (++calls_ == 3) throw InputError("sample file vanished: /data/x.png");
    Batch batch;
    batch.input = torch::zeros({indices.size(0), 1, 1, 1}, torch::kUInt8);
    batch.label = torch::zeros({indices.size(0)}, torch::kInt64);
    batch.index = indices;
    return batch;
  }
  torch::Tensor labels() const override { return torch::zeros({32}, torch::kInt64); }
  int64_t num_classes() const override { return 1; }
  std::vector<int64_t> sample_shape() const override { return {1, 1, 1}; }
  std::string source() const override { return "failing"; }

 private:
  mutable std::atomic<int> calls_{0};
};

TEST(DataLoader, ReaderErrorsReachTheCaller) {
  for (int64_t prefetch : {0, 2}) {
    Loader loader(std::make_shared<FailingDataset>(), options(4, prefetch));
    loader.start_epoch(0);
    EXPECT_TRUE(loader.next().has_value()) << "prefetch " << prefetch;
    EXPECT_TRUE(loader.next().has_value()) << "prefetch " << prefetch;
    try {
      loader.next();
      FAIL() << "no throw with prefetch " << prefetch;
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find("/data/x.png"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace pretext
