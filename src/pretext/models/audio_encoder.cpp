#include "pretext/models/audio_encoder.h"

#include <cmath>

#include "pretext/core/error.h"
#include "pretext/models/conv_bn.h"

namespace pretext {

namespace nn = torch::nn;

namespace {

constexpr int64_t kFrontChannels = 32;

// One stride-2 halving of a frame mask, as a 3-wide, padding-1 convolution samples it: output step
// j is centred on input step 2j.
torch::Tensor halve_mask(const torch::Tensor& valid) {
  return valid.slice(1, 0, valid.size(1), 2);
}

}  // namespace

torch::Tensor sinusoidal_positions(int64_t length, int64_t dim, const torch::TensorOptions& options) {
  auto position = torch::arange(length, options.dtype(torch::kFloat32)).unsqueeze(1);  // [T, 1]
  auto index = torch::arange(0, dim, 2, options.dtype(torch::kFloat32));
  auto frequency = torch::exp(index * (-std::log(10000.0) / static_cast<double>(dim)));  // [dim/2]
  auto table = torch::zeros({length, dim}, options.dtype(torch::kFloat32));
  table.slice(1, 0, dim, 2).copy_(torch::sin(position * frequency));
  table.slice(1, 1, dim, 2).copy_(torch::cos(position * frequency).slice(1, 0, dim / 2));
  return table;
}

AudioTransformerEncoder::AudioTransformerEncoder(const EncoderConfig& config)
    : Encoder("AudioTransformerEncoder"),
      mels_(config.mels),
      width_(config.width > 0 ? config.width : kDefaultWidth) {
  PRETEXT_CHECK(mels_ >= 8, ConfigError, "encoder '", config.name, "': option 'mels' must be ≥ 8 (the log-mel bins), got ",
                mels_);
  PRETEXT_CHECK(width_ % 32 == 0, ConfigError, "encoder '", config.name,
                "': option 'width' must be a multiple of 32 (heads of 32 dimensions), got ", width_);
  const int64_t depth = config.depth > 0 ? config.depth : kDefaultDepth;
  front1_ = register_module(
      "front1", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, kFrontChannels, 3).stride(2).padding(1).bias(false)),
                               nn::BatchNorm2d(kFrontChannels), nn::ReLU(nn::ReLUOptions().inplace(true))));
  front2_ = register_module(
      "front2",
      nn::Sequential(nn::Conv2d(nn::Conv2dOptions(kFrontChannels, kFrontChannels, 3).stride(2).padding(1).bias(false)),
                     nn::BatchNorm2d(kFrontChannels), nn::ReLU(nn::ReLUOptions().inplace(true))));
  const int64_t reduced_mels = ((mels_ + 1) / 2 + 1) / 2;
  project_ = register_module("project", nn::Linear(kFrontChannels * reduced_mels, width_));
  mask_embedding_ = register_parameter("mask_embedding", torch::zeros({width_}));
  blocks_ = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) {
    blocks_->push_back(TransformerBlock(TransformerBlockOptions(width_, width_ / 32).norm_first(true)));
  }
  norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({width_}).eps(1e-6)));
  init_transformer_weights(*this);
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    }
  }
  {
    torch::NoGradGuard no_grad;
    trunc_normal_(mask_embedding_, 0.02);
  }
}

std::pair<torch::Tensor, torch::Tensor> AudioTransformerEncoder::forward_steps(const torch::Tensor& packed) {
  return forward_steps(packed, {});
}

std::pair<torch::Tensor, torch::Tensor> AudioTransformerEncoder::forward_steps(const torch::Tensor& packed,
                                                                               const torch::Tensor& masked) {
  PRETEXT_CHECK(packed.dim() == 3 && packed.size(1) == mels_ + 1, InputError,
                "audio encoder expects packed log-mel frames [B, 1 + ", mels_, ", T], got ", packed.sizes());
  auto valid = packed.select(1, 0).gt(0.5);            // [B, T]
  auto spectrogram = packed.slice(1, 1).unsqueeze(1);  // [B, 1, mels, T]
  // Activations past a clip's end are zeroed after each layer, as the next convolution's own zero
  // padding would be for the clip alone.
  const auto keep = [](const torch::Tensor& x, const torch::Tensor& mask) {
    return x * mask.to(x.scalar_type()).view({mask.size(0), 1, 1, mask.size(1)});
  };
  spectrogram = keep(spectrogram, valid);
  valid = halve_mask(valid);
  auto features = keep(forward_folding_batch_norm(*front1_, spectrogram), valid);
  valid = halve_mask(valid);
  features = keep(forward_folding_batch_norm(*front2_, features), valid);  // [B, C, mels/4, T/4]
  const int64_t batch = features.size(0);
  const int64_t steps = features.size(3);
  TORCH_INTERNAL_ASSERT(valid.size(1) == steps, "audio encoder: a mask of ", valid.size(1), " steps for ", steps);
  auto x = project_->forward(features.permute({0, 3, 1, 2}).reshape({batch, steps, -1}));  // [B, T', width]
  if (masked.defined()) {
    x = torch::where(masked.unsqueeze(2), mask_embedding_.to(x.scalar_type()).expand_as(x), x);
  }
  x = x + sinusoidal_positions(steps, width_, x.options()).to(x.scalar_type()).unsqueeze(0);
  auto padding = valid.logical_not();
  for (const auto& block : *blocks_) x = block->as<TransformerBlock>()->forward(x, padding);
  return {norm_->forward(x), valid};
}

torch::Tensor AudioTransformerEncoder::forward(const torch::Tensor& packed) {
  auto [hidden, valid] = forward_steps(packed);
  auto weights = valid.to(hidden.scalar_type()).unsqueeze(2);
  return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1);
}

}  // namespace pretext
