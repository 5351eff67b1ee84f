#include "pretext/augment/preprocess.h"

#include "pretext/augment/audio_input.h"
#include "pretext/augment/text.h"
#include "pretext/core/error.h"

namespace pretext {
namespace {

torch::Tensor in_encoder_layout(torch::Tensor x, const Encoder& encoder) {
  return encoder.prefers_channels_last() ? x.contiguous(torch::MemoryFormat::ChannelsLast) : x;
}

}  // namespace

ImagePreprocessor::ImagePreprocessor(Normalization normalization, ImageAugmentOptions finetune_augment)
    : normalization_(std::move(normalization)), finetune_augment_(std::move(finetune_augment)) {
  finetune_augment_.mean = normalization_.mean;
  finetune_augment_.std = normalization_.std;
  finetune_augment_.validate();
}

ImageAugmentOptions ImagePreprocessor::default_finetune_augment() { return crop_and_flip_only(0.5); }

torch::Tensor ImagePreprocessor::input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const {
  return in_encoder_layout(normalize_images(batch.input.to(device), normalization_.mean, normalization_.std), encoder);
}

torch::Tensor ImagePreprocessor::augmented_input(const Batch& batch, const Encoder& encoder,
                                                 const torch::Device& device, torch::Generator& generator) const {
  ImageAugmentOptions options = finetune_augment_;
  if (options.size == 0) options.size = batch.input.size(1);
  return in_encoder_layout(ImageAugment(options)(batch.input.to(device), generator), encoder);
}

nlohmann::json ImagePreprocessor::to_json() const {
  return {{"modality", "image"}, {"mean", normalization_.mean}, {"std", normalization_.std}};
}

TextPreprocessor::TextPreprocessor(int64_t max_length) : max_length_(max_length) {
  PRETEXT_CHECK(max_length_ >= 4, ConfigError, "text preprocessing: max_length must be ≥ 4 tokens, got ", max_length_);
}

torch::Tensor TextPreprocessor::input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const {
  return format_single(batch, max_length_).ids.to(device);
}

torch::Tensor TextPreprocessor::augmented_input(const Batch& batch, const Encoder& encoder, const torch::Device& device,
                                                torch::Generator& generator) const {
  return input(batch, encoder, device);
}

nlohmann::json TextPreprocessor::to_json() const { return {{"modality", "text"}, {"max_length", max_length_}}; }

AudioPreprocessor::AudioPreprocessor(LogMelOptions log_mel, AudioAugmentOptions finetune_augment)
    : log_mel_(std::move(log_mel)), finetune_augment_(std::move(finetune_augment)) {
  finetune_augment_.validate();
}

AudioAugmentOptions AudioPreprocessor::default_finetune_augment() {
  AudioAugmentOptions augment;
  augment.crop_seconds = 0;
  augment.noise_probability = 0.5;
  augment.noise_snr_min_db = 10;
  augment.shift_seconds = 0.05;
  augment.time_mask_frames = 8;
  augment.freq_mask_bins = 6;
  return augment;
}

torch::Tensor AudioPreprocessor::input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const {
  PRETEXT_CHECK(batch.extra.defined(), InputError, "audio preprocessing needs waveforms with lengths");
  return audio_frames(log_mel_, batch.input.to(device), batch.extra);
}

torch::Tensor AudioPreprocessor::augmented_input(const Batch& batch, const Encoder& encoder,
                                                 const torch::Device& device, torch::Generator& generator) const {
  PRETEXT_CHECK(batch.extra.defined(), InputError, "audio preprocessing needs waveforms with lengths");
  auto [waveforms, lengths] = augment_waveforms(batch.input.to(device), batch.extra, log_mel_.options().sample_rate,
                                                finetune_augment_, generator);
  return spec_augment(audio_frames(log_mel_, waveforms, lengths), finetune_augment_, generator);
}

nlohmann::json AudioPreprocessor::to_json() const {
  return {{"modality", "audio"},
          {"sample_rate", log_mel_.options().sample_rate},
          {"log_mel", log_mel_.options().to_json()},
          {"finetune_augment", finetune_augment_.to_json()}};
}

VideoPreprocessor::VideoPreprocessor(Normalization normalization, VideoClipOptions clips)
    : normalization_(std::move(normalization)), clips_(std::move(clips)) {
  clips_.validate("video preprocessing");
}

torch::Tensor VideoPreprocessor::input(const Batch& batch, const Encoder& encoder, const torch::Device& device) const {
  const int64_t frames = batch.input.size(1);
  const int64_t span = clip_span(clips_, frames);
  PRETEXT_CHECK(span <= frames, InputError, "clips of ", clips_.clip_frames, " frames every ", clips_.clip_stride,
                " need videos of ", span, " frames, these have ", frames);
  auto starts = torch::full({batch.size()}, (frames - span) / 2, torch::kLong);
  return clips_to_input(take_clips(batch.input.to(device), starts, clips_), normalization_.mean, normalization_.std);
}

torch::Tensor VideoPreprocessor::augmented_input(const Batch& batch, const Encoder& encoder,
                                                 const torch::Device& device, torch::Generator& generator) const {
  auto starts = random_clip_starts(batch.size(), batch.input.size(1), clips_, generator);
  return augment_clips(take_clips(batch.input.to(device), starts, clips_), clips_, normalization_.mean,
                       normalization_.std, generator);
}

nlohmann::json VideoPreprocessor::to_json() const {
  return {{"modality", "video"},
          {"mean", normalization_.mean},
          {"std", normalization_.std},
          {"clips", clips_.to_json()}};
}

PreprocessorPtr preprocessor_from_json(const nlohmann::json& values) {
  PRETEXT_CHECK(values.is_object(), InputError, "preprocessing: expected an object, got ", values.dump());
  const std::string modality = values.value("modality", "image");
  if (modality == "image") {
    PRETEXT_CHECK(values.contains("mean") && values.contains("std"), InputError,
                  "preprocessing: an image preprocessor needs 'mean' and 'std', got ", values.dump());
    return std::make_shared<ImagePreprocessor>(
        Normalization{values["mean"].get<std::vector<double>>(), values["std"].get<std::vector<double>>()});
  }
  if (modality == "text") {
    PRETEXT_CHECK(values.contains("max_length") && values["max_length"].is_number_integer(), InputError,
                  "preprocessing: a text preprocessor needs an integer 'max_length', got ", values.dump());
    return std::make_shared<TextPreprocessor>(values["max_length"].get<int64_t>());
  }
  try {
    if (modality == "audio") {
      return std::make_shared<AudioPreprocessor>(
          LogMelOptions::from_json(values.at("log_mel")),
          values.contains("finetune_augment") ? AudioAugmentOptions::from_json(values.at("finetune_augment"))
                                              : AudioPreprocessor::default_finetune_augment());
    }
    if (modality == "video") {
      return std::make_shared<VideoPreprocessor>(
          Normalization{values.at("mean").get<std::vector<double>>(), values.at("std").get<std::vector<double>>()},
          VideoClipOptions::from_json(values.at("clips"), "preprocessing: clips"));
    }
  } catch (const nlohmann::json::exception& error) {
    throw InputError("preprocessing: a " + modality + " preprocessor's entry is incomplete (" + error.what() +
                     "): " + values.dump());
  }
  throw InputError("preprocessing: unknown modality '" + modality + "' (expected image, text, audio or video)");
}

PreprocessorPtr preprocessor_from_config(const nlohmann::json& config) {
  if (config.contains("preprocessing")) return preprocessor_from_json(config["preprocessing"]);
  PRETEXT_CHECK(config.contains("normalization"), InputError,
                "the checkpoint's config has no 'preprocessing' (or 'normalization') entry");
  nlohmann::json image = config["normalization"];
  image["modality"] = "image";
  return preprocessor_from_json(image);
}

}  // namespace pretext
