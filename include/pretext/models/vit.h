// Vision Transformer (Dosovitskiy et al. 2021), in DeiT's sizes (Touvron et al. 2021):
// vit-tiny (dim 192, 12 blocks, 3 heads) and vit-small (384, 12, 6).
// What it represents: an image cut into p×p patches, each linearly embedded (a Conv2d with
// kernel = stride = p), plus fixed 2-D sin-cos positions; a learned class token; pre-norm
// Transformer blocks; a final LayerNorm. forward() returns the class token's output [B, dim].
// Requires: float [B,C,H,W] with H and W divisible by the patch size (any such size: positions
// are interpolated to other grids, e.g. DINO's small local crops). Guarantees: at the configured
// image size the positions are exactly the native table; tokens()/forward_tokens() expose the
// pieces MAE needs (embed all patches, then run the blocks on a subset).
#pragma once

#include <torch/torch.h>

#include <string>

#include "pretext/models/encoder.h"
#include "pretext/models/transformer.h"  // TransformerBlock, trunc_normal_, init_transformer_weights

namespace pretext {

// The architecture a ViT config resolves to.
struct VitArchitecture {
  int64_t dim = 192;
  int64_t depth = 12;
  int64_t heads = 3;
  int64_t patch_size = 4;
};

// patch_size 0 ("auto"): 4 for images of ≤ 32 pixels (the usual CIFAR ViT patch), 8 for ≤ 96,
// else 16 (ViT-B/16 on 224-pixel ImageNet).
int64_t default_patch_size(int64_t image_size);
// Whether `name` is a built-in ViT (vit-tiny, vit-small).
bool is_vit_name(const std::string& name);
// Resolves and checks a ViT config: the size's dim/depth/heads unless width/depth override them.
// With `width` set, heads = round(width / 64), at least 1 — DeiT's 64-dimensional heads, so
// vit-tiny and vit-small keep their head counts at their own widths. Throws ConfigError naming
// the field when the patch does not divide image_size, width is not divisible by the heads or
// by 4 (the sin-cos positions split the dim in four), or the name is not a ViT.
VitArchitecture vit_architecture(const EncoderConfig& config);

// images [B,C,H,W] → patches [B, N = (H/p)(W/p), p·p·C], row-major over the grid, each patch's
// pixels in (row, column, channel) order (as MAE's reference code lays them out).
torch::Tensor patchify(const torch::Tensor& images, int64_t patch);
// The inverse of patchify for a grid of grid_h × grid_w patches of `channels` channels.
torch::Tensor unpatchify(const torch::Tensor& patches, int64_t patch, int64_t channels, int64_t grid_h,
                         int64_t grid_w);

// Fixed 2-D sin-cos position embedding (MAE, He et al. 2022; Vaswani et al. 2017 per axis):
// half the dims encode the row, half the column, each as [sin(ω_k·pos), cos(ω_k·pos)] with
// ω_k = 10000^(−k/(dim/4)). Returns float [grid_h·grid_w, dim], row-major over the grid.
// A grid other than the native one is an interpolation of the native table: patch centres are
// mapped onto the native grid's coordinates, pos = (i + ½)·native/grid − ½ (the sample points of
// bicubic resizing with align_corners=false, as DINO's interpolate_pos_encoding), and the
// sin-cos is evaluated there exactly. native_h/native_w 0 = the grid itself.
torch::Tensor sincos_position_embedding(int64_t dim, int64_t grid_h, int64_t grid_w, int64_t native_h = 0,
                                        int64_t native_w = 0);

class VitEncoder : public Encoder {
 public:
  VitEncoder(const EncoderConfig& config, const VitArchitecture& architecture);
  // Builds a registered size: vit-tiny or vit-small, overridden by config.width/depth/patch_size.
  explicit VitEncoder(const EncoderConfig& config) : VitEncoder(config, vit_architecture(config)) {}

  // x float [B,C,H,W] → the class token's final (normed) output [B, dim].
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t dim() const override { return architecture_.dim; }
  bool prefers_channels_last() const override { return false; }

  // Patch embedding plus positions, no class token: [B,C,H,W] → [B, N, dim].
  torch::Tensor tokens(const torch::Tensor& images);
  // Prepends the class token to any subset of tokens from tokens() [B, n, dim], runs the blocks
  // and the final LayerNorm: → [B, 1 + n, dim], the class token first.
  torch::Tensor forward_tokens(const torch::Tensor& patch_tokens);
  // The positions for a grid_h × grid_w patch grid [grid_h·grid_w, dim]: the native table at the
  // configured size, an interpolation of it otherwise (see sincos_position_embedding).
  torch::Tensor position_embedding(int64_t grid_h, int64_t grid_w) const;

  const VitArchitecture& architecture() const { return architecture_; }
  int64_t patch_size() const { return architecture_.patch_size; }
  int64_t grid_size() const { return grid_; }  // patches per side at the configured image size
  int64_t in_channels() const { return in_channels_; }

 private:
  VitArchitecture architecture_;
  int64_t in_channels_;
  int64_t grid_;
  torch::nn::Conv2d patch_embed_{nullptr};
  torch::Tensor cls_token_;      // [1, 1, dim], learned
  torch::Tensor position_table_;  // [grid², dim] buffer: fixed sin-cos, not trained
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
};

}  // namespace pretext
