// VICReg (Bardes et al. 2022): two augmented views, a wide MLP expander, and a loss of three
// terms on the embeddings — invariance (the views agree), variance (each dimension keeps a
// standard deviation of at least γ over the batch, so nothing collapses) and covariance (the
// dimensions are decorrelated). No negatives, no momentum encoder, no normalisation tricks.
#pragma once

#include "pretext/augment/image.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct VICRegOptions {
  // Expander: 3 linear layers, BN + ReLU between (paper §4, implementation details). 8192 units on ImageNet; 2048 is
  // solo-learn's CIFAR recipe, and what a CPU can afford.
  int64_t projector_hidden_dim = 2048;
  int64_t projector_out_dim = 2048;
  int64_t projector_layers = 3;
  // λ, μ, ν of eq. 6 (paper §4, implementation details: λ = μ = 25, ν = 1).
  double invariance_weight = 25.0;
  double variance_weight = 25.0;
  double covariance_weight = 1.0;
  // γ and ε of eq. 1–2 (paper §3: γ = 1, ε = 1e-4).
  double variance_target = 1.0;
  double variance_epsilon = 1e-4;
  // The BYOL views (paper Appendix C.1): view 1 always blurred, view 2 blurred with p = 0.1 and
  // solarized with p = 0.2; size/mean/std come from the data.
  ImageAugmentOptions augment1 = default_augment(0);
  ImageAugmentOptions augment2 = default_augment(1);

  static ImageAugmentOptions default_augment(int64_t view);
  // Keys = the field names; "augment1"/"augment2" objects override single fields of the defaults.
  static VICRegOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

struct VICRegLoss {
  torch::Tensor loss;        // λ·invariance + μ·variance + ν·covariance
  torch::Tensor invariance;  // s(Z, Z'): mean over all N·D entries of (z − z')², detached
  torch::Tensor variance;    // v(Z) + v(Z'), detached
  torch::Tensor covariance;  // c(Z) + c(Z'), detached
};

// Eq. 1–6 of the paper (§3), in float32 with autocast off whatever the inputs' dtype. z1, z2: [N, D],
// N ≥ 2. v(Z) = mean_j max(0, γ − sqrt(Var(z_j) + ε)) with the unbiased variance; c(Z) = the sum of
// the squared off-diagonal entries of the (unbiased) covariance matrix, divided by D. The
// invariance term is F.mse_loss as in the authors' code (eq. 5 sums over D instead, a factor D
// that the published weights do not include); the two branches' variance and covariance terms are
// summed as in eq. 6 (the authors' code averages the variance terms, i.e. μ/2).
VICRegLoss vicreg_loss(const torch::Tensor& z1, const torch::Tensor& z2, const VICRegOptions& options);

class VICRegTask : public PretextTask {
 public:
  VICRegTask(const TaskContext& context, VICRegOptions options);
  // Stats: invariance, variance, covariance (the unweighted terms).
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

 private:
  VICRegOptions options_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
  ImageAugment augment1_;
  ImageAugment augment2_;
};

}  // namespace pretext
