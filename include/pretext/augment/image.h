// Batched image augmentation with per-sample random parameters, on the images' device.
// What it represents: SimCLR's view-making pipeline (Chen et al. 2020, appendix A) as tensor
// work — random resized crop and flip as one affine grid_sample, colour jitter as broadcast
// arithmetic, blur as a grouped convolution — with no per-image library calls.
// Requires: uint8 images [B,H,W,C], C = 1 or 3. Guarantees: float [B,C,S,S] output, normalised
// with the options' mean/std; every random draw comes from the generator passed in, so the same
// seed gives the same views, and each sample draws its own parameters.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <vector>

namespace pretext {

struct ImageAugmentOptions {
  int64_t size = 0;  // output side in pixels; 0 = the input's height

  // Random resized crop: area fraction and aspect ratio ranges (SimCLR: 0.08–1, 3/4–4/3).
  bool crop = true;
  std::vector<double> crop_scale{0.08, 1.0};
  std::vector<double> crop_ratio{3.0 / 4.0, 4.0 / 3.0};
  double flip_probability = 0.5;

  // Colour jitter, applied with jitter_probability, in the order brightness, contrast,
  // saturation, hue (a fixed order; torchvision draws a random order). SimCLR strength s = 1:
  // 0.8s, 0.8s, 0.8s, 0.2s. Saturation and hue act only on 3-channel images.
  double jitter_probability = 0.8;
  double brightness = 0.8;
  double contrast = 0.8;
  double saturation = 0.8;
  double hue = 0.2;
  double grayscale_probability = 0.2;

  // Gaussian blur: kernel ~10% of the side (odd, ≥ 3), sigma uniform in blur_sigma.
  double blur_probability = 0.5;
  std::vector<double> blur_sigma{0.1, 2.0};

  // Solarization (BYOL): pixels ≥ threshold become 1 − pixel.
  double solarize_probability = 0.0;
  double solarize_threshold = 0.5;

  // Per-channel normalisation applied last; empty = no normalisation.
  std::vector<double> mean;
  std::vector<double> std;

  // Reads options from JSON (keys = the field names above); unknown keys throw ConfigError.
  static ImageAugmentOptions from_json(const nlohmann::json& values, const std::string& where);
  nlohmann::json to_json() const;
  // Throws ConfigError naming the field when a probability is outside [0,1], a range is
  // reversed, a std is ≤ 0, etc.
  void validate() const;
};

// Random resized crop (area fraction from crop_min_scale to 1) and flip, no photometric changes:
// views that keep an image's meaning (fine-tuning, rotation prediction).
ImageAugmentOptions crop_and_flip_only(double crop_min_scale);

class ImageAugment {
 public:
  explicit ImageAugment(ImageAugmentOptions options);
  const ImageAugmentOptions& options() const { return options_; }

  // The whole pipeline: uint8 [B,H,W,C] → float [B,C,S,S].
  torch::Tensor operator()(const torch::Tensor& images, torch::Generator& generator) const;

  // The stages, each on float [B,C,H,W] in [0,1] (exposed for tests and for tasks that build
  // their own pipeline, e.g. rotation prediction).
  torch::Tensor random_resized_crop(const torch::Tensor& x, torch::Generator& generator) const;
  torch::Tensor color_jitter(const torch::Tensor& x, torch::Generator& generator) const;
  torch::Tensor random_grayscale(const torch::Tensor& x, torch::Generator& generator) const;
  torch::Tensor gaussian_blur(const torch::Tensor& x, torch::Generator& generator) const;
  torch::Tensor solarize(const torch::Tensor& x, torch::Generator& generator) const;
  torch::Tensor normalize(const torch::Tensor& x) const;

 private:
  ImageAugmentOptions options_;
};

// uint8 [B,H,W,C] → float [B,C,H,W] in [0,1], on the input's device.
torch::Tensor images_to_float(const torch::Tensor& images);
// images_to_float + per-channel normalisation (empty mean/std: none): the evaluation transform.
torch::Tensor normalize_images(const torch::Tensor& images, const std::vector<double>& mean,
                               const std::vector<double>& std);
// Per-channel mean and std of uint8 [N,H,W,C] images in [0,1] units, from at most max_images
// evenly spaced ones; a std below one grey level (1/255) is raised to it, so that normalising
// stays finite.
std::pair<std::vector<double>, std::vector<double>> channel_statistics(const torch::Tensor& images,
                                                                       int64_t max_images = 10000);
// Rotates each image of float [B,C,H,W] (square) by quarter_turns[b] × 90° counter-clockwise.
torch::Tensor rotate_quarter_turns(const torch::Tensor& x, const torch::Tensor& quarter_turns);

}  // namespace pretext
