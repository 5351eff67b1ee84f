// The one path from waveforms to an audio encoder's input, shared by the audio tasks and the
// preprocessor: log-mel spectrogram (augment/audio.h), each clip standardised over its valid
// frames (zero mean, unit variance: the loudness of a recording says nothing about its words,
// and SpecAugment's masks then set values to the mean), packed with the validity row.
#pragma once

#include <torch/torch.h>

#include "pretext/augment/audio.h"

namespace pretext {

// waveforms float [B, L] (zero-padded), lengths int64 [B] → packed [B, 1 + mels, frames].
torch::Tensor audio_frames(const LogMel& log_mel, const torch::Tensor& waveforms, const torch::Tensor& lengths);

}  // namespace pretext
