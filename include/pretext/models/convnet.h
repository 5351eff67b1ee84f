// ConvNet: a small convolutional encoder that trains fast on a CPU — the demo's default.
// Three stages of (conv3×3 → BN → ReLU) ×2 with a 2×2 max-pool between stages, a 1×1
// expansion (conv → BN → ReLU) to 16·width channels, then global average pooling.
// width (default 32) → channels width, 2·width, 4·width; dim() = 16·width (512 by default).
#pragma once

#include "pretext/models/encoder.h"

namespace pretext {

class ConvNetEncoder : public Encoder {
 public:
  static constexpr int64_t kDefaultWidth = 32;
  explicit ConvNetEncoder(const EncoderConfig& config);
  torch::Tensor forward(const torch::Tensor& x) override;
  int64_t dim() const override { return dim_; }

 private:
  torch::nn::Sequential features_{nullptr};
  int64_t dim_;
};

}  // namespace pretext
