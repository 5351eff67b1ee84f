#include "pretext/models/vit.h"

#include <algorithm>
#include <cmath>

#include "pretext/core/error.h"

namespace pretext {

namespace nn = torch::nn;

namespace {

// DeiT's sizes (Touvron et al. 2021, table 1): 64-dimensional heads, MLP ratio 4.
constexpr int64_t kHeadDim = 64;
const VitArchitecture kTiny{192, 12, 3, 0};
const VitArchitecture kSmall{384, 12, 6, 0};

}  // namespace

int64_t default_patch_size(int64_t image_size) {
  if (image_size <= 32) return 4;
  if (image_size <= 96) return 8;
  return 16;
}

bool is_vit_name(const std::string& name) { return name == "vit-tiny" || name == "vit-small"; }

VitArchitecture vit_architecture(const EncoderConfig& config) {
  PRETEXT_CHECK(is_vit_name(config.name), ConfigError, "encoder '", config.name,
                "' is not a ViT (vit-tiny, vit-small)");
  VitArchitecture out = config.name == "vit-small" ? kSmall : kTiny;
  PRETEXT_CHECK(config.patch_size >= 0, ConfigError,
                "encoder option 'patch_size' must be ≥ 0 (0 = auto), got ", config.patch_size);
  PRETEXT_CHECK(config.depth >= 0, ConfigError, "encoder option 'depth' must be ≥ 0 (0 = the size's default), got ",
                config.depth);
  PRETEXT_CHECK(config.width >= 0, ConfigError, "encoder option 'width' must be ≥ 0 (0 = the size's default), got ",
                config.width);
  out.patch_size = config.patch_size > 0 ? config.patch_size : default_patch_size(config.image_size);
  PRETEXT_CHECK(config.image_size % out.patch_size == 0, ConfigError, "encoder option 'patch_size' ",
                out.patch_size, config.patch_size == 0 ? " (auto)" : "", " must divide the image size ",
                config.image_size, " for ", config.name, "; set --patch-size to a divisor of ", config.image_size);
  if (config.depth > 0) out.depth = config.depth;
  if (config.width > 0 && config.width != out.dim) {
    out.dim = config.width;
    out.heads = std::max<int64_t>(1, std::llround(static_cast<double>(out.dim) / kHeadDim));
  }
  PRETEXT_CHECK(out.dim % out.heads == 0 && out.dim % 4 == 0, ConfigError, "encoder option 'width' ", out.dim,
                " must be divisible by the head count ", out.heads,
                " (width/64, rounded) and by 4 (the 2-D sin-cos positions) for ", config.name);
  return out;
}

torch::Tensor patchify(const torch::Tensor& images, int64_t patch) {
  PRETEXT_CHECK(images.dim() == 4, ConfigError, "patchify: images must be [B,C,H,W], got ", images.sizes());
  const int64_t batch = images.size(0), channels = images.size(1), height = images.size(2), width = images.size(3);
  PRETEXT_CHECK(patch > 0 && height % patch == 0 && width % patch == 0, ConfigError, "patchify: patch size ", patch,
                " must divide the image size ", height, "×", width);
  const int64_t grid_h = height / patch, grid_w = width / patch;
  // [B,C,gh,p,gw,q] → [B,gh,gw,p,q,C]
  return images.reshape({batch, channels, grid_h, patch, grid_w, patch})
      .permute({0, 2, 4, 3, 5, 1})
      .reshape({batch, grid_h * grid_w, patch * patch * channels});
}

torch::Tensor unpatchify(const torch::Tensor& patches, int64_t patch, int64_t channels, int64_t grid_h,
                         int64_t grid_w) {
  PRETEXT_CHECK(patches.dim() == 3 && patches.size(1) == grid_h * grid_w &&
                    patches.size(2) == patch * patch * channels,
                ConfigError, "unpatchify: expected [B, ", grid_h * grid_w, ", ", patch * patch * channels, "], got ",
                patches.sizes());
  const int64_t batch = patches.size(0);
  return patches.reshape({batch, grid_h, grid_w, patch, patch, channels})
      .permute({0, 5, 1, 3, 2, 4})
      .reshape({batch, channels, grid_h * patch, grid_w * patch});
}

torch::Tensor sincos_position_embedding(int64_t dim, int64_t grid_h, int64_t grid_w, int64_t native_h,
                                        int64_t native_w) {
  PRETEXT_CHECK(dim > 0 && dim % 4 == 0, ConfigError, "sin-cos position embedding: dim must be a multiple of 4, got ",
                dim);
  PRETEXT_CHECK(grid_h > 0 && grid_w > 0, ConfigError, "sin-cos position embedding: empty grid ", grid_h, "×", grid_w);
  if (native_h <= 0) native_h = grid_h;
  if (native_w <= 0) native_w = grid_w;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  // Computed in float64 so that the native grid's positions are exact integers.
  auto coordinates = [&](int64_t grid, int64_t native) {
    auto index = torch::arange(grid, f64);
    if (grid == native) return index;
    return (index + 0.5) * (static_cast<double>(native) / grid) - 0.5;
  };
  const int64_t quarter = dim / 4;
  auto omega = torch::pow(10000.0, -torch::arange(quarter, f64) / static_cast<double>(quarter));
  auto axis = [&](const torch::Tensor& positions) {  // [n] → [n, dim/2]
    auto angles = torch::outer(positions, omega);
    return torch::cat({angles.sin(), angles.cos()}, 1);
  };
  auto rows = axis(coordinates(grid_h, native_h));  // [gh, dim/2]
  auto columns = axis(coordinates(grid_w, native_w));  // [gw, dim/2]
  auto table = torch::cat({rows.unsqueeze(1).expand({grid_h, grid_w, dim / 2}),
                           columns.unsqueeze(0).expand({grid_h, grid_w, dim / 2})},
                          2);
  return table.reshape({grid_h * grid_w, dim}).to(torch::kFloat32);
}

// ---------------------------------------------------------------------------------------------
// ViT

VitEncoder::VitEncoder(const EncoderConfig& config, const VitArchitecture& architecture)
    : Encoder("VitEncoder"), architecture_(architecture), in_channels_(config.in_channels) {
  const int64_t dim = architecture_.dim, patch = architecture_.patch_size;
  PRETEXT_CHECK(patch > 0 && config.image_size % patch == 0, ConfigError, "encoder option 'patch_size' ", patch,
                " must divide the image size ", config.image_size);
  PRETEXT_CHECK(architecture_.depth > 0 && architecture_.heads > 0 && dim % architecture_.heads == 0 && dim % 4 == 0,
                ConfigError, "ViT: dim ", dim, " must be divisible by the head count ", architecture_.heads,
                " and by 4; depth must be > 0, got ", architecture_.depth);
  grid_ = config.image_size / patch;

  patch_embed_ = register_module("patch_embed", nn::Conv2d(nn::Conv2dOptions(in_channels_, dim, patch).stride(patch)));
  cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, dim}));
  // Fixed sin-cos rather than learned positions: MAE's choice, and MoCo v3's position-embedding
  // ablation (Chen, Xie & He 2021) found it as good as learned ones; nothing to learn in short
  // runs, and other grids get an exact interpolation rather than a resampled table.
  position_table_ = register_buffer("position_table", sincos_position_embedding(dim, grid_, grid_));
  blocks_ = register_module("blocks", nn::ModuleList());
  for (int64_t block = 0; block < architecture_.depth; ++block) {
    blocks_->push_back(TransformerBlock(TransformerBlockOptions(dim, architecture_.heads)));
  }
  norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));

  init_transformer_weights(*this);
  torch::NoGradGuard no_grad;
  trunc_normal_(cls_token_, 0.02);
  // MAE initialises the patch embedding like a Linear on the flattened patch (xavier uniform).
  nn::init::xavier_uniform_(patch_embed_->weight.view({dim, -1}));
}

torch::Tensor VitEncoder::position_embedding(int64_t grid_h, int64_t grid_w) const {
  if (grid_h == grid_ && grid_w == grid_) return position_table_;
  return sincos_position_embedding(architecture_.dim, grid_h, grid_w, grid_, grid_).to(position_table_.device());
}

torch::Tensor VitEncoder::tokens(const torch::Tensor& images) {
  PRETEXT_CHECK(images.dim() == 4 && images.size(1) == in_channels_, ConfigError, "ViT: expected images [B,",
                in_channels_, ",H,W], got ", images.sizes());
  const int64_t patch = architecture_.patch_size;
  PRETEXT_CHECK(images.size(2) % patch == 0 && images.size(3) % patch == 0, ConfigError, "ViT: image size ",
                images.size(2), "×", images.size(3), " is not divisible by the patch size ", patch,
                " (choose a view size that is a multiple of it)");
  auto x = patch_embed_->forward(images);  // [B, dim, gh, gw]
  const int64_t grid_h = x.size(2), grid_w = x.size(3);
  x = x.flatten(2).transpose(1, 2);
  return x + position_embedding(grid_h, grid_w).unsqueeze(0);
}

torch::Tensor VitEncoder::forward_tokens(const torch::Tensor& patch_tokens) {
  auto cls = cls_token_.to(patch_tokens.scalar_type()).expand({patch_tokens.size(0), 1, architecture_.dim});
  auto x = torch::cat({cls, patch_tokens}, 1);
  for (const auto& block : *blocks_) x = block->as<TransformerBlock>()->forward(x);
  return norm_->forward(x);
}

torch::Tensor VitEncoder::forward(const torch::Tensor& x) { return forward_tokens(tokens(x)).select(1, 0); }

}  // namespace pretext
