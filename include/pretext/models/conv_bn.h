// Convolution + batch-norm pairs that fold in evaluation mode. In training, BN normalises with
// the batch's statistics and the pair runs as two layers. In eval mode BN is a fixed per-channel
// affine map, so it folds into the convolution's kernel and bias: one layer, one pass over the
// activations instead of two (ConvNet features on Fashion-MNIST: +22–25% images/s in a PyTorch
// experiment here, docs/PERFORMANCE.md). Same function, up to float rounding.
// For encoders written with these helpers, e.g. user encoders registered by name.
#pragma once

#include <torch/torch.h>

#include "pretext/core/process_group.h"

namespace pretext {

// Synchronised batch norm (SyncBN, as torch.nn.SyncBatchNorm): while a scope is alive on this
// thread, batch norm in training mode — in conv_bn() and forward_folding_batch_norm(), hence
// every built-in ConvNet/ResNet layer and MLP head — normalises with the mean and variance of the
// whole global batch (every rank's samples), with gradients that flow across ranks. Without a
// scope, or with one rank, batch norm is LibTorch's own. Scopes nest; the innermost wins.
class SyncBatchNormScope {
 public:
  explicit SyncBatchNormScope(ProcessGroupPtr group);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;

 private:
  ProcessGroupPtr previous_;
};

// bn(x), synchronised inside a SyncBatchNormScope (see above).
torch::Tensor batch_norm(torch::nn::BatchNorm1dImpl& bn, const torch::Tensor& x);
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

// bn(conv(x)); in eval mode (BN tracking running statistics) one convolution with the folded
// kernel and bias, kept in the kernel's memory format. Requires: `conv` pads by kernel / 2
// (the "same" padding of odd kernels), as every built-in encoder's convolutions do; dilation 1;
// `bn` has conv's output channels.
torch::Tensor conv_bn(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

// A Sequential's forward in which each Conv2d directly followed by a BatchNorm2d runs through
// conv_bn(), and every other BatchNorm1d/2d through batch_norm(); nested Sequentials are walked
// the same way, other modules run as they are.
torch::Tensor forward_folding_batch_norm(torch::nn::SequentialImpl& sequential, torch::Tensor x);

}  // namespace pretext
