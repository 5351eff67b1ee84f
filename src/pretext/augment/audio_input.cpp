#include "pretext/augment/audio_input.h"

#include "pretext/core/error.h"

namespace pretext {

torch::Tensor audio_frames(const LogMel& log_mel, const torch::Tensor& waveforms, const torch::Tensor& lengths) {
  PRETEXT_CHECK(waveforms.dim() == 2 && lengths.dim() == 1 && lengths.size(0) == waveforms.size(0), InputError,
                "audio input must be waveforms [B, L] with lengths [B], got ", waveforms.sizes(), " and ",
                lengths.sizes());
  auto mels = log_mel(waveforms.to(torch::kFloat32));                                // [B, mels, T]
  auto frames = log_mel.frames_for(lengths.to(torch::kCPU)).clamp_max(mels.size(2));  // [B]
  auto valid = (torch::arange(mels.size(2), torch::kLong).unsqueeze(0) < frames.unsqueeze(1))
                   .to(mels.device(), mels.scalar_type())
                   .unsqueeze(1);  // [B, 1, T]
  const auto count = (valid.sum({1, 2}, /*keepdim=*/true) * mels.size(1)).clamp_min(1);
  auto mean = (mels * valid).sum({1, 2}, true) / count;
  auto variance = ((mels - mean).square() * valid).sum({1, 2}, true) / count;
  auto standardised = (mels - mean) / (variance + 1e-5).sqrt();
  return pack_frames(standardised, frames.to(mels.device()));
}

}  // namespace pretext
