// Audio encoder: packed log-mel frames (augment/audio.h: [B, 1 + mels, T], row 0 the validity
// mask) → one vector per clip. A convolutional front end over the spectrogram (two 3×3 conv–BN–
// ReLU layers of stride 2 over mel and time: shift-tolerant in pitch, 4× fewer time steps), a
// linear map of each time step's feature column to `width`, sinusoidal positions, pre-norm
// Transformer blocks with a key padding mask, and the mean of the valid steps.
// "audio-transformer": width 128 (heads = width / 32), depth 4.
// Guarantees: padding never reaches a valid step — the front end's activations are zeroed past
// each clip's end (as the convolutions' own zero padding) and the Transformer masks padding keys —
// so in eval mode a clip's vector is the same alone or in a batch padded to a longer clip.
#pragma once

#include <utility>

#include "pretext/models/encoder.h"
#include "pretext/models/transformer.h"

namespace pretext {

class AudioTransformerEncoder : public Encoder {
 public:
  static constexpr int64_t kDefaultWidth = 128;
  static constexpr int64_t kDefaultDepth = 4;
  // Time steps per output step: the front end's two stride-2 convolutions.
  static constexpr int64_t kFramesPerStep = 4;
  explicit AudioTransformerEncoder(const EncoderConfig& config);

  torch::Tensor forward(const torch::Tensor& packed) override;
  // {hidden float [B, T', width], valid bool [B, T']}: every step's final state, T' = ⌈⌈T/2⌉/2⌉.
  std::pair<torch::Tensor, torch::Tensor> forward_steps(const torch::Tensor& packed);
  // The same with some steps' inputs replaced by a learned mask vector after the front end
  // (masked prediction, as wav2vec 2.0 and HuBERT mask their latent frames): masked bool [B, T'].
  std::pair<torch::Tensor, torch::Tensor> forward_steps(const torch::Tensor& packed, const torch::Tensor& masked);
  // Steps for T input frames.
  static int64_t steps_for(int64_t frames) { return ((frames + 1) / 2 + 1) / 2; }
  int64_t dim() const override { return width_; }
  int64_t mels() const { return mels_; }
  bool prefers_channels_last() const override { return false; }

 private:
  int64_t mels_;
  int64_t width_;
  torch::nn::Sequential front1_{nullptr}, front2_{nullptr};
  torch::nn::Linear project_{nullptr};
  torch::Tensor mask_embedding_;
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
};

// Sinusoidal position encodings [length, dim] (Vaswani et al. 2017 §3.5).
torch::Tensor sinusoidal_positions(int64_t length, int64_t dim, const torch::TensorOptions& options);

}  // namespace pretext
