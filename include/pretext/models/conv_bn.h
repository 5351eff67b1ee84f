// Convolution + batch-norm pairs that fold in evaluation mode. In training, BN normalises with
// the batch's statistics and the pair runs as two layers. In eval mode BN is a fixed per-channel
// affine map, so it folds into the convolution's kernel and bias: one layer, one pass over the
// activations instead of two (ConvNet features on Fashion-MNIST: +22–25% images/s in a PyTorch
// experiment here, docs/PERFORMANCE.md). Same function, up to float rounding.
// For encoders written with these helpers, e.g. user encoders registered by name.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

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

// The kernel (in the conv kernel's memory format) and bias of bn(conv(·)) as one convolution, with
// BN's running statistics: what conv_bn() runs in eval mode.
struct FoldedConv {
  torch::Tensor weight;
  torch::Tensor bias;
};
FoldedConv fold_batch_norm(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn);

// conv(relu(bn(x))) in training, keeping only x for the backward pass: relu(bn(x)) — the
// convolution's input, as large as x — is recomputed there from x and the batch's statistics (one
// elementwise pass) instead of being stored. Same values, gradients and running-statistics updates
// as the three layers, up to float rounding. ResNet-18's SimCLR step on Fashion-MNIST peaked
// 293 MiB lower (docs/PERFORMANCE.md, change 4). It applies in training with gradients on, in
// float32 (not under autocast, which halves the stored activations anyway) and outside a
// multi-rank SyncBatchNormScope; otherwise, and in eval mode, the three layers run as they are.
// The same requirements on `conv` as conv_bn(); no double backward.
torch::Tensor bn_relu_conv(torch::nn::BatchNorm2dImpl& bn, torch::nn::Conv2dImpl& conv, const torch::Tensor& x);

// relu(bn(conv(x))). In training (under the same conditions as bn_relu_conv), when the
// convolution reads at most kRecomputedConvMaxInChannels channels — an image stem — only x and
// the output are kept for the backward pass, which runs the convolution again: cheap with few
// input channels, and it saves a tensor as large as the output (ResNet-18's stem on
// Fashion-MNIST: 96 MiB lower peak at batch 2 × 256). Otherwise conv_bn(conv, bn, x).relu_().
constexpr int64_t kRecomputedConvMaxInChannels = 4;
torch::Tensor conv_bn_relu(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

// A chain of conv–BN pairs with ReLU between them and none after the last pair:
// bn_n(conv_n(relu(… relu(bn_1(conv_1(x)))))), as a residual branch or a ConvNet stage. Eval mode
// folds each BN into its convolution (conv_bn); training keeps memory low with bn_relu_conv.
using ConvBnPair = std::pair<torch::nn::Conv2dImpl*, torch::nn::BatchNorm2dImpl*>;
torch::Tensor conv_bn_relu_chain(const std::vector<ConvBnPair>& layers, torch::Tensor x);

// A Sequential's forward in which each run of Conv2d, BatchNorm2d (, ReLU, Conv2d, BatchNorm2d)…
// runs through conv_bn_relu_chain() (a lone Conv2d, BatchNorm2d, ReLU through conv_bn_relu()),
// and every other BatchNorm1d/2d through batch_norm(); nested Sequentials are walked the same
// way, other modules run as they are.
torch::Tensor forward_folding_batch_norm(torch::nn::SequentialImpl& sequential, torch::Tensor x);

// A Sequential that can sit inside another one (a ResNet stage, a ConvNet block): AnyModule needs a
// forward() with concrete types, which nn::Sequential's templated forward lacks.
class StageImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Stage);

}  // namespace pretext
