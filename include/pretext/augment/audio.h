// Audio front end and augmentation, on batches where the model runs.
//   LogMel — waveforms float [B, L] (+ lengths) → log-mel spectrograms [B, mels, frames]: a
//            periodic Hann-windowed STFT through torch::stft, power spectrum, a triangular mel
//            filterbank (HTK mel scale, Slaney-style area normalisation off), log(x + 1e-6);
//            frames are centred (reflect padding of n_fft/2), so a clip of L samples has
//            1 + L / hop frames, and a clip's valid frames are 1 + length / hop.
//   AudioAugment — per-sample, seeded: random crop, gain, additive noise at a random SNR,
//            time shift, speed perturbation (on waveforms); SpecAugment time and frequency
//            masks (on log-mels).
//   Packed frames — the one tensor an audio encoder reads: [B, 1 + mels, frames], row 0 the
//            validity mask (1 for a real frame, 0 for padding), rows 1… the log-mels, padding
//            frames set to 0.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <utility>

namespace pretext {

struct LogMelOptions {
  int64_t sample_rate = 16000;
  int64_t window = 400;  // samples (25 ms at 16 kHz)
  int64_t hop = 160;     // samples (10 ms)
  int64_t n_fft = 512;   // ≥ window
  int64_t mels = 64;
  double f_min = 20;
  double f_max = 0;      // 0 = sample_rate / 2
  void validate() const;  // ConfigError naming the field
  nlohmann::json to_json() const;
  static LogMelOptions from_json(const nlohmann::json& values);
};

// The triangular filterbank [mels, n_fft/2 + 1] (HTK mel scale: 2595·log10(1 + f/700)).
torch::Tensor mel_filterbank(const LogMelOptions& options);

class LogMel {
 public:
  explicit LogMel(LogMelOptions options);
  // waveforms float [B, L] → float [B, mels, 1 + L / hop] (on the waveforms' device).
  torch::Tensor operator()(const torch::Tensor& waveforms) const;
  // int64 [B] sample lengths → int64 [B] valid frame counts (1 + length / hop).
  torch::Tensor frames_for(const torch::Tensor& lengths) const;
  const LogMelOptions& options() const { return options_; }

 private:
  LogMelOptions options_;
  torch::Tensor filterbank_;  // [mels, n_fft/2 + 1], CPU; moved to the input's device on use
  torch::Tensor window_;      // periodic Hann [window]
};

// log_mels [B, mels, T], frames int64 [B] → [B, 1 + mels, T] (row 0 = mask, padding zeroed).
torch::Tensor pack_frames(const torch::Tensor& log_mels, const torch::Tensor& frames);
// The inverse: {log_mels [B, mels, T], mask bool [B, T]}.
std::pair<torch::Tensor, torch::Tensor> unpack_frames(const torch::Tensor& packed);

struct AudioAugmentOptions {
  double crop_seconds = 1.0;            // random segment of this length (shorter clips: whole); 0 = no crop
  double gain_db = 6;                   // uniform in ±gain_db
  double noise_probability = 0.8;
  double noise_snr_min_db = 5;          // white noise at an SNR uniform in [min, max] dB
  double noise_snr_max_db = 30;
  double shift_seconds = 0.1;           // circular shift within the valid part, uniform in ±shift
  double speed_min = 0.9;               // speed perturbation: resampled by a factor in [min, max]
  double speed_max = 1.1;               //   (linear interpolation; length changes accordingly)
  int64_t time_masks = 2;               // SpecAugment: masks of up to time_mask_frames frames
  int64_t time_mask_frames = 10;
  int64_t freq_masks = 2;               // and of up to freq_mask_bins mel bins
  int64_t freq_mask_bins = 8;
  void validate() const;                // ConfigError naming the field
  nlohmann::json to_json() const;
  static AudioAugmentOptions from_json(const nlohmann::json& values);  // unknown keys are errors
  // Everything off: what evaluation uses.
  static AudioAugmentOptions none();
};

// Waveform augmentation, every parameter drawn per sample from `generator`.
// waveforms float [B, L] zero-padded, lengths int64 [B] → {waveforms [B, L'], lengths [B]}
// (L' = the longest result; crop shortens to crop_seconds, speed changes lengths).
std::pair<torch::Tensor, torch::Tensor> augment_waveforms(const torch::Tensor& waveforms, const torch::Tensor& lengths,
                                                          int64_t sample_rate, const AudioAugmentOptions& options,
                                                          torch::Generator& generator);

// SpecAugment (Park et al. 2019) on packed frames [B, 1 + mels, T]: masked log-mel values are set
// to 0 (the features are standardised upstream, so 0 is the mean); the validity row is untouched.
torch::Tensor spec_augment(const torch::Tensor& packed, const AudioAugmentOptions& options,
                           torch::Generator& generator);

}  // namespace pretext
