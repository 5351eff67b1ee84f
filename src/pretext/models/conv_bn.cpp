#include "pretext/models/conv_bn.h"

#include <iterator>
#include <vector>

#include "pretext/core/error.h"

namespace pretext {
namespace {

thread_local ProcessGroupPtr sync_group;

// Batch norm over every rank's batch: per-channel sums, sums of squares and counts are added up
// across ranks (differentiably, so each rank's gradient includes what its samples did to the
// others' normalisation), then x is normalised with the global mean and biased variance; the
// running statistics take the unbiased variance, as LibTorch's batch norm does.
template <class BatchNorm>
torch::Tensor synced_batch_norm(BatchNorm& bn, const torch::Tensor& x, const ProcessGroupPtr& group) {
  const int64_t channels = x.size(1);
  std::vector<int64_t> reduce{0};
  std::vector<int64_t> shape{1, channels};
  for (int64_t d = 2; d < x.dim(); ++d) {
    reduce.push_back(d);
    shape.push_back(1);
  }
  const torch::Tensor values = x.to(torch::kFloat32);
  const torch::Tensor count = torch::full({1}, static_cast<double>(x.numel() / channels), values.options());
  const torch::Tensor local = torch::cat({values.sum(reduce), values.square().sum(reduce), count});
  const torch::Tensor global = all_gather_with_grad(local.unsqueeze(0), group).sum(0);
  const torch::Tensor samples = global[2 * channels];
  const torch::Tensor mean = global.slice(0, 0, channels) / samples;
  const torch::Tensor variance = (global.slice(0, channels, 2 * channels) / samples - mean.square()).clamp_min(0);
  torch::Tensor y = (values - mean.view(shape)) * (variance + bn.options.eps()).rsqrt().view(shape);
  if (bn.options.affine()) y = y * bn.weight.view(shape) + bn.bias.view(shape);
  if (bn.options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    bn.num_batches_tracked.add_(1);
    const double momentum = bn.options.momentum().has_value()
                                ? *bn.options.momentum()
                                : 1.0 / static_cast<double>(bn.num_batches_tracked.template item<int64_t>());
    const double n = samples.template item<double>();
    bn.running_mean.mul_(1 - momentum).add_(mean.detach().to(bn.running_mean.dtype()), momentum);
    bn.running_var.mul_(1 - momentum)
        .add_((variance.detach() * (n / std::max(1.0, n - 1))).to(bn.running_var.dtype()), momentum);
  }
  return y.to(x.scalar_type());
}

template <class BatchNorm>
torch::Tensor batch_norm_of(BatchNorm& bn, const torch::Tensor& x) {
  if (bn.is_training() && sync_group && sync_group->world_size() > 1) return synced_batch_norm(bn, x, sync_group);
  return bn.forward(x);
}

}  // namespace

SyncBatchNormScope::SyncBatchNormScope(ProcessGroupPtr group) : previous_(sync_group) {
  sync_group = std::move(group);
}
SyncBatchNormScope::~SyncBatchNormScope() { sync_group = std::move(previous_); }

torch::Tensor batch_norm(torch::nn::BatchNorm1dImpl& bn, const torch::Tensor& x) { return batch_norm_of(bn, x); }
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) { return batch_norm_of(bn, x); }

torch::Tensor conv_bn(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (bn.is_training() || !bn.options.track_running_stats()) return batch_norm(bn, conv.forward(x));
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
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      x = batch_norm(*bn, x);
    } else if (auto* bn1d = module->as<torch::nn::BatchNorm1d>()) {
      x = batch_norm(*bn1d, x);
    } else if (auto* nested = dynamic_cast<torch::nn::SequentialImpl*>(module.get())) {
      x = forward_folding_batch_norm(*nested, std::move(x));
    } else {
      x = it->forward(x);
    }
  }
  return x;
}

}  // namespace pretext
