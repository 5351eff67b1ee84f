#include "pretext/augment/preprocess.h"

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
  throw InputError("preprocessing: unknown modality '" + modality + "' (expected image or text)");
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
