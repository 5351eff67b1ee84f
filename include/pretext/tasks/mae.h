// MAE, masked autoencoders (He et al. 2022): hide most of an image's patches at random, run the
// ViT encoder on the visible ones only (plus the class token), and have a light Transformer
// decoder — mask tokens at the hidden positions, its own positions — predict the hidden patches'
// pixels. The loss is the mean squared error on the hidden patches, optionally against
// per-patch normalised pixels.
// Requires: a ViT encoder (vit-tiny, vit-small); anything else is a ConfigError naming it.
// Guarantees: each sample keeps exactly round((1 − mask_ratio)·N) patches, drawn from the task's
// generator; Output.embedding is the class token of that visible-patch forward (detached).
#pragma once

#include "pretext/augment/image.h"
#include "pretext/models/vit.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct MAEOptions {
  double mask_ratio = 0.75;    // MAE §4, fig. 5: 75% masking is best for fine-tuning and linear probing
  // The decoder is small for small images and short CPU runs: 128 wide, 2 blocks, 4 heads of 32.
  // MAE's ImageNet decoder is 512 wide and 8 deep (16 heads); its table 1a–b shows fine-tuning
  // unchanged at width 128 or depth 2 (84.9 each) and linear probing lower (69.1 and 70.0 vs 73.5).
  int64_t decoder_dim = 128;
  int64_t decoder_depth = 2;
  int64_t decoder_heads = 4;
  bool norm_pix_loss = true;   // MAE table 1d: per-patch normalised pixels are the best target
  // Random resized crop (area 0.2–1) and flip, nothing else (MAE table 1e; the area range is the
  // reference main_pretrain.py's).
  ImageAugmentOptions augment = default_augment();

  static ImageAugmentOptions default_augment();
  static MAEOptions from_json(const nlohmann::json& values);  // throws ConfigError
  nlohmann::json to_json() const;
};

// Which patches one step keeps, per sample (MAE §3 "masking": argsort of uniform noise).
struct PatchMask {
  torch::Tensor keep;     // int64 [B, kept]: indices of the visible patches, in shuffled order
  torch::Tensor restore;  // int64 [B, N]: the permutation that undoes the shuffle
  torch::Tensor hidden;   // float [B, N]: 1 where a patch is hidden (masked), 0 where visible
};

// Draws a per-sample random mask keeping round((1 − mask_ratio)·patches) patches, at least 1.
PatchMask random_patch_mask(int64_t batch, int64_t patches, double mask_ratio, torch::Generator& generator,
                            torch::Device device = torch::kCPU);

// MAE's loss (He et al. 2022, §3 "reconstruction target"): per patch, the mean over its pixels
// of (prediction − target)²; averaged over the hidden patches only. With norm_pix_loss each
// target patch is first normalised by its own pixels' mean and (unbiased) variance,
// (t − mean)/√(var + 1e-6), as the reference implementation does.
// prediction, target_patches: [B, N, P]; hidden: [B, N] (1 = hidden). Computed in float32.
torch::Tensor mae_loss(const torch::Tensor& prediction, const torch::Tensor& target_patches,
                       const torch::Tensor& hidden, bool norm_pix_loss);

class MAETask : public PretextTask {
 public:
  MAETask(const TaskContext& context, MAEOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

  // The decoder's prediction of every patch [B, N, p·p·C] from the encoder's output on the
  // visible patches [B, 1 + kept, dim] (class token first) and the mask that chose them.
  torch::Tensor decode(const torch::Tensor& latent, const PatchMask& mask);

 private:
  MAEOptions options_;
  std::shared_ptr<VitEncoder> encoder_;
  ImageAugment augment_;
  torch::nn::Linear decoder_embed_{nullptr};
  torch::Tensor mask_token_;             // [1, 1, decoder_dim], learned
  torch::Tensor decoder_positions_;      // [N, decoder_dim] buffer: fixed sin-cos on the native grid
  torch::nn::ModuleList decoder_blocks_{nullptr};
  torch::nn::LayerNorm decoder_norm_{nullptr};
  torch::nn::Linear decoder_pred_{nullptr};  // decoder_dim → p·p·C pixels
};

}  // namespace pretext
