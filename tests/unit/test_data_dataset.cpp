// ImageDataset's checks, the subset and unlabeled views, Batch::to.
#include <gtest/gtest.h>

#include "pretext/core/error.h"
#include "pretext/data/batch.h"
#include "pretext/data/dataset.h"

namespace pretext {
namespace {

std::vector<int64_t> as_vector(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.to(torch::kInt64).contiguous().reshape({-1});
  return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

std::shared_ptr<ImageDataset> tiny(int64_t count = 6) {
  torch::Tensor images = torch::arange(count, torch::kUInt8).reshape({count, 1, 1, 1}).expand({count, 2, 2, 3}).contiguous();
  torch::Tensor labels = torch::arange(count, torch::kInt64).remainder(3);
  return std::make_shared<ImageDataset>(images, labels, std::vector<std::string>{"a", "b", "c"}, "tiny");
}

TEST(DataImageDataset, GetReturnsTheRequestedSamples) {
  auto dataset = tiny();
  EXPECT_EQ(dataset->sample_shape(), (std::vector<int64_t>{2, 2, 3}));
  Batch batch = dataset->get(torch::tensor({4, 1}, torch::kInt64));
  EXPECT_EQ(batch.size(), 2);
  EXPECT_EQ(batch.input.sizes(), torch::IntArrayRef({2, 2, 2, 3}));
  EXPECT_EQ(as_vector(batch.input.select(3, 0).select(2, 0).select(1, 0)), (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(as_vector(batch.label), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(as_vector(batch.index), (std::vector<int64_t>{4, 1}));
  EXPECT_FALSE(batch.extra.defined());
}

TEST(DataImageDataset, RejectsInconsistentTensors) {
  auto labels = torch::zeros({2}, torch::kInt64);
  std::vector<std::string> one = {"only"};
  EXPECT_THROW(ImageDataset(torch::zeros({2, 4, 4, 1}, torch::kFloat32), labels, one, "s"), InputError);
  EXPECT_THROW(ImageDataset(torch::zeros({2, 4, 4}, torch::kUInt8), labels, one, "s"), InputError);
  EXPECT_THROW(ImageDataset(torch::zeros({2, 4, 4, 2}, torch::kUInt8), labels, one, "s"), InputError);
  EXPECT_THROW(ImageDataset(torch::zeros({2, 4, 4, 1}, torch::kUInt8), torch::zeros({3}, torch::kInt64), one, "s"),
               InputError);
  EXPECT_THROW(ImageDataset(torch::zeros({2, 4, 4, 1}, torch::kUInt8), torch::zeros({2}, torch::kInt32), one, "s"),
               InputError);
  EXPECT_THROW(ImageDataset(torch::zeros({2, 4, 4, 1}, torch::kUInt8), torch::full({2}, 1, torch::kInt64), one, "s"),
               InputError);
  EXPECT_THROW(ImageDataset(torch::zeros({2, 4, 4, 1}, torch::kUInt8), torch::full({2}, -2, torch::kInt64), one, "s"),
               InputError);
  try {
    ImageDataset(torch::zeros({0, 4, 4, 1}, torch::kUInt8), torch::zeros({0}, torch::kInt64), {}, "my-source");
    FAIL() << "no throw";
  } catch (const InputError& error) {
    EXPECT_EQ(std::string(error.what()), "empty dataset: my-source");
  }
  // Unlabeled data: no class names, every label -1.
  ImageDataset unlabeled(torch::zeros({2, 4, 4, 1}, torch::kUInt8), torch::full({2}, -1, torch::kInt64), {}, "s");
  EXPECT_EQ(unlabeled.num_classes(), 0);
}

TEST(DataSubset, IndexesThroughTheBase) {
  DatasetPtr base = tiny();
  SubsetDataset subset(base, torch::tensor({5, 2, 3}, torch::kInt64));
  EXPECT_EQ(subset.size(), 3);
  EXPECT_EQ(as_vector(subset.labels()), (std::vector<int64_t>{2, 2, 0}));
  Batch batch = subset.get(torch::tensor({0, 2}, torch::kInt64));
  EXPECT_EQ(as_vector(batch.input.select(3, 0).select(2, 0).select(1, 0)), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(as_vector(batch.index), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(subset.num_classes(), 3);
  EXPECT_THROW(SubsetDataset(base, torch::tensor({6}, torch::kInt64)), InputError);
}

TEST(DataUnlabeledView, WithholdsEveryLabel) {
  UnlabeledView view(tiny());
  EXPECT_EQ(view.num_classes(), 0);
  EXPECT_TRUE(view.labels().eq(-1).all().item<bool>());
  Batch batch = view.get(torch::tensor({1, 2}, torch::kInt64));
  EXPECT_EQ(as_vector(batch.label), (std::vector<int64_t>{-1, -1}));
  EXPECT_EQ(batch.input.size(0), 2);
}

TEST(DataBatch, ToKeepsUndefinedTensorsUndefined) {
  Batch batch = tiny()->get(torch::tensor({0}, torch::kInt64));
  Batch moved = batch.to(torch::kCPU);
  EXPECT_TRUE(moved.input.defined());
  EXPECT_TRUE(moved.label.defined());
  EXPECT_FALSE(moved.extra.defined());
  EXPECT_TRUE(torch::equal(moved.input, batch.input));
  EXPECT_EQ(Batch{}.size(), 0);
}

}  // namespace
}  // namespace pretext
