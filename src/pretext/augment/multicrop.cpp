#include "pretext/augment/multicrop.h"

#include <algorithm>
#include <cmath>

#include "pretext/core/error.h"
#include "pretext/core/options.h"

namespace pretext {

namespace {

// DINO's local crops are 96 px for 224-px global crops.
constexpr double kLocalToGlobalSide = 96.0 / 224.0;
// Local sides are multiples of this, so that a ViT with 4-px patches tiles them.
constexpr int64_t kLocalSideMultiple = 4;

double entry_for(const std::vector<double>& values, int64_t index) {
  return values[static_cast<size_t>(index) % values.size()];
}

void check_probabilities(const std::vector<double>& values, const char* name) {
  PRETEXT_CHECK(!values.empty(), ConfigError, "multi-crop option '", name, "' needs at least one probability");
  for (double value : values) {
    PRETEXT_CHECK(value >= 0.0 && value <= 1.0, ConfigError, "multi-crop option '", name,
                  "' holds probabilities in [0,1], got ", value);
  }
}

void check_scale(const std::vector<double>& range, const char* name) {
  PRETEXT_CHECK(range.size() == 2, ConfigError, "multi-crop option '", name, "' must be [low, high], got ",
                range.size(), " values");
  PRETEXT_CHECK(range[0] > 0.0 && range[0] <= range[1] && range[1] <= 1.0, ConfigError, "multi-crop option '", name,
                "' must be an area fraction range 0 < low ≤ high ≤ 1, got [", range[0], ", ", range[1], "]");
}

}  // namespace

MultiCropOptions MultiCropOptions::from_json(const nlohmann::json& values, const std::string& where) {
  MultiCropOptions options;
  OptionReader reader(values, where);
  reader.read("global_crops", options.global_crops)
      .read("global_size", options.global_size)
      .read("global_scale", options.global_scale)
      .read("local_crops", options.local_crops)
      .read("local_size", options.local_size)
      .read("local_scale", options.local_scale)
      .read("crop_ratio", options.crop_ratio)
      .read("flip_probability", options.flip_probability)
      .read("jitter_probability", options.jitter_probability)
      .read("brightness", options.brightness)
      .read("contrast", options.contrast)
      .read("saturation", options.saturation)
      .read("hue", options.hue)
      .read("grayscale_probability", options.grayscale_probability)
      .read("blur_sigma", options.blur_sigma)
      .read("solarize_threshold", options.solarize_threshold)
      .read("global_blur_probability", options.global_blur_probability)
      .read("global_solarize_probability", options.global_solarize_probability)
      .read("local_blur_probability", options.local_blur_probability)
      .read("local_solarize_probability", options.local_solarize_probability)
      .read("mean", options.mean)
      .read("std", options.std);
  reader.finish();
  try {
    options.validate();
  } catch (const ConfigError& error) {
    throw ConfigError(where + ": " + error.what());
  }
  return options;
}

nlohmann::json MultiCropOptions::to_json() const {
  return nlohmann::json{{"global_crops", global_crops},
                        {"global_size", global_size},
                        {"global_scale", global_scale},
                        {"local_crops", local_crops},
                        {"local_size", local_size},
                        {"local_scale", local_scale},
                        {"crop_ratio", crop_ratio},
                        {"flip_probability", flip_probability},
                        {"jitter_probability", jitter_probability},
                        {"brightness", brightness},
                        {"contrast", contrast},
                        {"saturation", saturation},
                        {"hue", hue},
                        {"grayscale_probability", grayscale_probability},
                        {"blur_sigma", blur_sigma},
                        {"solarize_threshold", solarize_threshold},
                        {"global_blur_probability", global_blur_probability},
                        {"global_solarize_probability", global_solarize_probability},
                        {"local_blur_probability", local_blur_probability},
                        {"local_solarize_probability", local_solarize_probability},
                        {"mean", mean},
                        {"std", std}};
}

void MultiCropOptions::validate() const {
  PRETEXT_CHECK(global_crops >= 1, ConfigError, "multi-crop option 'global_crops' must be ≥ 1, got ", global_crops);
  PRETEXT_CHECK(local_crops >= 0, ConfigError, "multi-crop option 'local_crops' must be ≥ 0, got ", local_crops);
  PRETEXT_CHECK(global_size >= 0, ConfigError, "multi-crop option 'global_size' must be ≥ 0 (0 = the input's), got ",
                global_size);
  PRETEXT_CHECK(local_size >= 0, ConfigError, "multi-crop option 'local_size' must be ≥ 0 (0 = 96/224 of global), got ",
                local_size);
  check_scale(global_scale, "global_scale");
  check_scale(local_scale, "local_scale");
  check_probabilities(global_blur_probability, "global_blur_probability");
  check_probabilities(global_solarize_probability, "global_solarize_probability");
  check_probabilities({local_blur_probability}, "local_blur_probability");
  check_probabilities({local_solarize_probability}, "local_solarize_probability");
  // The shared colour settings, checked once through ImageAugmentOptions' own rules.
  for (int64_t index = 0; index < std::min<int64_t>(crops(), global_crops + 1); ++index) {
    crop_options(index, std::max<int64_t>(1, global_size)).validate();
  }
}

int64_t MultiCropOptions::local_side(int64_t global_side) const {
  if (local_size > 0) return local_size;
  const double side = kLocalToGlobalSide * static_cast<double>(global_side) / kLocalSideMultiple;
  return std::max<int64_t>(kLocalSideMultiple, std::llround(side) * kLocalSideMultiple);
}

ImageAugmentOptions MultiCropOptions::crop_options(int64_t index, int64_t input_side) const {
  const bool global = index < global_crops;
  const int64_t global_side = global_size > 0 ? global_size : input_side;
  ImageAugmentOptions crop;
  crop.size = global ? global_side : local_side(global_side);
  crop.crop = true;
  crop.crop_scale = global ? global_scale : local_scale;
  crop.crop_ratio = crop_ratio;
  crop.flip_probability = flip_probability;
  crop.jitter_probability = jitter_probability;
  crop.brightness = brightness;
  crop.contrast = contrast;
  crop.saturation = saturation;
  crop.hue = hue;
  crop.grayscale_probability = grayscale_probability;
  crop.blur_sigma = blur_sigma;
  crop.blur_probability = global ? entry_for(global_blur_probability, index) : local_blur_probability;
  crop.solarize_probability = global ? entry_for(global_solarize_probability, index) : local_solarize_probability;
  crop.solarize_threshold = solarize_threshold;
  crop.mean = mean;
  crop.std = std;
  return crop;
}

ImageAugmentOptions asymmetric_view_augment(int64_t view) {
  PRETEXT_CHECK(view == 0 || view == 1, ConfigError, "asymmetric_view_augment: view must be 0 or 1, got ", view);
  MultiCropOptions dino;
  ImageAugmentOptions options = dino.crop_options(view, 0);
  options.size = 0;
  options.crop_scale = {0.08, 1.0};  // BYOL Table 6 (DINO's global 0.4 is for its multi-crop)
  return options;
}

ImageAugmentOptions augment_with_overrides(const ImageAugmentOptions& defaults, const nlohmann::json& overrides,
                                           const std::string& where) {
  PRETEXT_CHECK(overrides.is_object(), ConfigError, where, " must be an object, got ", overrides.dump());
  nlohmann::json merged = defaults.to_json();
  merged.update(overrides);
  return ImageAugmentOptions::from_json(merged, where);
}

MultiCrop::MultiCrop(MultiCropOptions options) : options_(std::move(options)) { options_.validate(); }

std::vector<torch::Tensor> MultiCrop::operator()(const torch::Tensor& images, torch::Generator& generator) const {
  torch::Tensor x = images_to_float(images);
  const int64_t input_side = x.size(2);
  std::vector<torch::Tensor> crops;
  crops.reserve(static_cast<size_t>(options_.crops()));
  for (int64_t index = 0; index < options_.crops(); ++index) {
    // ImageAugment holds only options, so one per crop per call costs nothing measurable.
    ImageAugment augment(options_.crop_options(index, input_side));
    torch::Tensor crop = augment.random_resized_crop(x, generator);
    crop = augment.color_jitter(crop, generator);
    crop = augment.random_grayscale(crop, generator);
    crop = augment.gaussian_blur(crop, generator);
    crop = augment.solarize(crop, generator);
    crops.push_back(augment.normalize(crop));
  }
  return crops;
}

}  // namespace pretext
