#include "pretext/models/video_encoder.h"

#include "pretext/core/error.h"

namespace pretext {

namespace nn = torch::nn;

namespace {

constexpr int64_t kExpansion = 16;

void add_stage(nn::Sequential& features, const std::string& name, int64_t in_channels, int64_t out_channels,
               std::vector<int64_t> stride) {
  features->push_back(name + "_conv",
                      nn::Conv3d(nn::Conv3dOptions(in_channels, out_channels, 3).stride(stride).padding(1).bias(false)));
  features->push_back(name + "_bn", nn::BatchNorm3d(out_channels));
  features->push_back(name + "_relu", nn::ReLU(nn::ReLUOptions().inplace(true)));
}

}  // namespace

Video3dEncoder::Video3dEncoder(const EncoderConfig& config) : Encoder("Video3dEncoder") {
  const int64_t width = config.width > 0 ? config.width : kDefaultWidth;
  PRETEXT_CHECK(config.image_size >= 8, ConfigError, "encoder '", config.name,
                "': frames must be at least 8 pixels wide, got image_size ", config.image_size);
  features_ = nn::Sequential();
  add_stage(features_, "stage1", config.in_channels, width, {1, 2, 2});
  add_stage(features_, "stage2", width, 2 * width, {1, 2, 2});
  add_stage(features_, "stage3", 2 * width, 4 * width, {2, 2, 2});
  add_stage(features_, "stage4", 4 * width, 8 * width, {2, 1, 1});
  dim_ = kExpansion * width;
  features_->push_back("expand", nn::Conv3d(nn::Conv3dOptions(8 * width, dim_, 1).bias(false)));
  features_->push_back("expand_bn", nn::BatchNorm3d(dim_));
  features_->push_back("expand_relu", nn::ReLU(nn::ReLUOptions().inplace(true)));
  register_module("features", features_);
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv3d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    }
  }
}

torch::Tensor Video3dEncoder::forward(const torch::Tensor& clips) {
  PRETEXT_CHECK(clips.dim() == 5, InputError, "video encoder expects clips [B, C, T, H, W], got ", clips.sizes());
  return features_->forward(clips).mean({2, 3, 4});
}

}  // namespace pretext
