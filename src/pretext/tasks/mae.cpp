#include "pretext/tasks/mae.h"

#include <algorithm>
#include <cmath>

#include "pretext/core/options.h"

namespace pretext {

namespace nn = torch::nn;

ImageAugmentOptions MAEOptions::default_augment() { return crop_and_flip_only(0.2); }

MAEOptions MAEOptions::from_json(const nlohmann::json& values) {
  MAEOptions options;
  OptionReader reader(values, "task mae");
  nlohmann::json augment = options.augment.to_json();
  nlohmann::json overrides = nlohmann::json::object();
  reader.read("mask_ratio", options.mask_ratio)
      .read("decoder_dim", options.decoder_dim)
      .read("decoder_depth", options.decoder_depth)
      .read("decoder_heads", options.decoder_heads)
      .read("norm_pix_loss", options.norm_pix_loss)
      .read("augment", overrides);
  reader.finish();
  PRETEXT_CHECK(overrides.is_object(), ConfigError, "task mae: augment must be an object, got ", overrides.dump());
  augment.update(overrides);
  options.augment = ImageAugmentOptions::from_json(augment, "task mae: augment");
  PRETEXT_CHECK(options.mask_ratio > 0 && options.mask_ratio < 1, ConfigError,
                "task mae: mask_ratio must be in (0, 1), got ", options.mask_ratio);
  PRETEXT_CHECK(options.decoder_dim > 0 && options.decoder_dim % 4 == 0, ConfigError,
                "task mae: decoder_dim must be a positive multiple of 4 (sin-cos positions), got ", options.decoder_dim);
  PRETEXT_CHECK(options.decoder_depth >= 1, ConfigError, "task mae: decoder_depth must be ≥ 1, got ",
                options.decoder_depth);
  PRETEXT_CHECK(options.decoder_heads >= 1 && options.decoder_dim % options.decoder_heads == 0, ConfigError,
                "task mae: decoder_heads must divide decoder_dim ", options.decoder_dim, ", got ",
                options.decoder_heads);
  return options;
}

nlohmann::json MAEOptions::to_json() const {
  return {{"mask_ratio", mask_ratio},       {"decoder_dim", decoder_dim},     {"decoder_depth", decoder_depth},
          {"decoder_heads", decoder_heads}, {"norm_pix_loss", norm_pix_loss}, {"augment", augment.to_json()}};
}

PatchMask random_patch_mask(int64_t batch, int64_t patches, double mask_ratio, torch::Generator& generator,
                            torch::Device device) {
  PRETEXT_CHECK(patches >= 2, ConfigError, "MAE masking needs at least 2 patches per image, got ", patches);
  // At least one patch stays visible and at least one is hidden, whatever the ratio rounds to.
  const int64_t kept = std::clamp<int64_t>(std::llround((1.0 - mask_ratio) * patches), 1, patches - 1);
  // The noise is drawn on the CPU, where the task's generator lives, then moved.
  auto noise = torch::rand({batch, patches}, generator, torch::TensorOptions().dtype(torch::kFloat32));
  // Ascending noise: the first `kept` of each row are visible.
  auto shuffle = noise.argsort(/*dim=*/int64_t{1}, /*descending=*/false);
  auto restore = shuffle.argsort(/*dim=*/int64_t{1}, /*descending=*/false);
  // In shuffled order the first `kept` are visible; unshuffling puts the flags at their patches.
  auto hidden = torch::ones({batch, patches}, torch::kFloat32);
  hidden.slice(1, 0, kept).zero_();
  PatchMask mask;
  mask.keep = shuffle.slice(1, 0, kept).contiguous().to(device);
  mask.restore = restore.to(device);
  mask.hidden = hidden.gather(1, restore).to(device);
  return mask;
}

torch::Tensor mae_loss(const torch::Tensor& prediction, const torch::Tensor& target_patches,
                       const torch::Tensor& hidden, bool norm_pix_loss) {
  auto target = target_patches.detach().to(torch::kFloat32);
  if (norm_pix_loss) {
    auto mean = target.mean(-1, /*keepdim=*/true);
    auto variance = target.var(-1, /*unbiased=*/true, /*keepdim=*/true);
    target = (target - mean) / (variance + 1e-6).sqrt();
  }
  auto per_patch = (prediction.to(torch::kFloat32) - target).pow(2).mean(-1);  // [B, N]
  auto weights = hidden.to(torch::kFloat32);
  return (per_patch * weights).sum() / weights.sum();
}

MAETask::MAETask(const TaskContext& context, MAEOptions options)
    : PretextTask("MAETask", context.seed),
      options_(std::move(options)),
      augment_(fit_augment_to_data(options_.augment, context)) {
  options_.augment = augment_.options();
  EncoderPtr built = make_encoder(context.encoder);
  encoder_ = std::dynamic_pointer_cast<VitEncoder>(built);
  PRETEXT_CHECK(encoder_ != nullptr, ConfigError, "task mae needs a ViT encoder (--encoder vit-tiny or vit-small), got '",
                context.encoder.name, "'");
  register_module("encoder", encoder_);
  const int64_t patch = encoder_->patch_size();
  PRETEXT_CHECK(options_.augment.size % patch == 0, ConfigError, "task mae: the view size ", options_.augment.size,
                " (augment.size) must be a multiple of the encoder's patch size ", patch);

  const int64_t dim = options_.decoder_dim;
  decoder_embed_ = register_module("decoder_embed", nn::Linear(encoder_->dim(), dim));
  mask_token_ = register_parameter("mask_token", torch::zeros({1, 1, dim}));
  decoder_positions_ = register_buffer(
      "decoder_positions", sincos_position_embedding(dim, encoder_->grid_size(), encoder_->grid_size()));
  decoder_blocks_ = register_module("decoder_blocks", nn::ModuleList());
  for (int64_t block = 0; block < options_.decoder_depth; ++block) {
    decoder_blocks_->push_back(TransformerBlock(TransformerBlockOptions(dim, options_.decoder_heads)));
  }
  decoder_norm_ = register_module("decoder_norm", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
  decoder_pred_ =
      register_module("decoder_pred", nn::Linear(dim, patch * patch * encoder_->in_channels()));
  init_transformer_weights(*decoder_embed_);
  init_transformer_weights(*decoder_blocks_);
  init_transformer_weights(*decoder_norm_);
  init_transformer_weights(*decoder_pred_);
  trunc_normal_(mask_token_, 0.02);
}

torch::Tensor MAETask::decode(const torch::Tensor& latent, const PatchMask& mask) {
  const int64_t batch = latent.size(0), kept = latent.size(1) - 1, patches = mask.restore.size(1);
  const int64_t dim = options_.decoder_dim;
  const int64_t grid = std::llround(std::sqrt(static_cast<double>(patches)));
  PRETEXT_CHECK(grid * grid == patches, ConfigError, "MAE decoder: ", patches, " patches do not form a square grid");
  // The Linears get 2-D inputs, where LibTorch fuses their bias (see TransformerBlockImpl).
  auto x = decoder_embed_->forward(latent.reshape({-1, latent.size(2)})).view({batch, kept + 1, dim});
  // Mask tokens fill the hidden positions; unshuffling puts every token back at its patch.
  auto tokens = torch::cat({x.slice(1, 1), mask_token_.to(x.scalar_type()).expand({batch, patches - kept, dim})}, 1);
  tokens = tokens.gather(1, mask.restore.unsqueeze(-1).expand({batch, patches, dim}));
  // The decoder's own fixed sin-cos positions, on the encoder's native grid (interpolated for
  // views of another size, as the encoder's are).
  const int64_t native = encoder_->grid_size();
  auto positions = grid == native ? decoder_positions_
                                  : sincos_position_embedding(dim, grid, grid, native, native).to(tokens.device());
  tokens = tokens + positions.unsqueeze(0);
  x = torch::cat({x.slice(1, 0, 1).to(tokens.scalar_type()), tokens}, 1);
  for (const auto& block : *decoder_blocks_) x = block->as<TransformerBlock>()->forward(x);
  auto patch_outputs = decoder_norm_->forward(x).slice(1, 1).reshape({batch * patches, dim});
  return decoder_pred_->forward(patch_outputs).view({batch, patches, -1});
}

PretextTask::Output MAETask::step(const Batch& batch) {
  auto views = augment_(batch.input, generator());  // float [B,C,S,S], normalised
  auto tokens = encoder_->tokens(views);            // [B, N, dim], positions added
  const int64_t size = tokens.size(0), patches = tokens.size(1), dim = tokens.size(2);
  PatchMask mask = random_patch_mask(size, patches, options_.mask_ratio, generator(), tokens.device());
  auto visible = tokens.gather(1, mask.keep.unsqueeze(-1).expand({size, mask.keep.size(1), dim}));
  auto latent = encoder_->forward_tokens(visible);  // [B, 1 + kept, dim]
  auto prediction = decode(latent, mask);
  auto loss = mae_loss(prediction, patchify(views, encoder_->patch_size()), mask.hidden, options_.norm_pix_loss);
  Output out;
  out.loss = loss;
  out.embedding = latent.select(1, 0).detach().to(torch::kFloat32);
  return out;
}

}  // namespace pretext
