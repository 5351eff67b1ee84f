#include "pretext/models/conv_bn.h"

#include <iterator>
#include <vector>

#include "pretext/core/error.h"

namespace pretext {

torch::Tensor conv_bn(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (bn.is_training() || !bn.options.track_running_stats()) return bn.forward(conv.forward(x));
  const auto& kernel = conv.options.kernel_size();
  const auto& dilation = conv.options.dilation();
  PRETEXT_CHECK((*dilation)[0] == 1 && (*dilation)[1] == 1 && (*kernel)[0] % 2 == 1 && (*kernel)[1] % 2 == 1,
                ConfigError, "conv_bn: the convolution must have odd kernels and no dilation");
  torch::Tensor scale = bn.running_var.add(bn.options.eps()).rsqrt();
  torch::Tensor shift = -bn.running_mean * scale;
  if (bn.options.affine()) {
    scale = scale * bn.weight;
    shift = shift * bn.weight + bn.bias;
  }
  if (conv.options.bias()) shift = shift + conv.bias * scale;
  const torch::Tensor weight =
      (conv.weight * scale.reshape({-1, 1, 1, 1})).contiguous(conv.weight.suggest_memory_format());
  const std::vector<int64_t> padding{(*kernel)[0] / 2, (*kernel)[1] / 2};
  return torch::conv2d(x, weight, shift, *conv.options.stride(), padding, *dilation, conv.options.groups());
}

torch::Tensor forward_folding_batch_norm(torch::nn::SequentialImpl& sequential, torch::Tensor x) {
  for (auto it = sequential.begin(); it != sequential.end(); ++it) {
    const auto& module = it->ptr();
    if (auto* conv = module->as<torch::nn::Conv2d>(); conv != nullptr && std::next(it) != sequential.end()) {
      if (auto* bn = std::next(it)->ptr()->as<torch::nn::BatchNorm2d>()) {
        x = conv_bn(*conv, *bn, x);
        ++it;
        continue;
      }
    }
    if (auto* nested = dynamic_cast<torch::nn::SequentialImpl*>(module.get())) {
      x = forward_folding_batch_norm(*nested, std::move(x));
    } else {
      x = it->forward(x);
    }
  }
  return x;
}

}  // namespace pretext
