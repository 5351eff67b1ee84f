// Barlow Twins (Zbontar et al. 2021): two augmented views of each image, a wide MLP projector,
// and a loss that drives the cross-correlation matrix of the two views' batch-normalised
// embeddings towards the identity — invariance on the diagonal, redundancy reduction off it.
// No negatives, no momentum encoder, no predictor.
#pragma once

#include "pretext/augment/image.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct BarlowTwinsOptions {
  // Projector: 3 linear layers, BN + ReLU between (paper §2, "Implementation details"). The paper
  // uses 8192 units on ImageNet; 2048 is solo-learn's CIFAR recipe, and what a CPU can afford.
  int64_t projector_hidden_dim = 2048;
  int64_t projector_out_dim = 2048;
  int64_t projector_layers = 3;
  // λ of eq. 1: 5·10⁻³ in the paper's text, 0.0051 in the authors' released code, which
  // solo-learn keeps for its 2048-wide CIFAR projector too; not rescaled as 1/D here.
  double redundancy_weight = 0.0051;
  // A constant factor on the whole loss: 1 in the paper; solo-learn's CIFAR recipe uses 0.1.
  // Only plain SGD's step depends on it (LARS and AdamW are invariant to a scaled loss).
  double loss_scale = 1.0;
  // The BYOL views (paper Appendix "Image augmentations"): view 1 always blurred, view 2
  // blurred with p = 0.1 and solarized with p = 0.2; size/mean/std come from the data.
  ImageAugmentOptions augment1 = default_augment(0);
  ImageAugmentOptions augment2 = default_augment(1);

  static ImageAugmentOptions default_augment(int64_t view);
  // Keys = the field names; "augment1"/"augment2" objects override single fields of the defaults.
  static BarlowTwinsOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

struct BarlowTwinsLoss {
  torch::Tensor loss;          // loss_scale · (on_diagonal + redundancy_weight · off_diagonal)
  torch::Tensor on_diagonal;   // Σ_i (1 − C_ii)², detached
  torch::Tensor off_diagonal;  // Σ_{i≠j} C_ij², detached (unweighted)
};

// The cross-correlation matrix of eq. 2: C_ij = Σ_b ẑ1_bi ẑ2_bj / N, where ẑ is z standardised
// per dimension over the batch (mean 0, biased variance 1, ε = 1e-5 as BatchNorm1d). Computed in
// float32 with autocast off, whatever the inputs' dtype. z1, z2: [N, D], N ≥ 2.
torch::Tensor barlow_cross_correlation(const torch::Tensor& z1, const torch::Tensor& z2);

// Eq. 1 on the cross-correlation of z1 and z2.
BarlowTwinsLoss barlow_twins_loss(const torch::Tensor& z1, const torch::Tensor& z2, double redundancy_weight,
                                  double loss_scale = 1.0);

class BarlowTwinsTask : public PretextTask {
 public:
  BarlowTwinsTask(const TaskContext& context, BarlowTwinsOptions options);
  // Stats: on_diagonal, off_diagonal (the two unweighted terms of eq. 1).
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

 private:
  BarlowTwinsOptions options_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
  ImageAugment augment1_;
  ImageAugment augment2_;
};

}  // namespace pretext
