// Convolution + batch-norm pairs that fold in evaluation mode. In training, BN normalises with
// the batch's statistics and the pair runs as two layers. In eval mode BN is a fixed per-channel
// affine map, so it folds into the convolution's kernel and bias: one layer, one pass over the
// activations instead of two (ConvNet features on Fashion-MNIST: +22–25% images/s in a PyTorch
// experiment here, docs/PERFORMANCE.md). Same function, up to float rounding.
// For encoders written with these helpers, e.g. user encoders registered by name.
#pragma once

#include <torch/torch.h>

namespace pretext {

// bn(conv(x)); in eval mode (BN tracking running statistics) one convolution with the folded
// kernel and bias, kept in the kernel's memory format. Requires: `conv` pads by kernel / 2
// (the "same" padding of odd kernels), as every built-in encoder's convolutions do; dilation 1;
// `bn` has conv's output channels.
torch::Tensor conv_bn(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

// A Sequential's forward in which each Conv2d directly followed by a BatchNorm2d runs through
// conv_bn(); nested Sequentials are walked the same way, other modules run as they are.
torch::Tensor forward_folding_batch_norm(torch::nn::SequentialImpl& sequential, torch::Tensor x);

}  // namespace pretext
