// ResNet-18/34 (basic blocks) and ResNet-50 (bottlenecks), He et al. 2016, with an optional
// small-image stem (3×3 stride-1 conv, no max-pool), as SimCLR uses for CIFAR.
// dim() = 512 for 18/34 and 2048 for 50 at the default width 64 (scaled by width/64).
#pragma once

#include <vector>

#include "pretext/models/encoder.h"

namespace pretext {

class ResNetEncoder : public Encoder {
 public:
  static constexpr int64_t kDefaultWidth = 64;
  // depth: 18, 34 or 50.
  ResNetEncoder(const EncoderConfig& config, int depth);
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t dim() const override { return dim_; }

 private:
  torch::nn::Sequential stem_{nullptr};
  torch::nn::Sequential stages_{nullptr};
  int64_t dim_;
};

}  // namespace pretext
