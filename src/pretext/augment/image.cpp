#include "pretext/augment/image.h"

#include <algorithm>
#include <cmath>

#include "pretext/core/error.h"
#include "pretext/core/options.h"
#include "pretext/core/runtime.h"

namespace pretext {

namespace F = torch::nn::functional;

namespace {

constexpr double kPi = 3.14159265358979323846;
// ITU-R BT.601 luma weights, as torchvision's rgb_to_grayscale uses.
constexpr double kLumaRed = 0.299;
constexpr double kLumaGreen = 0.587;
constexpr double kLumaBlue = 0.114;
// torchvision's RandomResizedCrop draws up to 10 crops before falling back to a central one.
constexpr int64_t kCropTries = 10;

const auto kCpuDouble = torch::TensorOptions().dtype(torch::kDouble);

// Which samples a stage acts on: a CPU bool [B], each true with `probability`.
torch::Tensor choose(int64_t count, double probability, torch::Generator& generator) {
  return torch::rand({count}, generator, kCpuDouble).lt(probability);
}

// Per-sample parameters (CPU double [B]) as a [N,1,1,1] tensor shaped for broadcasting over the
// chosen samples' images.
torch::Tensor per_sample(const torch::Tensor& values, const torch::Tensor& chosen_index, const torch::Tensor& x) {
  return values.index_select(0, chosen_index).to(x.options()).view({-1, 1, 1, 1});
}

// Runs `stage(chosen_images, chosen_index)` on the samples where `chosen` (CPU bool [B]) holds and
// leaves the others untouched, so that an unchosen sample is bit-identical to its input and the
// work scales with the number chosen.
template <class Stage>
torch::Tensor apply_to_chosen(const torch::Tensor& x, const torch::Tensor& chosen, Stage stage) {
  torch::Tensor chosen_index = chosen.nonzero().flatten();
  const int64_t count = chosen_index.size(0);
  if (count == 0) return x;
  if (count == x.size(0)) return stage(x, chosen_index);
  torch::Tensor device_index = chosen_index.to(x.device());
  torch::Tensor result = stage(x.index_select(0, device_index), chosen_index);
  return x.index_copy(0, device_index, result.to(x.dtype()));
}

// [N,3,H,W] → [N,1,H,W] luma.
torch::Tensor luma(const torch::Tensor& x) {
  return x.select(1, 0).mul(kLumaRed).add_(x.select(1, 1), kLumaGreen).add_(x.select(1, 2), kLumaBlue).unsqueeze(1);
}

// The grey image a contrast/saturation blend pulls towards: luma for RGB, the image for grey.
torch::Tensor grey_of(const torch::Tensor& x) { return x.size(1) == 3 ? luma(x) : x; }

// factor·x + (1 − factor)·towards, clamped to [0,1] (torchvision's _blend).
torch::Tensor blend(const torch::Tensor& x, const torch::Tensor& towards, const torch::Tensor& factor) {
  return (x * factor).add_(towards * (1 - factor)).clamp_(0, 1);
}

void check_probability(double value, const char* name) {
  PRETEXT_CHECK(value >= 0.0 && value <= 1.0, ConfigError, "augment option '", name,
                "' is a probability and must be in [0,1], got ", value);
}

void check_range(const std::vector<double>& range, const char* name, double minimum_exclusive) {
  PRETEXT_CHECK(range.size() == 2, ConfigError, "augment option '", name, "' must be [low, high], got ",
                range.size(), " values");
  PRETEXT_CHECK(range[0] > minimum_exclusive && range[1] > minimum_exclusive, ConfigError, "augment option '",
                name, "' must be greater than ", minimum_exclusive, ", got [", range[0], ", ", range[1], "]");
  PRETEXT_CHECK(range[0] <= range[1], ConfigError, "augment option '", name, "' is reversed: [", range[0], ", ",
                range[1], "]");
}

void check_non_negative(double value, const char* name) {
  PRETEXT_CHECK(value >= 0.0, ConfigError, "augment option '", name, "' must be ≥ 0, got ", value);
}

torch::Tensor check_float_images(const torch::Tensor& x, const char* stage) {
  PRETEXT_CHECK(x.dim() == 4, InputError, stage, ": expected float images [B,C,H,W], got ", x.dim(), " dimensions");
  PRETEXT_CHECK(x.is_floating_point(), InputError, stage, ": expected float images, got ", x.dtype());
  return x;
}

// (x − mean) / std per channel; empty mean = identity.
torch::Tensor normalize_channels(const torch::Tensor& x, const std::vector<double>& mean,
                                 const std::vector<double>& std) {
  if (mean.empty() && std.empty()) return x;
  const int64_t channels = x.size(1);
  PRETEXT_CHECK(static_cast<int64_t>(mean.size()) == channels && static_cast<int64_t>(std.size()) == channels,
                ConfigError, "normalisation has ", mean.size(), " means and ", std.size(), " stds but the images have ",
                channels, " channel(s)");
  auto options = torch::TensorOptions().dtype(x.dtype()).device(x.device());
  torch::Tensor mean_tensor = torch::tensor(mean, kCpuDouble).to(options).view({1, channels, 1, 1});
  torch::Tensor std_tensor = torch::tensor(std, kCpuDouble).to(options).view({1, channels, 1, 1});
  return (x - mean_tensor).div_(std_tensor);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Options

ImageAugmentOptions crop_and_flip_only(double crop_min_scale) {
  ImageAugmentOptions options;
  options.crop_scale = {crop_min_scale, 1.0};
  options.jitter_probability = 0.0;
  options.grayscale_probability = 0.0;
  options.blur_probability = 0.0;
  return options;
}

ImageAugmentOptions ImageAugmentOptions::from_json(const nlohmann::json& values, const std::string& where) {
  ImageAugmentOptions options;
  OptionReader reader(values, where);
  reader.read("size", options.size)
      .read("crop", options.crop)
      .read("crop_scale", options.crop_scale)
      .read("crop_ratio", options.crop_ratio)
      .read("flip_probability", options.flip_probability)
      .read("jitter_probability", options.jitter_probability)
      .read("brightness", options.brightness)
      .read("contrast", options.contrast)
      .read("saturation", options.saturation)
      .read("hue", options.hue)
      .read("grayscale_probability", options.grayscale_probability)
      .read("blur_probability", options.blur_probability)
      .read("blur_sigma", options.blur_sigma)
      .read("solarize_probability", options.solarize_probability)
      .read("solarize_threshold", options.solarize_threshold)
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

nlohmann::json ImageAugmentOptions::to_json() const {
  return nlohmann::json{{"size", size},
                        {"crop", crop},
                        {"crop_scale", crop_scale},
                        {"crop_ratio", crop_ratio},
                        {"flip_probability", flip_probability},
                        {"jitter_probability", jitter_probability},
                        {"brightness", brightness},
                        {"contrast", contrast},
                        {"saturation", saturation},
                        {"hue", hue},
                        {"grayscale_probability", grayscale_probability},
                        {"blur_probability", blur_probability},
                        {"blur_sigma", blur_sigma},
                        {"solarize_probability", solarize_probability},
                        {"solarize_threshold", solarize_threshold},
                        {"mean", mean},
                        {"std", std}};
}

void ImageAugmentOptions::validate() const {
  PRETEXT_CHECK(size >= 0, ConfigError, "augment option 'size' must be ≥ 0 (0 = the input's size), got ", size);
  check_range(crop_scale, "crop_scale", 0.0);
  check_range(crop_ratio, "crop_ratio", 0.0);
  check_probability(flip_probability, "flip_probability");
  check_probability(jitter_probability, "jitter_probability");
  check_non_negative(brightness, "brightness");
  check_non_negative(contrast, "contrast");
  check_non_negative(saturation, "saturation");
  PRETEXT_CHECK(hue >= 0.0 && hue <= 0.5, ConfigError, "augment option 'hue' must be in [0,0.5] turns, got ", hue);
  check_probability(grayscale_probability, "grayscale_probability");
  check_probability(blur_probability, "blur_probability");
  check_range(blur_sigma, "blur_sigma", 0.0);
  check_probability(solarize_probability, "solarize_probability");
  PRETEXT_CHECK(solarize_threshold >= 0.0 && solarize_threshold <= 1.0, ConfigError,
                "augment option 'solarize_threshold' must be in [0,1], got ", solarize_threshold);
  PRETEXT_CHECK(mean.size() == std.size(), ConfigError, "augment options 'mean' and 'std' must have the same length, got ",
                mean.size(), " and ", std.size());
  PRETEXT_CHECK(mean.empty() || mean.size() == 1 || mean.size() == 3, ConfigError,
                "augment options 'mean'/'std' need 1 or 3 values (one per channel), got ", mean.size());
  for (double value : std) {
    PRETEXT_CHECK(value > 0.0, ConfigError, "augment option 'std' values must be > 0, got ", value);
  }
}

// ---------------------------------------------------------------------------------------------
// Pipeline

ImageAugment::ImageAugment(ImageAugmentOptions options) : options_(std::move(options)) { options_.validate(); }

torch::Tensor ImageAugment::operator()(const torch::Tensor& images, torch::Generator& generator) const {
  torch::Tensor x = images_to_float(images);
  x = random_resized_crop(x, generator);
  x = color_jitter(x, generator);
  x = random_grayscale(x, generator);
  x = gaussian_blur(x, generator);
  x = solarize(x, generator);
  return normalize(x);
}

torch::Tensor ImageAugment::random_resized_crop(const torch::Tensor& x, torch::Generator& generator) const {
  check_float_images(x, "random_resized_crop");
  const int64_t batch = x.size(0);
  const int64_t channels = x.size(1);
  const int64_t height = x.size(2);
  const int64_t width = x.size(3);
  const int64_t side = options_.size > 0 ? options_.size : height;
  if (batch == 0) return x.new_empty({0, channels, side, side});

  torch::Tensor flip_sign = torch::ones({batch}, kCpuDouble);
  if (options_.flip_probability > 0.0) {
    flip_sign = torch::where(choose(batch, options_.flip_probability, generator), -flip_sign, flip_sign);
  }

  if (!options_.crop && side == height && side == width) {
    // Flip only: an exact mirror, no resampling.
    if (options_.flip_probability <= 0.0) return x;
    return apply_to_chosen(x, flip_sign.lt(0), [](const torch::Tensor& chosen, const torch::Tensor&) {
      return chosen.flip({3});
    });
  }

  // Crop boxes in pixels: top, left, box_height, box_width (CPU double [B]).
  torch::Tensor top, left, box_height, box_width;
  if (options_.crop) {
    // torchvision's RandomResizedCrop.get_params, drawn for kCropTries tries at once: the area
    // fraction is uniform in crop_scale, the aspect ratio log-uniform in crop_ratio, and each
    // sample keeps its first try that fits.
    const double area = static_cast<double>(height * width);
    const double log_low = std::log(options_.crop_ratio[0]);
    const double log_high = std::log(options_.crop_ratio[1]);
    torch::Tensor target_area =
        torch::rand({batch, kCropTries}, generator, kCpuDouble)
            .mul_((options_.crop_scale[1] - options_.crop_scale[0]) * area)
            .add_(options_.crop_scale[0] * area);
    torch::Tensor aspect =
        torch::rand({batch, kCropTries}, generator, kCpuDouble).mul_(log_high - log_low).add_(log_low).exp_();
    torch::Tensor try_width = (target_area * aspect).sqrt_().round_();
    torch::Tensor try_height = (target_area / aspect).sqrt_().round_();
    torch::Tensor try_top = torch::rand({batch, kCropTries}, generator, kCpuDouble)
                                .mul_(height - try_height + 1)
                                .floor_();
    torch::Tensor try_left = torch::rand({batch, kCropTries}, generator, kCpuDouble)
                                 .mul_(width - try_width + 1)
                                 .floor_();
    torch::Tensor fits = try_width.gt(0) & try_width.le(width) & try_height.gt(0) & try_height.le(height);
    // The first try that fits: the largest of fits × (tries − index).
    torch::Tensor rank = torch::arange(kCropTries, 0, -1, kCpuDouble);
    torch::Tensor first = (fits.to(torch::kDouble) * rank).argmax(1, /*keepdim=*/true);
    torch::Tensor any_fits = fits.any(1);

    // Fallback (torchvision): the whole image, or its largest central crop within crop_ratio.
    double fallback_width = static_cast<double>(width);
    double fallback_height = static_cast<double>(height);
    const double input_ratio = fallback_width / fallback_height;
    if (input_ratio < options_.crop_ratio[0]) {
      fallback_height = std::round(fallback_width / options_.crop_ratio[0]);
    } else if (input_ratio > options_.crop_ratio[1]) {
      fallback_width = std::round(fallback_height * options_.crop_ratio[1]);
    }
    const double fallback_top = std::floor((height - fallback_height) / 2);
    const double fallback_left = std::floor((width - fallback_width) / 2);

    auto pick = [&](const torch::Tensor& tries, double fallback) {
      torch::Tensor chosen = tries.gather(1, first).squeeze(1);
      return torch::where(any_fits, chosen, torch::full_like(chosen, fallback));
    };
    top = pick(try_top, fallback_top);
    left = pick(try_left, fallback_left);
    box_height = pick(try_height, fallback_height);
    box_width = pick(try_width, fallback_width);
  } else {
    top = torch::zeros({batch}, kCpuDouble);
    left = torch::zeros({batch}, kCpuDouble);
    box_height = torch::full({batch}, static_cast<double>(height), kCpuDouble);
    box_width = torch::full({batch}, static_cast<double>(width), kCpuDouble);
  }

  // affine_grid maps output coordinates in [-1,1] to input coordinates in [-1,1]
  // (align_corners=false: ±1 are the outer pixel edges). The box's centre and half-extent in
  // those units give the translation and scale; a flip negates the x scale.
  torch::Tensor scale_x = box_width / width * flip_sign;
  torch::Tensor scale_y = box_height / height;
  torch::Tensor centre_x = (left + box_width / 2) / width * 2 - 1;
  torch::Tensor centre_y = (top + box_height / 2) / height * 2 - 1;
  torch::Tensor zero = torch::zeros({batch}, kCpuDouble);
  torch::Tensor theta = torch::stack({scale_x, zero, centre_x, zero, scale_y, centre_y}, 1).view({batch, 2, 3});
  theta = theta.to(x.options());

  torch::Tensor grid = F::affine_grid(theta, {batch, channels, side, side}, /*align_corners=*/false);
  // Border padding: a sample within half a pixel of the edge (upsampling) repeats the edge as
  // a resize would, instead of fading to black.
  return F::grid_sample(x, grid,
                        F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kBorder).align_corners(false));
}

torch::Tensor ImageAugment::color_jitter(const torch::Tensor& x, torch::Generator& generator) const {
  check_float_images(x, "color_jitter");
  const int64_t batch = x.size(0);
  const bool colour = x.size(1) == 3;
  const bool brightness = options_.brightness > 0.0;
  const bool contrast = options_.contrast > 0.0;
  const bool saturation = colour && options_.saturation > 0.0;
  const bool hue = colour && options_.hue > 0.0;
  if (batch == 0 || options_.jitter_probability <= 0.0 || !(brightness || contrast || saturation || hue)) return x;

  // Every sample draws all its factors, chosen or not, so that one sample's draws do not depend
  // on another's coin flip. Factor ranges are torchvision's ColorJitter: [max(0, 1 − s), 1 + s].
  torch::Tensor chosen = choose(batch, options_.jitter_probability, generator);
  auto factors = [&](bool active, double strength) {
    return active ? uniform_draws(batch, std::max(0.0, 1.0 - strength), 1.0 + strength, generator) : torch::Tensor();
  };
  torch::Tensor brightness_factor = factors(brightness, options_.brightness);
  torch::Tensor contrast_factor = factors(contrast, options_.contrast);
  torch::Tensor saturation_factor = factors(saturation, options_.saturation);
  torch::Tensor hue_shift = hue ? uniform_draws(batch, -options_.hue, options_.hue, generator) : torch::Tensor();

  return apply_to_chosen(x, chosen, [&](torch::Tensor images, const torch::Tensor& index) {
    if (brightness) images = (images * per_sample(brightness_factor, index, images)).clamp_(0, 1);
    if (contrast) {
      torch::Tensor grey_mean = grey_of(images).mean({1, 2, 3}, /*keepdim=*/true);
      images = blend(images, grey_mean, per_sample(contrast_factor, index, images));
    }
    if (saturation) images = blend(images, luma(images), per_sample(saturation_factor, index, images));
    if (hue) {
      // Hue as a rotation of the chroma plane (I,Q) of YIQ about the luma axis, by the shift in
      // turns. One 3×3 matrix per sample instead of an RGB↔HSV round trip; it keeps luma, which
      // torchvision's HSV shift does not, and matches it in direction and period.
      torch::Tensor to_yiq = torch::tensor({kLumaRed, kLumaGreen, kLumaBlue, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312},
                                           kCpuDouble)
                                 .view({3, 3});
      torch::Tensor from_yiq = torch::linalg_inv(to_yiq);
      torch::Tensor angle = hue_shift.index_select(0, index) * (2 * kPi);
      torch::Tensor cos = angle.cos(), sin = angle.sin();
      torch::Tensor one = torch::ones_like(angle), zero = torch::zeros_like(angle);
      torch::Tensor rotation = torch::stack({one, zero, zero, zero, cos, -sin, zero, sin, cos}, 1).view({-1, 3, 3});
      torch::Tensor matrix = torch::matmul(torch::matmul(from_yiq, rotation), to_yiq).to(images.options());
      const int64_t count = images.size(0), height = images.size(2), width = images.size(3);
      images = torch::bmm(matrix, images.reshape({count, 3, height * width}))
                   .view({count, 3, height, width})
                   .clamp_(0, 1);
    }
    return images;
  });
}

torch::Tensor ImageAugment::random_grayscale(const torch::Tensor& x, torch::Generator& generator) const {
  check_float_images(x, "random_grayscale");
  if (x.size(0) == 0 || x.size(1) != 3 || options_.grayscale_probability <= 0.0) return x;
  torch::Tensor chosen = choose(x.size(0), options_.grayscale_probability, generator);
  return apply_to_chosen(x, chosen, [](const torch::Tensor& images, const torch::Tensor&) {
    return luma(images).expand({-1, 3, -1, -1}).contiguous();
  });
}

torch::Tensor ImageAugment::gaussian_blur(const torch::Tensor& x, torch::Generator& generator) const {
  check_float_images(x, "gaussian_blur");
  const int64_t batch = x.size(0);
  const int64_t channels = x.size(1);
  const int64_t height = x.size(2);
  const int64_t width = x.size(3);
  const int64_t side = std::min(height, width);
  if (batch == 0 || options_.blur_probability <= 0.0 || side < 2) return x;

  // SimCLR: kernel 10% of the side, odd; reflect padding needs the half-width below the side.
  int64_t kernel = std::max<int64_t>(3, static_cast<int64_t>(0.1 * static_cast<double>(side)));
  if (kernel % 2 == 0) kernel += 1;
  kernel = std::min(kernel, 2 * (side - 1) + 1);
  const int64_t half = kernel / 2;

  torch::Tensor chosen = choose(batch, options_.blur_probability, generator);
  torch::Tensor sigma = uniform_draws(batch, options_.blur_sigma[0], options_.blur_sigma[1], generator);

  return apply_to_chosen(x, chosen, [&](const torch::Tensor& images, const torch::Tensor& index) {
    const int64_t count = images.size(0);
    const int64_t groups = count * channels;
    // Per-sample kernels exp(−t²/2σ²) / Σ, as torchvision's gaussian_blur, one per channel.
    torch::Tensor offsets = torch::arange(-half, half + 1, kCpuDouble).view({1, kernel});
    torch::Tensor sample_sigma = sigma.index_select(0, index).view({count, 1});
    torch::Tensor weights = (offsets / sample_sigma).pow_(2).mul_(-0.5).exp_();
    weights = (weights / weights.sum(1, /*keepdim=*/true)).repeat_interleave(channels, 0).to(images.options());

    // All images' channels as the channels of one image, so that a grouped (depthwise)
    // convolution applies each sample's kernel to its own channels in one call.
    torch::Tensor planes = F::pad(images.reshape({1, groups, height, width}),
                                  F::PadFuncOptions({half, half, half, half}).mode(torch::kReflect));
    planes = F::conv2d(planes, weights.view({groups, 1, kernel, 1}), F::Conv2dFuncOptions().groups(groups));
    planes = F::conv2d(planes, weights.view({groups, 1, 1, kernel}), F::Conv2dFuncOptions().groups(groups));
    return planes.reshape({count, channels, height, width});
  });
}

torch::Tensor ImageAugment::solarize(const torch::Tensor& x, torch::Generator& generator) const {
  check_float_images(x, "solarize");
  if (x.size(0) == 0 || options_.solarize_probability <= 0.0) return x;
  torch::Tensor chosen = choose(x.size(0), options_.solarize_probability, generator);
  const double threshold = options_.solarize_threshold;
  return apply_to_chosen(x, chosen, [threshold](const torch::Tensor& images, const torch::Tensor&) {
    return torch::where(images >= threshold, 1 - images, images);
  });
}

torch::Tensor ImageAugment::normalize(const torch::Tensor& x) const {
  check_float_images(x, "normalize");
  return normalize_channels(x, options_.mean, options_.std);
}

// ---------------------------------------------------------------------------------------------
// Free functions

torch::Tensor images_to_float(const torch::Tensor& images) {
  PRETEXT_CHECK(images.dim() == 4, InputError, "expected uint8 images [B,H,W,C], got ", images.dim(), " dimensions");
  PRETEXT_CHECK(images.scalar_type() == torch::kUInt8, InputError, "expected uint8 images [B,H,W,C], got ",
                images.dtype());
  PRETEXT_CHECK(images.size(3) == 1 || images.size(3) == 3, InputError,
                "expected images with 1 or 3 channels (last dimension), got ", images.size(3));
  torch::Tensor out = torch::empty({images.size(0), images.size(3), images.size(1), images.size(2)},
                                   torch::TensorOptions().dtype(torch::kFloat).device(images.device()));
  out.copy_(images.permute({0, 3, 1, 2}));
  return out.div_(255.0);
}

torch::Tensor normalize_images(const torch::Tensor& images, const std::vector<double>& mean,
                               const std::vector<double>& std) {
  return normalize_channels(images_to_float(images), mean, std);
}

std::pair<std::vector<double>, std::vector<double>> channel_statistics(const torch::Tensor& images,
                                                                       int64_t max_images) {
  PRETEXT_CHECK(images.dim() == 4, InputError, "channel_statistics: expected images [N,H,W,C], got ", images.dim(),
                " dimensions");
  const int64_t count = std::min(images.size(0), max_images);
  PRETEXT_CHECK(count > 0, InputError, "channel_statistics: no images");
  const int64_t channels = images.size(3);
  // Sums in double, a chunk at a time, so that a large set needs no float copy of itself.
  constexpr int64_t kChunk = 1024;
  auto sums_options = torch::TensorOptions().dtype(torch::kDouble).device(images.device());
  torch::Tensor sum = torch::zeros({channels}, sums_options);
  torch::Tensor sum_squares = torch::zeros({channels}, sums_options);
  // Evenly spaced images when there are more than max_images, so that a set stored sorted by
  // class is still sampled across its classes.
  torch::Tensor picked = torch::linspace(0, static_cast<double>(images.size(0) - 1), count, kCpuDouble)
                             .round_()
                             .to(torch::kLong)
                             .to(images.device());
  for (int64_t start = 0; start < count; start += kChunk) {
    torch::Tensor chunk =
        images.index_select(0, picked.slice(0, start, std::min(count, start + kChunk))).to(torch::kDouble).div_(255.0);
    sum += chunk.sum({0, 1, 2});
    sum_squares += chunk.square().sum({0, 1, 2});
  }
  const double pixels = static_cast<double>(count * images.size(1) * images.size(2));
  torch::Tensor mean = sum / pixels;
  // A constant channel gets the std of one grey level rather than 0, so that normalising by it
  // stays finite and passes ImageAugmentOptions::validate().
  torch::Tensor std = (sum_squares / pixels - mean.square()).clamp_min(0).sqrt().clamp_min(1.0 / 255.0).cpu();
  mean = mean.cpu();
  std::vector<double> mean_values(mean.data_ptr<double>(), mean.data_ptr<double>() + channels);
  std::vector<double> std_values(std.data_ptr<double>(), std.data_ptr<double>() + channels);
  return {mean_values, std_values};
}

torch::Tensor rotate_quarter_turns(const torch::Tensor& x, const torch::Tensor& quarter_turns) {
  check_float_images(x, "rotate_quarter_turns");
  PRETEXT_CHECK(x.size(2) == x.size(3), InputError, "rotate_quarter_turns: images must be square, got ", x.size(2),
                "×", x.size(3));
  PRETEXT_CHECK(quarter_turns.dim() == 1 && quarter_turns.size(0) == x.size(0), InputError,
                "rotate_quarter_turns: expected one quarter-turn count per image (", x.size(0), "), got shape ",
                quarter_turns.sizes());
  // Samples grouped by their turn count: one rot90 per count rather than one per image.
  torch::Tensor turns = quarter_turns.to(torch::kCPU, torch::kLong).remainder(4);
  torch::Tensor out;
  for (int64_t k = 1; k < 4; ++k) {
    torch::Tensor index = turns.eq(k).nonzero().flatten();
    if (index.numel() == 0) continue;
    if (!out.defined()) out = x.clone();
    torch::Tensor device_index = index.to(x.device());
    out.index_copy_(0, device_index, torch::rot90(x.index_select(0, device_index), k, {2, 3}));
  }
  return out.defined() ? out : x;
}

}  // namespace pretext
