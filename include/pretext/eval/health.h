// Representation health: cheap statistics of a batch of embeddings that reveal collapse while
// a pretext task trains — before any label is used.
//   std_ratio       mean over dimensions of the std of the l2-normalised embeddings, times √D
//                   (SimSiam, Chen & He 2021, §4.1: a collapsed output has std 0; a healthy
//                   isotropic one has std ≈ 1/√D, so the ratio is ≈ 1)
//   effective_rank  exp of the entropy of the normalised singular values of the embedding
//                   matrix (RankMe, Garrido et al. 2023, eq. 1): 1 for a single direction, up to
//                   min(B, D) when every direction is used
//   alignment       E ‖f(x) − f(x⁺)‖² over positive pairs, l2-normalised (Wang & Isola 2020, α = 2)
//   uniformity      log E exp(−2‖f(x) − f(y)‖²) over all pairs in the batch (Wang & Isola, t = 2)
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace pretext {

struct CollapseThresholds {
  double std_ratio = 0.05;      // below: every sample maps to (almost) the same direction
  double effective_rank = 1.5;  // below: one direction carries all the variance
};

struct RepresentationHealth {
  double std_ratio = 0;
  double effective_rank = 0;
  double alignment = NAN;  // NAN without a second view
  double uniformity = 0;
  bool collapsed(const CollapseThresholds& thresholds = {}) const;
  // ("std_ratio", …), ("effective_rank", …), …; alignment only when measured.
  std::vector<std::pair<std::string, double>> stats() const;
};

// embedding: [B, D] (any float type, any device); pair: the second view's [B, D] or undefined.
// Needs B ≥ 2.
RepresentationHealth representation_health(const torch::Tensor& embedding, const torch::Tensor& pair = {});

}  // namespace pretext
