#include "pretext/models/convnet.h"

#include "pretext/models/conv_bn.h"

#include <string>

namespace pretext {

namespace nn = torch::nn;

namespace {

// The representation is a 1×1 expansion of the last stage to this many times the width: wide
// features for the probes at the cost of one cheap layer on a 7×7 map (as MobileNet's last layer).
constexpr int64_t kExpansion = 16;

// (conv3×3 → BN → ReLU) ×2; the convolutions have no bias since BN follows.
Stage conv_stage(int64_t in_channels, int64_t out_channels) {
  Stage stage;
  int64_t channels = in_channels;
  for (int layer = 1; layer <= 2; ++layer) {
    const std::string suffix = std::to_string(layer);
    stage->push_back("conv" + suffix, nn::Conv2d(nn::Conv2dOptions(channels, out_channels, 3).padding(1).bias(false)));
    stage->push_back("bn" + suffix, nn::BatchNorm2d(out_channels));
    stage->push_back("relu" + suffix, nn::ReLU(nn::ReLUOptions().inplace(true)));
    channels = out_channels;
  }
  return stage;
}

}  // namespace

ConvNetEncoder::ConvNetEncoder(const EncoderConfig& config) : Encoder("ConvNetEncoder") {
  const int64_t width = config.width > 0 ? config.width : kDefaultWidth;
  features_ = nn::Sequential();
  features_->push_back("stage1", conv_stage(config.in_channels, width));
  features_->push_back("pool1", nn::MaxPool2d(nn::MaxPool2dOptions(2)));
  features_->push_back("stage2", conv_stage(width, 2 * width));
  features_->push_back("pool2", nn::MaxPool2d(nn::MaxPool2dOptions(2)));
  features_->push_back("stage3", conv_stage(2 * width, 4 * width));
  dim_ = kExpansion * width;
  features_->push_back("expand", nn::Conv2d(nn::Conv2dOptions(4 * width, dim_, 1).bias(false)));
  features_->push_back("expand_bn", nn::BatchNorm2d(dim_));
  features_->push_back("expand_relu", nn::ReLU(nn::ReLUOptions().inplace(true)));
  register_module("features", features_);

  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    }
  }
}

torch::Tensor ConvNetEncoder::forward(const torch::Tensor& x) {
  // Global average pooling as a mean, which accepts any memory format.
  return forward_folding_batch_norm(*features_, x).mean({2, 3});
}

}  // namespace pretext
