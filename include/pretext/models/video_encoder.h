// Video encoder: a small 3-D CNN (R3D-style, Tran et al. 2018) over a clip float [B, C, T, H, W]
// → one vector. Four 3×3×3 conv–BN–ReLU stages (width, 2w, 4w, 8w channels; space halved by the
// first three, time by the last two) whose kernels span neighbouring frames, so motion is seen
// from the first layer; a 1×1×1 expansion to 16·width and global average pooling.
// "video-cnn3d": width 16 → dim 256. Clips of any length ≥ 1 and any frame size ≥ 8 work.
#pragma once

#include "pretext/models/encoder.h"

namespace pretext {

class Video3dEncoder : public Encoder {
 public:
  static constexpr int64_t kDefaultWidth = 16;
  explicit Video3dEncoder(const EncoderConfig& config);
  torch::Tensor forward(const torch::Tensor& clips) override;
  int64_t dim() const override { return dim_; }
  bool prefers_channels_last() const override { return false; }

 private:
  torch::nn::Sequential features_{nullptr};
  int64_t dim_;
};

}  // namespace pretext
