// Few-label splits: stratified, seeded, sorted; errors for impossible requests.
#include <gtest/gtest.h>

#include "pretext/core/error.h"
#include "pretext/data/split.h"

namespace pretext {
namespace {

// 3 classes with 10, 20 and 30 samples, interleaved, plus some unlabeled (-1) samples.
torch::Tensor uneven_labels() {
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 30; ++i) {
    if (i < 10) labels.push_back(0);
    if (i < 20) labels.push_back(1);
    labels.push_back(2);
    if (i % 10 == 0) labels.push_back(-1);
  }
  return torch::tensor(labels, torch::kInt64);
}

LabelSplitOptions per_class(int64_t count, uint64_t seed = 0) {
  LabelSplitOptions options;
  options.labels_per_class = count;
  options.seed = seed;
  return options;
}

TEST(DataSplit, LabelsPerClassIsStratifiedAndSorted) {
  torch::Tensor labels = uneven_labels();
  torch::Tensor chosen = few_label_indices(labels, per_class(4), "uneven");
  ASSERT_EQ(chosen.size(0), 12);
  EXPECT_EQ(chosen.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(chosen, std::get<0>(chosen.sort())));
  EXPECT_EQ(std::get<0>(at::_unique(chosen)).size(0), 12);
  torch::Tensor counts = labels.index_select(0, chosen).bincount();
  EXPECT_TRUE(torch::equal(counts, torch::tensor({4, 4, 4}, torch::kInt64)));
}

TEST(DataSplit, SameSeedSameSubset) {
  torch::Tensor labels = uneven_labels();
  torch::Tensor first = few_label_indices(labels, per_class(5, 1), "uneven");
  EXPECT_TRUE(torch::equal(first, few_label_indices(labels, per_class(5, 1), "uneven")));
  EXPECT_FALSE(torch::equal(first, few_label_indices(labels, per_class(5, 2), "uneven")));
}

TEST(DataSplit, FractionTakesAtLeastOnePerClass) {
  torch::Tensor labels = uneven_labels();
  LabelSplitOptions tenth;
  tenth.label_fraction = 0.1;
  torch::Tensor counts = labels.index_select(0, few_label_indices(labels, tenth, "uneven")).bincount();
  EXPECT_TRUE(torch::equal(counts, torch::tensor({1, 2, 3}, torch::kInt64)));
  tenth.label_fraction = 0.01;
  counts = labels.index_select(0, few_label_indices(labels, tenth, "uneven")).bincount();
  EXPECT_TRUE(torch::equal(counts, torch::tensor({1, 1, 1}, torch::kInt64)));

  // Neither option: every labelled sample, the unlabeled ones left out.
  torch::Tensor all = few_label_indices(labels, {}, "uneven");
  EXPECT_EQ(all.size(0), 60);
  EXPECT_TRUE(labels.index_select(0, all).ge(0).all().item<bool>());
}

TEST(DataSplit, ImpossibleRequestsAreErrors) {
  torch::Tensor labels = uneven_labels();
  try {
    few_label_indices(labels, per_class(11), "uneven-set");
    FAIL() << "no throw";
  } catch (const InputError& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("class 0"), std::string::npos) << message;
    EXPECT_NE(message.find("10"), std::string::npos) << message;
    EXPECT_NE(message.find("uneven-set"), std::string::npos) << message;
  }
  LabelSplitOptions both = per_class(2);
  both.label_fraction = 0.5;
  EXPECT_THROW(few_label_indices(labels, both, "uneven"), ConfigError);
  LabelSplitOptions too_much;
  too_much.label_fraction = 1.5;
  EXPECT_THROW(few_label_indices(labels, too_much, "uneven"), ConfigError);
  too_much.label_fraction = -0.1;
  EXPECT_THROW(few_label_indices(labels, too_much, "uneven"), ConfigError);
}

TEST(DataSplit, DescribesItself) {
  EXPECT_EQ(describe_split(per_class(10)), "10 per class");
  LabelSplitOptions fraction;
  fraction.label_fraction = 0.01;
  EXPECT_EQ(describe_split(fraction), "1% of labels");
  fraction.label_fraction = 0.005;
  EXPECT_EQ(describe_split(fraction), "0.5% of labels");
  EXPECT_EQ(describe_split({}), "all labels");
}

}  // namespace
}  // namespace pretext
