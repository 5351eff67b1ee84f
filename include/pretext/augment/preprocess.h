// Preprocessor: how a raw Batch becomes an encoder's input outside a pretext task — feature
// extraction, the probes, fine-tuning, the k-NN monitor. It is the one modality-specific step
// between a Loader and an encoder there, and part of a checkpoint (to_json), so that evaluation
// prepares inputs exactly as pretraining measured them (DESIGN: "preprocessing state").
//   image — uint8 [B,H,W,C] → float [B,C,H,W] normalised per channel (channels-last for
//           encoders that prefer it); fine-tuning adds crop (0.5–1) + flip, label-preserving
//   text  — windows (data/text_batch.h) → [CLS] window [SEP], right-padded; no augmentation
//   audio — waveforms + lengths → packed standardised log-mel frames (augment/audio_input.h);
//           fine-tuning adds gain, noise, shift, speed and SpecAugment
//   video — uint8 [B,T,H,W,C] → the centre clip (clip_frames every clip_stride) as float
//           [B,C,T',H,W]; fine-tuning takes a random clip with crop and brightness/contrast jitter
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "pretext/augment/audio.h"
#include "pretext/augment/image.h"
#include "pretext/augment/video.h"
#include "pretext/data/batch.h"
#include "pretext/models/encoder.h"

namespace pretext {

struct Normalization {
  std::vector<double> mean;
  std::vector<double> std;
};

class Preprocessor {
 public:
  virtual ~Preprocessor() = default;
  // The deterministic input for `encoder`, on `device`.
  virtual torch::Tensor input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const = 0;
  // The input with label-preserving augmentation, for fine-tuning (draws from `generator`).
  virtual torch::Tensor augmented_input(const Batch& batch, const Encoder& encoder, const torch::Device& device,
                                        torch::Generator& generator) const = 0;
  // {"modality": …, …}: what preprocessor_from_json() rebuilds.
  virtual nlohmann::json to_json() const = 0;
};

using PreprocessorPtr = std::shared_ptr<const Preprocessor>;

class ImagePreprocessor : public Preprocessor {
 public:
  // finetune_augment.size 0 = the images' own size; its mean/std are replaced by `normalization`.
  explicit ImagePreprocessor(Normalization normalization,
                             ImageAugmentOptions finetune_augment = default_finetune_augment());
  // Random resized crop of 50–100% of the area and a flip: changes no Fashion-MNIST or CIFAR label.
  static ImageAugmentOptions default_finetune_augment();

  torch::Tensor input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const override;
  torch::Tensor augmented_input(const Batch& batch, const Encoder& encoder, const torch::Device& device,
                                torch::Generator& generator) const override;
  nlohmann::json to_json() const override;
  const Normalization& normalization() const { return normalization_; }

 private:
  Normalization normalization_;
  ImageAugmentOptions finetune_augment_;
};

class TextPreprocessor : public Preprocessor {
 public:
  // max_length: the formatted length in tokens ([CLS] and [SEP] included), the encoder's.
  explicit TextPreprocessor(int64_t max_length);

  torch::Tensor input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const override;
  // Text has no label-preserving augmentation here: the same as input().
  torch::Tensor augmented_input(const Batch& batch, const Encoder& encoder, const torch::Device& device,
                                torch::Generator& generator) const override;
  nlohmann::json to_json() const override;
  int64_t max_length() const { return max_length_; }

 private:
  int64_t max_length_;
};

class AudioPreprocessor : public Preprocessor {
 public:
  explicit AudioPreprocessor(LogMelOptions log_mel, AudioAugmentOptions finetune_augment = default_finetune_augment());
  // Gain, noise, a shift, speed 0.9–1.1 and two small SpecAugment masks of each kind; no crop.
  static AudioAugmentOptions default_finetune_augment();

  torch::Tensor input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const override;
  torch::Tensor augmented_input(const Batch& batch, const Encoder& encoder, const torch::Device& device,
                                torch::Generator& generator) const override;
  nlohmann::json to_json() const override;
  const LogMelOptions& log_mel_options() const { return log_mel_.options(); }

 private:
  LogMel log_mel_;
  AudioAugmentOptions finetune_augment_;
};

class VideoPreprocessor : public Preprocessor {
 public:
  VideoPreprocessor(Normalization normalization, VideoClipOptions clips);

  torch::Tensor input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const override;
  torch::Tensor augmented_input(const Batch& batch, const Encoder& encoder, const torch::Device& device,
                                torch::Generator& generator) const override;
  nlohmann::json to_json() const override;
  const VideoClipOptions& clips() const { return clips_; }

 private:
  Normalization normalization_;
  VideoClipOptions clips_;
};

// Rebuilds a preprocessor from to_json(), or from a checkpoint config of pretext 0.1's first
// releases ({"normalization": {"mean", "std"}} beside the other keys). Throws InputError when
// the modality is unknown or a field is missing.
PreprocessorPtr preprocessor_from_json(const nlohmann::json& values);
// The same from a whole checkpoint config: its "preprocessing" object, or its "normalization".
PreprocessorPtr preprocessor_from_config(const nlohmann::json& config);

}  // namespace pretext
