#include <gtest/gtest.h>

#include <cmath>

#include "pretext/core/error.h"
#include "pretext/eval/health.h"

namespace pretext {
namespace {

TEST(EvalHealth, ACollapsedBatchIsFlagged) {
  torch::manual_seed(1);
  auto same = torch::ones({64, 32}) + 1e-4 * torch::randn({64, 32});
  const auto health = representation_health(same, same);
  EXPECT_LT(health.std_ratio, 0.01);
  EXPECT_LT(health.effective_rank, 1.1);
  EXPECT_NEAR(health.alignment, 0.0, 1e-9);
  EXPECT_TRUE(health.collapsed());
}

TEST(EvalHealth, AnIsotropicBatchIsHealthy) {
  torch::manual_seed(2);
  auto gaussian = torch::randn({2048, 16});
  const auto health = representation_health(gaussian);
  // Each coordinate of a uniformly random unit vector in 16-D has std 1/4 = 1/√D.
  EXPECT_NEAR(health.std_ratio, 1.0, 0.05);
  EXPECT_GT(health.effective_rank, 14.0);
  EXPECT_TRUE(std::isnan(health.alignment));
  EXPECT_FALSE(health.collapsed());
}

TEST(EvalHealth, EffectiveRankAndAlignmentByHand) {
  // Singular values 3 and 1: p = (3/4, 1/4), rank = exp(−¾ln¾ − ¼ln¼) = 1.7548.
  auto z = torch::tensor({{3.0, 0.0}, {0.0, 1.0}});
  const auto health = representation_health(z, -z);
  EXPECT_NEAR(health.effective_rank, std::exp(-(0.75 * std::log(0.75) + 0.25 * std::log(0.25))), 1e-6);
  EXPECT_NEAR(health.alignment, 4.0, 1e-9);  // opposite unit vectors are 2 apart
  // Two orthogonal unit vectors: ‖a − b‖² = 2, uniformity = log e^(−4) = −4.
  EXPECT_NEAR(health.uniformity, -4.0, 1e-9);
}

TEST(EvalHealth, UniformityMatchesTheDefinition) {
  torch::manual_seed(3);
  auto z = torch::randn({5, 3}, torch::kDouble);
  auto unit = z / z.norm(2, 1, true);
  double sum = 0;
  int pairs = 0;
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) {
      if (i == j) continue;
      sum += std::exp(-2 * (unit[i] - unit[j]).pow(2).sum().item<double>());
      ++pairs;
    }
  }
  EXPECT_NEAR(representation_health(z).uniformity, std::log(sum / pairs), 1e-9);
}

TEST(EvalHealth, RejectsATooSmallBatch) {
  EXPECT_THROW(representation_health(torch::ones({1, 4})), InputError);
}

}  // namespace
}  // namespace pretext
