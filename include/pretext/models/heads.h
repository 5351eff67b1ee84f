// Heads that sit on an encoder: projectors and predictors (MLPs), classifiers.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace pretext {

struct MLPOptions {
  int64_t in_dim = 512;
  int64_t hidden_dim = 2048;
  int64_t out_dim = 128;
  int64_t layers = 2;              // linear layers; 1 = a single Linear
  bool batch_norm = true;          // BN after every hidden linear layer
  bool last_batch_norm = false;    // BN (no affine) on the output, as Barlow Twins/SimSiam use
  bool bias = true;
};

// Linear → [BN] → ReLU → … → Linear: SimCLR's projection head g(·) with layers = 2.
class MLPImpl : public torch::nn::Module {
 public:
  explicit MLPImpl(const MLPOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential net_{nullptr};
};
TORCH_MODULE(MLP);

}  // namespace pretext
