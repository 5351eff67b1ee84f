#include "pretext/models/resnet.h"

#include <array>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/models/conv_bn.h"

namespace pretext {

namespace nn = torch::nn;

namespace {

// The image side up to which stem "auto" picks the small-image stem.
constexpr int64_t kSmallStemMaxSide = 64;

struct ResidualBlockOptions {
  ResidualBlockOptions(int64_t in_channels, int64_t planes, int64_t stride, bool bottleneck)
      : in_channels_(in_channels), planes_(planes), stride_(stride), bottleneck_(bottleneck) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, planes);
  TORCH_ARG(int64_t, stride);
  TORCH_ARG(bool, bottleneck);  // 1×1 → 3×3 → 1×1 with 4× expansion (ResNet-50) vs 3×3 → 3×3
};

int64_t expansion(bool bottleneck) { return bottleneck ? 4 : 1; }

nn::Conv2d conv(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride) {
  return nn::Conv2d(
      nn::Conv2dOptions(in_channels, out_channels, kernel).stride(stride).padding(kernel / 2).bias(false));
}

// He et al. 2016's residual block, torchvision layout (the stride sits on the 3×3 conv, "v1.5");
// a 1×1 conv + BN projects the shortcut when the shape changes.
class ResidualBlockImpl : public nn::Cloneable<ResidualBlockImpl> {
 public:
  explicit ResidualBlockImpl(ResidualBlockOptions options) : options_(std::move(options)) { reset(); }

  void reset() override {
    const int64_t in = options_.in_channels(), planes = options_.planes(), stride = options_.stride();
    const int64_t out = planes * expansion(options_.bottleneck());
    if (options_.bottleneck()) {
      conv1_ = register_module("conv1", conv(in, planes, 1, 1));
      bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
      conv2_ = register_module("conv2", conv(planes, planes, 3, stride));
      bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
      conv3_ = register_module("conv3", conv(planes, out, 1, 1));
      bn3_ = register_module("bn3", nn::BatchNorm2d(out));
    } else {
      conv1_ = register_module("conv1", conv(in, planes, 3, stride));
      bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
      conv2_ = register_module("conv2", conv(planes, planes, 3, 1));
      bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    }
    if (stride != 1 || in != out) {
      shortcut_ = Stage();
      shortcut_->push_back("conv", conv(in, out, 1, stride));
      shortcut_->push_back("bn", nn::BatchNorm2d(out));
      register_module("shortcut", shortcut_);
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<ConvBnPair> branch{{conv1_.get(), bn1_.get()}, {conv2_.get(), bn2_.get()}};
    if (options_.bottleneck()) branch.emplace_back(conv3_.get(), bn3_.get());
    torch::Tensor out = conv_bn_relu_chain(branch, x);
    out += shortcut_ ? forward_folding_batch_norm(*shortcut_, x) : x;
    return out.relu_();
  }

 private:
  ResidualBlockOptions options_;
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  Stage shortcut_{nullptr};
};
TORCH_MODULE(ResidualBlock);

struct Architecture {
  bool bottleneck;
  std::array<int64_t, 4> blocks;
};

Architecture architecture(int depth) {
  switch (depth) {
    case 18:
      return {false, {2, 2, 2, 2}};
    case 34:
      return {false, {3, 4, 6, 3}};
    case 50:
      return {true, {3, 4, 6, 3}};
    default:
      throw ConfigError("ResNet depth must be 18, 34 or 50, got " + std::to_string(depth));
  }
}

}  // namespace

ResNetEncoder::ResNetEncoder(const EncoderConfig& config, int depth) : Encoder("ResNetEncoder") {
  const Architecture arch = architecture(depth);
  const int64_t width = config.width > 0 ? config.width : kDefaultWidth;
  const bool small_stem =
      config.stem == "small" || (config.stem == "auto" && config.image_size <= kSmallStemMaxSide);
  PRETEXT_CHECK(config.stem == "small" || config.stem == "imagenet" || config.stem == "auto", ConfigError,
                "encoder option 'stem' must be auto, small or imagenet, got '", config.stem, "'");

  stem_ = nn::Sequential();
  if (small_stem) {
    // SimCLR's CIFAR stem (Chen et al. 2020, appendix B.9): 3×3 stride 1, no max-pool.
    stem_->push_back("conv", conv(config.in_channels, width, 3, 1));
  } else {
    stem_->push_back("conv", conv(config.in_channels, width, 7, 2));
  }
  stem_->push_back("bn", nn::BatchNorm2d(width));
  stem_->push_back("relu", nn::ReLU(nn::ReLUOptions().inplace(true)));
  if (!small_stem) stem_->push_back("pool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  register_module("stem", stem_);

  stages_ = nn::Sequential();
  int64_t channels = width;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = width << stage;
    Stage layer;
    for (int64_t block = 0; block < arch.blocks[stage]; ++block) {
      const int64_t stride = (stage > 0 && block == 0) ? 2 : 1;
      layer->push_back(ResidualBlock(ResidualBlockOptions(channels, planes, stride, arch.bottleneck)));
      channels = planes * expansion(arch.bottleneck);
    }
    stages_->push_back("layer" + std::to_string(stage + 1), layer);
  }
  register_module("stages", stages_);
  dim_ = channels;

  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* convolution = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(convolution->weight, 0.0, torch::kFanOut, torch::kReLU);
    }
  }
}

torch::Tensor ResNetEncoder::forward(const torch::Tensor& x) {
  return forward_folding_batch_norm(*stages_, forward_folding_batch_norm(*stem_, x)).mean({2, 3});
}

}  // namespace pretext
