#include "pretext/models/convnet.h"

#include <string>

namespace pretext {

namespace nn = torch::nn;

namespace {

constexpr int64_t kDefaultWidth = 64;

// A Sequential that can sit inside another one: AnyModule needs a forward() with concrete types,
// which nn::Sequential's templated forward lacks.
class StageImpl : public nn::SequentialImpl {
 public:
  using nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Stage);

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
  register_module("features", features_);
  dim_ = 4 * width;

  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    }
  }
}

torch::Tensor ConvNetEncoder::forward(const torch::Tensor& x) {
  // Global average pooling as a mean, which accepts any memory format.
  return features_->forward(x).mean({2, 3});
}

}  // namespace pretext
