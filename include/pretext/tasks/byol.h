// BYOL, Bootstrap Your Own Latent (Grill et al. 2020): an online network (encoder, projector,
// predictor) learns to predict, from one view of an image, a target network's projection of
// another view. The target (encoder, projector) is an exponential moving average of the online
// network and gets no gradients; there are no negatives. The predictor plus the slowly moving
// target keep the representation from collapsing.
// Requires: uint8 images. Guarantees: the target's parameters never require gradients; after
// after_update() they moved towards the online network by (1 − m) with m = the cosine-ramped
// momentum (stat "momentum"); Output.embedding/embedding_pair = the online encoder on the two
// views (detached).
#pragma once

#include <utility>

#include "pretext/augment/image.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/task.h"

namespace pretext {

// Two views drawn with different augmentations (BYOL's asymmetric pipelines τ and τ', also used
// by MoCo v3). JSON: "augment" overrides fields of both views, then "augment_view1" /
// "augment_view2" override one view's fields; to_json writes the two resolved views.
struct ViewPairAugmentOptions {
  ImageAugmentOptions view1;
  ImageAugmentOptions view2;

  // BYOL's views (Grill et al. 2020, appendix B, table 6) at small-image strength, as solo-learn's
  // CIFAR recipe (scripts/pretrain/cifar/augmentations/asymmetric.yaml): crop area 0.08–1, flip,
  // colour jitter (0.4, 0.4, 0.2, 0.1) with p 0.8, greyscale p 0.2; no blur (BYOL's blur
  // probabilities 1.0/0.1 are for 224-pixel images); solarization only in view 2, p 0.2.
  static ViewPairAugmentOptions byol_defaults();
  // `defaults` with `both` (the "augment" object) applied to both views, then `view1` and
  // `view2` ("augment_view1", "augment_view2") to one view each.
  static ViewPairAugmentOptions from_json(const ViewPairAugmentOptions& defaults, const nlohmann::json& both,
                                          const nlohmann::json& view1, const nlohmann::json& view2,
                                          const std::string& where);
};

// `defaults` with the fields named in `overrides` (a JSON object) replaced; unknown fields or a
// non-object throw ConfigError naming `where`.
ImageAugmentOptions override_augment_options(const ImageAugmentOptions& defaults, const nlohmann::json& overrides,
                                             const std::string& where);

struct BYOLOptions {
  // Projector and predictor: Linear → BN → ReLU → Linear, 4096 hidden, 256 out (paper §3.3;
  // solo-learn's CIFAR byol.yaml keeps 4096/256).
  int64_t projector_hidden_dim = 4096;
  int64_t projector_out_dim = 256;
  int64_t predictor_hidden_dim = 4096;
  // Target momentum τ, cosine-ramped from this to 1 over the run (paper §3.2 uses 0.996 on
  // ImageNet; 0.99 is solo-learn's CIFAR byol.yaml base_tau, better suited to short runs).
  double momentum = 0.99;
  bool momentum_cosine = true;  // paper §3.2; false = a constant τ
  ViewPairAugmentOptions augment = ViewPairAugmentOptions::byol_defaults();

  static BYOLOptions from_json(const nlohmann::json& values);  // throws ConfigError
  nlohmann::json to_json() const;
};

// BYOL's loss for one direction (paper eq. 2): the mean over the batch of
// ‖p̄ − z̄‖² = 2 − 2·cos(p, z), with z treated as a constant (detached here). Computed in float32.
torch::Tensor byol_loss(const torch::Tensor& prediction, const torch::Tensor& target_projection);

class BYOLTask : public PretextTask {
 public:
  BYOLTask(const TaskContext& context, BYOLOptions options);
  // Loss = byol_loss(p1, z'2) + byol_loss(p2, z'1) (paper: L + L̃). Stats: cosine (the mean
  // cos(p, z') over both directions), momentum.
  Output step(const Batch& batch) override;
  // The target follows the online encoder and projector (paper eq. 1 update of ξ).
  void after_update(const TrainState& state) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

  const EncoderPtr& target_encoder() const { return target_encoder_; }
  const MLP& projector() const { return projector_; }
  const MLP& target_projector() const { return target_projector_; }
  double momentum() const { return momentum_; }

 private:
  BYOLOptions options_;
  ImageAugment augment1_;
  ImageAugment augment2_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
  MLP predictor_{nullptr};
  EncoderPtr target_encoder_;
  MLP target_projector_{nullptr};
  double momentum_;  // the momentum of the last after_update (the base before any)
};

}  // namespace pretext
