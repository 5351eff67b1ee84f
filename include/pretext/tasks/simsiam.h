// SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning"): one network
// (encoder + projector) sees two views; a bottleneck predictor maps one view's projection to the
// other's, and the loss is their negative cosine similarity. No negatives, no momentum encoder:
// the stop-gradient on the target branch alone keeps the representation from collapsing (the
// paper's §4.1 and fig. 2: without it the loss goes to −1 and the outputs to a constant).
// Requires: uint8 images. Guarantees: Output.embedding/embedding_pair = the encoder on the two
// views (detached); stats cosine (= −loss) and output_std (fig. 2's collapse measure).
#pragma once

#include "pretext/augment/image.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct SimSiamOptions {
  // Projector: (Linear → BN → ReLU) × (layers − 1) → Linear → BN, no biases (paper §3 and
  // appendix A; 3 layers on ImageNet, 2 in its CIFAR experiments, appendix D), 2048 wide.
  int64_t projector_layers = 2;
  int64_t projector_hidden_dim = 2048;
  int64_t projector_out_dim = 2048;
  // BN (no affine) on the projector's output: paper table 2(c), 68.1% vs 67.4% without (b).
  bool projector_output_batch_norm = true;
  // Predictor: Linear → BN → ReLU → Linear, a bottleneck (paper appendix A: 2048 → 512 → 2048).
  // 0 = projector_out_dim / 4, the paper's ratio, so the bottleneck scales with the projector.
  int64_t predictor_hidden_dim = 0;
  // The target branch gets no gradient (paper eq. 3–4). false removes it — the ablation of the
  // paper's §4.1; it exists so that a test can show the collapse. Measured here: without it and
  // without the projector's output BN, the loss reaches −0.99 and the normalised outputs a
  // constant within 60 steps (and on Fashion-MNIST, 4 epochs: loss −0.986, output std 0.17 of
  // the healthy 1/√D; the encoder's own features kept their spread). With the output BN, which
  // forces unit variance per dimension, it only sinks lower than with the stop-gradient (−0.89
  // vs −0.68 in 4 epochs, effective rank 22 vs 36, k-NN 67.9% vs 73.5%) without a constant.
  bool stop_gradient = true;
  // The paper's augmentation (appendix A, the official main_simsiam.py): crop area 0.2–1, flip,
  // colour jitter (0.4, 0.4, 0.4, 0.1) with p 0.8, greyscale p 0.2; no blur for small images
  // (as SimCLR's and the MoCo demo's CIFAR recipes).
  ImageAugmentOptions augment = default_augment();

  static ImageAugmentOptions default_augment();
  // Keys = the field names; "augment" overrides single fields of its defaults.
  static SimSiamOptions from_json(const nlohmann::json& values);  // throws ConfigError
  nlohmann::json to_json() const;
  int64_t resolved_predictor_hidden_dim() const;
};

// SimSiam's symmetrized loss (paper eq. 4): D(p1, z2)/2 + D(p2, z1)/2 with
// D(p, z) = −mean over the batch of cos(p, z); z is detached when stop_gradient. float32.
torch::Tensor simsiam_loss(const torch::Tensor& p1, const torch::Tensor& p2, const torch::Tensor& z1,
                           const torch::Tensor& z2, bool stop_gradient = true);

// Fig. 2 (middle) of the paper: the per-dimension standard deviation over the batch of the
// l2-normalised rows of z [B, D], averaged over dimensions. About 1/√D for well spread outputs,
// 0 for a collapsed (constant) output.
double normalized_output_std(const torch::Tensor& z);

class SimSiamTask : public PretextTask {
 public:
  SimSiamTask(const TaskContext& context, SimSiamOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

 private:
  SimSiamOptions options_;
  ImageAugment augment_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
  MLP predictor_{nullptr};
};

}  // namespace pretext
