#include "pretext/models/conv_bn.h"

#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/runtime.h"

namespace pretext {
namespace {

thread_local ProcessGroupPtr sync_group;

bool sync_batch_norm_active() { return sync_group && sync_group->world_size() > 1; }

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
  if (bn.is_training() && sync_batch_norm_active()) return synced_batch_norm(bn, x, sync_group);
  return bn.forward(x);
}

// The momentum of BN's running statistics for this step, counting the step as LibTorch's
// BatchNorm2d does (momentum unset: a cumulative average over the tracked batches).
double running_stats_momentum(torch::nn::BatchNorm2dImpl& bn) {
  if (!bn.options.track_running_stats()) return 0.0;
  bn.num_batches_tracked.add_(1);
  return bn.options.momentum().has_value() ? *bn.options.momentum()
                                           : 1.0 / static_cast<double>(bn.num_batches_tracked.item<int64_t>());
}

std::vector<int64_t> same_padding(const torch::nn::Conv2dImpl& conv) {
  const auto& kernel = conv.options.kernel_size();
  const auto& dilation = conv.options.dilation();
  PRETEXT_CHECK((*dilation)[0] == 1 && (*dilation)[1] == 1 && (*kernel)[0] % 2 == 1 && (*kernel)[1] % 2 == 1,
                ConfigError, "conv_bn: the convolution must have odd kernels and no dilation");
  return {(*kernel)[0] / 2, (*kernel)[1] / 2};
}

// LibTorch 1.13's custom functions take no undefined tensors: an absent parameter or running
// statistic goes in as an empty tensor (or_empty), and present() turns it back.
torch::Tensor or_empty(const torch::Tensor& t) { return t.defined() ? t : torch::empty({0}); }
torch::Tensor present(const torch::Tensor& t) { return t.numel() > 0 ? t : torch::Tensor(); }

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What the two fused functions below share: their inputs, in this order, are x, BN's weight, BN's
// bias, the convolution's weight and bias, BN's running mean and variance (all possibly empty),
// then the Settings.
struct FusedConvBn {
  struct Settings {
    double momentum;  // of BN's running statistics, this step
    double eps;
    std::vector<int64_t> stride, padding;
    int64_t groups;
  };

  static torch::Tensor convolve(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                const Settings& settings) {
    return torch::conv2d(x, weight, present(bias), settings.stride, settings.padding, {1, 1}, settings.groups);
  }

  static std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> normalize(
      const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& running_mean,
      const torch::Tensor& running_var, const Settings& settings) {
    return at::native_batch_norm(x, present(weight), present(bias), present(running_mean), present(running_var),
                                 /*training=*/true, settings.momentum, settings.eps);
  }

  // Keeps the tensors and the settings for backward.
  static void save(AutogradContext* ctx, variable_list tensors, const Settings& settings) {
    ctx->save_for_backward(std::move(tensors));
    ctx->saved_data["eps"] = settings.eps;
    ctx->saved_data["stride"] = settings.stride;
    ctx->saved_data["padding"] = settings.padding;
    ctx->saved_data["groups"] = settings.groups;
  }

  // The settings save() kept (the momentum was spent in forward).
  static Settings saved_settings(AutogradContext* ctx) {
    return {0.0, ctx->saved_data["eps"].toDouble(), ctx->saved_data["stride"].toIntVector(),
            ctx->saved_data["padding"].toIntVector(), ctx->saved_data["groups"].toInt()};
  }

  // convolution_backward with the saved geometry: gradients of input (when wanted), weight, bias.
  static std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> conv_backward(
      const Settings& settings, const torch::Tensor& grad, const torch::Tensor& input, const torch::Tensor& weight,
      bool want_input, bool has_bias) {
    const std::vector<int64_t> bias_sizes{weight.size(0)};
    return at::convolution_backward(
        grad, input, weight, has_bias ? at::OptionalIntArrayRef(bias_sizes) : at::OptionalIntArrayRef(c10::nullopt),
        settings.stride, settings.padding, {1, 1}, /*transposed=*/false, {0, 0}, settings.groups,
        {want_input, true, has_bias});
  }

  static std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> bn_backward(
      const Settings& settings, const torch::Tensor& grad, const torch::Tensor& input, const torch::Tensor& weight,
      const torch::Tensor& bias, const torch::Tensor& mean, const torch::Tensor& invstd) {
    return at::native_batch_norm_backward(grad, input, weight, {}, {}, mean, invstd, /*train=*/true,
                                          settings.eps,
                                          {true, weight.defined(), bias.defined()});
  }

  // One gradient per input; none for the running statistics and the settings.
  static variable_list gradients(torch::Tensor x, torch::Tensor bn_weight, torch::Tensor bn_bias,
                                 torch::Tensor conv_weight, torch::Tensor conv_bias) {
    return {std::move(x),         std::move(bn_weight), std::move(bn_bias), std::move(conv_weight),
            std::move(conv_bias), torch::Tensor(),      torch::Tensor(),    torch::Tensor()};
  }
};

// conv(relu(bn(x))) with batch statistics, saving x and the statistics only. The backward pass
// rebuilds relu(bn(x)) as x · (invstd·γ) + (β − mean·invstd·γ), the affine map BN's CPU kernel
// applies, then runs the convolution's, ReLU's and BN's own backward kernels in turn.
struct BnReluConvFunction : public torch::autograd::Function<BnReluConvFunction>, FusedConvBn {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& bn_weight,
                               const torch::Tensor& bn_bias, const torch::Tensor& conv_weight,
                               const torch::Tensor& conv_bias, const torch::Tensor& running_mean,
                               const torch::Tensor& running_var, const Settings& settings) {
    auto [normalized, mean, invstd] = normalize(x, bn_weight, bn_bias, running_mean, running_var, settings);
    torch::Tensor out = convolve(normalized.relu_(), conv_weight, conv_bias, settings);
    save(ctx, {x, bn_weight, bn_bias, conv_weight, conv_bias, mean, invstd}, settings);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor bn_weight = present(saved[1]), bn_bias = present(saved[2]);
    const torch::Tensor &conv_weight = saved[3], &mean = saved[5], &invstd = saved[6];
    const Settings settings = saved_settings(ctx);
    const std::vector<int64_t> shape{1, x.size(1), 1, 1};
    torch::Tensor scale = bn_weight.defined() ? invstd * bn_weight : invstd;
    torch::Tensor shift = -mean * scale;
    if (bn_bias.defined()) shift = shift + bn_bias;
    const torch::Tensor normalized = torch::addcmul(shift.view(shape), x, scale.view(shape)).relu_();

    auto [grad_normalized, grad_conv_weight, grad_conv_bias] =
        conv_backward(settings, grad_outputs[0], normalized, conv_weight, true, present(saved[4]).defined());
    const torch::Tensor grad_bn_out = at::threshold_backward(grad_normalized, normalized, 0);
    auto [grad_x, grad_bn_weight, grad_bn_bias] =
        bn_backward(settings, grad_bn_out, x, bn_weight, bn_bias, mean, invstd);
    return gradients(grad_x, grad_bn_weight, grad_bn_bias, grad_conv_weight, grad_conv_bias);
  }
};

// relu(bn(conv(x))) with batch statistics, saving x and the output: the backward pass runs the
// convolution again for BN's backward, which needs its input. Worth it where the convolution reads
// few channels (an image stem: 1 or 3 channels in, 32–64 out), so redoing it costs little while
// its output is as large as any layer's.
struct ConvBnReluFunction : public torch::autograd::Function<ConvBnReluFunction>, FusedConvBn {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& bn_weight,
                               const torch::Tensor& bn_bias, const torch::Tensor& conv_weight,
                               const torch::Tensor& conv_bias, const torch::Tensor& running_mean,
                               const torch::Tensor& running_var, const Settings& settings) {
    auto [out, mean, invstd] =
        normalize(convolve(x, conv_weight, conv_bias, settings), bn_weight, bn_bias, running_mean, running_var, settings);
    out.relu_();
    save(ctx, {x, bn_weight, bn_bias, conv_weight, conv_bias, mean, invstd, out}, settings);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor bn_weight = present(saved[1]), bn_bias = present(saved[2]);
    const torch::Tensor &conv_weight = saved[3], &mean = saved[5], &invstd = saved[6], &out = saved[7];
    const torch::Tensor conv_bias = present(saved[4]);
    const Settings settings = saved_settings(ctx);
    const torch::Tensor convolved = convolve(x, conv_weight, conv_bias, settings);
    const torch::Tensor grad_bn_out = at::threshold_backward(grad_outputs[0], out, 0);
    auto [grad_convolved, grad_bn_weight, grad_bn_bias] =
        bn_backward(settings, grad_bn_out, convolved, bn_weight, bn_bias, mean, invstd);
    auto [grad_x, grad_conv_weight, grad_conv_bias] =
        conv_backward(settings, grad_convolved, x, conv_weight, ctx->needs_input_grad(0), conv_bias.defined());
    return gradients(grad_x, grad_bn_weight, grad_bn_bias, grad_conv_weight, grad_conv_bias);
  }
};

bool fuses(const torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  return bn.is_training() && torch::GradMode::is_enabled() && !sync_batch_norm_active() &&
         !autocast_enabled(x.device().type()) && x.scalar_type() == torch::kFloat32;
}

// Runs one of the fused functions on these layers.
template <class Function>
torch::Tensor apply_fused(torch::nn::BatchNorm2dImpl& bn, torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  const auto& stride = *conv.options.stride();
  FusedConvBn::Settings settings{running_stats_momentum(bn), bn.options.eps(),
                                 std::vector<int64_t>(stride.begin(), stride.end()), same_padding(conv),
                                 conv.options.groups()};
  return Function::apply(x, or_empty(bn.weight), or_empty(bn.bias), conv.weight, or_empty(conv.bias),
                         or_empty(bn.running_mean), or_empty(bn.running_var), settings);
}

}  // namespace

SyncBatchNormScope::SyncBatchNormScope(ProcessGroupPtr group) : previous_(sync_group) {
  sync_group = std::move(group);
}
SyncBatchNormScope::~SyncBatchNormScope() { sync_group = std::move(previous_); }

torch::Tensor batch_norm(torch::nn::BatchNorm1dImpl& bn, const torch::Tensor& x) { return batch_norm_of(bn, x); }
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) { return batch_norm_of(bn, x); }

FoldedConv fold_batch_norm(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn) {
  torch::Tensor scale = bn.running_var.add(bn.options.eps()).rsqrt();
  torch::Tensor shift = -bn.running_mean * scale;
  if (bn.options.affine()) {
    scale = scale * bn.weight;
    shift = shift * bn.weight + bn.bias;
  }
  if (conv.options.bias()) shift = shift + conv.bias * scale;
  return {(conv.weight * scale.reshape({-1, 1, 1, 1})).contiguous(conv.weight.suggest_memory_format()), shift};
}

torch::Tensor conv_bn(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (bn.is_training() || !bn.options.track_running_stats()) return batch_norm(bn, conv.forward(x));
  const FoldedConv folded = fold_batch_norm(conv, bn);
  return torch::conv2d(x, folded.weight, folded.bias, *conv.options.stride(), same_padding(conv), {1, 1},
                       conv.options.groups());
}

torch::Tensor bn_relu_conv(torch::nn::BatchNorm2dImpl& bn, torch::nn::Conv2dImpl& conv, const torch::Tensor& x) {
  if (!fuses(bn, x)) return conv.forward(batch_norm(bn, x).relu_());
  return apply_fused<BnReluConvFunction>(bn, conv, x);
}

torch::Tensor conv_bn_relu(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (!fuses(bn, x) || conv.options.in_channels() > kRecomputedConvMaxInChannels) return conv_bn(conv, bn, x).relu_();
  return apply_fused<ConvBnReluFunction>(bn, conv, x);
}

torch::Tensor conv_bn_relu_chain(const std::vector<ConvBnPair>& layers, torch::Tensor x) {
  PRETEXT_CHECK(!layers.empty(), ConfigError, "conv_bn_relu_chain: no layers");
  if (!fuses(*layers.front().second, x)) {
    for (size_t i = 0; i < layers.size(); ++i) {
      if (i > 0) x = x.relu_();
      x = conv_bn(*layers[i].first, *layers[i].second, x);
    }
    return x;
  }
  x = layers.front().first->forward(x);
  for (size_t i = 1; i < layers.size(); ++i) x = bn_relu_conv(*layers[i - 1].second, *layers[i].first, x);
  return batch_norm(*layers.back().second, x);
}

torch::Tensor forward_folding_batch_norm(torch::nn::SequentialImpl& sequential, torch::Tensor x) {
  const size_t size = sequential.size();
  const auto conv_at = [&](size_t i) { return i < size ? sequential.ptr(i)->as<torch::nn::Conv2d>() : nullptr; };
  const auto bn_at = [&](size_t i) { return i < size ? sequential.ptr(i)->as<torch::nn::BatchNorm2d>() : nullptr; };
  const auto relu_at = [&](size_t i) { return i < size && sequential.ptr(i)->as<torch::nn::ReLU>() != nullptr; };
  for (size_t i = 0; i < size; ++i) {
    if (conv_at(i) != nullptr && bn_at(i + 1) != nullptr) {
      std::vector<ConvBnPair> chain{{conv_at(i), bn_at(i + 1)}};
      ++i;  // on the chain's last BN
      while (relu_at(i + 1) && conv_at(i + 2) != nullptr && bn_at(i + 3) != nullptr) {
        chain.emplace_back(conv_at(i + 2), bn_at(i + 3));
        i += 3;
      }
      if (chain.size() == 1 && relu_at(i + 1)) {
        x = conv_bn_relu(*chain.front().first, *chain.front().second, x);
        ++i;
        continue;
      }
      x = conv_bn_relu_chain(chain, std::move(x));
      continue;
    }
    const auto& module = sequential.ptr(i);
    if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
      x = batch_norm(*bn, x);
    } else if (auto* bn1d = module->as<torch::nn::BatchNorm1d>()) {
      x = batch_norm(*bn1d, x);
    } else if (auto* nested = dynamic_cast<torch::nn::SequentialImpl*>(module.get())) {
      x = forward_folding_batch_norm(*nested, std::move(x));
    } else {
      x = (sequential.begin() + static_cast<std::ptrdiff_t>(i))->forward(x);
    }
  }
  return x;
}

}  // namespace pretext
