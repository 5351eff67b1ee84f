// Pretext tasks on speech and other audio. Both read raw batches from an AudioDataset
// (waveforms float [B, L], lengths int64 [B] in Batch::extra) and make log-mel frames with the
// run's front end (TaskContext::preprocessing["log_mel"], the one the preprocessor stores).
//   audio-contrastive — COLA (Saeed et al. 2021) / SimCLR on sound: two random segments of the
//       same recording, each augmented (gain, noise, shift, speed, SpecAugment), an MLP projector
//       and the NT-Xent loss over the global batch; the other recordings are the negatives.
//   masked-frames — masked spectrogram prediction: spans of the encoder's time steps are hidden
//       (their input frames set to the mean and their latent replaced by a learned vector, as
//       wav2vec 2.0 masks its latents), and a small decoder (Linear, GELU, Linear) predicts each
//       step's log-mel frames: the mean squared error on the hidden valid frames plus
//       visible_weight times that on the visible ones. MAE's choice — a linear head, hidden frames
//       only — left the mean-pooled features far below a random encoder's under k-NN and the
//       linear probe (docs/RESULTS.md), so the defaults are a 256-wide decoder and weight 1.
//   masked-units — HuBERT's first iteration (Hsu et al. 2021) on a small scale: every encoder
//       step gets a discrete unit, the nearest of k-means centroids over MFCC-like features of
//       its frames (the DCT of the log-mels, which drops the pitch harmonics, and a delta); the
//       centroids are fitted once, on the first batch, and kept in checkpoints. Spans of steps are
//       hidden as in masked-frames and a linear head predicts every valid step's unit: the
//       cross-entropy on the hidden steps plus visible_weight times that on the visible ones.
//       HuBERT scores the hidden steps only (visible_weight 0); here that left the mean-pooled
//       features below a random encoder's under k-NN (docs/RESULTS.md), so the default is 1.
// Requires an encoder with per-step outputs (audio-transformer) for masked-frames and masked-units.
#pragma once

#include "pretext/augment/audio.h"
#include "pretext/models/audio_encoder.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/simclr.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct AudioContrastiveOptions : ContrastiveOptions {
  AudioAugmentOptions augment;       // each view: a crop_seconds segment, augmented
  static AudioContrastiveOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

class AudioContrastiveTask : public PretextTask {
 public:
  AudioContrastiveTask(const TaskContext& context, AudioContrastiveOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

 private:
  torch::Tensor view(const Batch& batch);
  AudioContrastiveOptions options_;
  LogMel log_mel_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
};

struct MaskedFramesOptions {
  double mask_ratio = 0.5;     // expected fraction of valid steps hidden
  int64_t mask_span = 3;       // hidden spans of this many encoder steps (3 steps = 12 frames = 120 ms)
  double visible_weight = 1;   // the loss on the visible steps' frames, relative to the hidden ones'
  int64_t decoder_hidden = 256;  // > 0: a hidden layer (Linear, GELU) between the encoder and the frames
  AudioAugmentOptions augment = mild_augment();  // the input before masking
  static AudioAugmentOptions mild_augment();     // crop 1 s, gain and noise only
  static MaskedFramesOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

// Hidden steps for a batch: bool [B, steps], spans of `span` steps whose starts are drawn with
// probability ratio / span per valid step (about `ratio` of the valid steps end up hidden, minus
// overlaps), never on padding; every row with a valid step hides at least one.
torch::Tensor draw_span_mask(const torch::Tensor& valid, double ratio, int64_t span, torch::Generator& generator);

class MaskedFramesTask : public PretextTask {
 public:
  MaskedFramesTask(const TaskContext& context, MaskedFramesOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }
  // The loss of `prediction` [B, steps, 4·mels] against packed frames [B, 1 + mels, T] on the
  // hidden steps' valid frames (exposed for the independent check in the tests).
  static torch::Tensor masked_frames_loss(const torch::Tensor& prediction, const torch::Tensor& packed,
                                          const torch::Tensor& hidden);

 private:
  MaskedFramesOptions options_;
  LogMel log_mel_;
  std::shared_ptr<AudioTransformerEncoder> encoder_;
  torch::nn::Linear decoder_{nullptr};  // only with decoder_hidden > 0
  torch::nn::Linear head_{nullptr};
};

struct MaskedUnitsOptions {
  int64_t units = 50;             // k-means clusters (HuBERT's first iteration: 100, over MFCCs)
  int64_t cepstra = 13;           // DCT coefficients of the log-mels per step (as MFCCs keep 13)
  int64_t kmeans_iterations = 30;
  double visible_weight = 1;      // the loss on the visible steps' units, relative to the hidden ones'
  double mask_ratio = 0.5;        // expected fraction of valid steps hidden
  int64_t mask_span = 3;          // hidden spans of this many encoder steps (120 ms)
  AudioAugmentOptions augment = MaskedFramesOptions::mild_augment();
  static MaskedUnitsOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

// Unit features per encoder step, float [B, steps, 2·cepstra], from packed frames [B, 1 + mels, T]:
// the first `cepstra` DCT-II coefficients (over mels) of the step's 4 frames' mean log-mel, then
// those of its last two frames' mean minus its first two frames' mean (a delta).
torch::Tensor step_cepstra(const torch::Tensor& packed, int64_t cepstra);

// Lloyd's k-means with k-means++ seeding: points float [N, D] (N ≥ k) → centroids float [k, D].
torch::Tensor kmeans(const torch::Tensor& points, int64_t k, int64_t iterations, torch::Generator& generator);
// The index of each point's nearest centroid (squared Euclidean): int64 [N].
torch::Tensor nearest_centroid(const torch::Tensor& points, const torch::Tensor& centroids);

class MaskedUnitsTask : public PretextTask {
 public:
  MaskedUnitsTask(const TaskContext& context, MaskedUnitsOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }
  // Mean cross-entropy of `logits` [B, steps, units] against `units` int64 [B, steps] over the
  // hidden steps (bool [B, steps]; exposed for the independent check in the tests).
  static torch::Tensor masked_units_loss(const torch::Tensor& logits, const torch::Tensor& units,
                                         const torch::Tensor& hidden);
  bool fitted() const { return fitted_.item<bool>(); }

 private:
  void fit_units(const torch::Tensor& features);
  // The unit of every step from its features [B, steps, 2·cepstra]: int64 [B, steps].
  torch::Tensor units_of(const torch::Tensor& features) const;
  MaskedUnitsOptions options_;
  LogMel log_mel_;
  std::shared_ptr<AudioTransformerEncoder> encoder_;
  torch::nn::Linear head_{nullptr};
  // Buffers, so that checkpoints keep the units: centroids [units, 2·cepstra] of standardised
  // features, the features' mean and std [2·cepstra], and whether they are fitted (bool []).
  torch::Tensor centroids_, feature_mean_, feature_std_, fitted_;
};

// The log-mel front end a task context carries (its preprocessing's "log_mel"); ConfigError when
// the run's data is not audio.
LogMelOptions log_mel_from_context(const TaskContext& context, const std::string& task);

}  // namespace pretext
