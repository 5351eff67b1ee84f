#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <utility>

#include "pretext/augment/image.h"
#include "pretext/core/error.h"
#include "pretext/core/runtime.h"

namespace pretext {
namespace {

torch::Tensor random_images(int64_t batch, int64_t side, int64_t channels, uint64_t seed = 7) {
  torch::Generator generator = make_generator(seed);
  return torch::randint(0, 256, {batch, side, side, channels}, generator, torch::kUInt8);
}

// Options with every random stage off: each test turns on the one it checks.
ImageAugmentOptions no_augmentation() {
  ImageAugmentOptions options;
  options.crop = false;
  options.flip_probability = 0.0;
  options.jitter_probability = 0.0;
  options.grayscale_probability = 0.0;
  options.blur_probability = 0.0;
  options.solarize_probability = 0.0;
  return options;
}

// The same image repeated over the batch, so that differences come from the parameters alone.
torch::Tensor repeated_image(int64_t batch, int64_t side, int64_t channels) {
  return images_to_float(random_images(1, side, channels)).repeat({batch, 1, 1, 1});
}

bool same_as(const torch::Tensor& a, const torch::Tensor& b) { return torch::equal(a, b); }

TEST(Augment, ImagesToFloatIsChannelsFirstInUnitRange) {
  torch::Tensor images = random_images(2, 5, 3);
  torch::Tensor x = images_to_float(images);
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, 3, 5, 5}));
  EXPECT_EQ(x.scalar_type(), torch::kFloat);
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_TRUE(torch::allclose(x, images.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0));
  EXPECT_THROW(images_to_float(torch::zeros({2, 5, 5, 3})), InputError);
  EXPECT_THROW(images_to_float(torch::zeros({2, 5, 5, 2}, torch::kUInt8)), InputError);
}

TEST(Augment, FullPipelineShapeDtypeAndRange) {
  for (int64_t channels : {1, 3}) {
    ImageAugmentOptions options;  // SimCLR defaults
    options.size = 12;
    options.solarize_probability = 0.5;
    ImageAugment augment(options);
    torch::Generator generator = make_generator(1);
    torch::Tensor out = augment(random_images(6, 16, channels), generator);
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{6, channels, 12, 12}));
    EXPECT_EQ(out.scalar_type(), torch::kFloat);
    EXPECT_GE(out.min().item<float>(), 0.0f);
    EXPECT_LE(out.max().item<float>(), 1.0f);

    options.mean.assign(channels, 0.5);
    options.std.assign(channels, 0.25);
    torch::Tensor normalized = ImageAugment(options)(random_images(6, 16, channels), generator);
    EXPECT_TRUE(torch::isfinite(normalized).all().item<bool>());
    EXPECT_GE(normalized.min().item<float>(), -2.0f - 1e-5f);
    EXPECT_LE(normalized.max().item<float>(), 2.0f + 1e-5f);
  }
}

TEST(Augment, EachStageKeepsShapeAndRange) {
  ImageAugmentOptions options;
  options.flip_probability = 1.0;
  options.jitter_probability = 1.0;
  options.grayscale_probability = 1.0;
  options.blur_probability = 1.0;
  options.solarize_probability = 1.0;
  ImageAugment augment(options);
  for (int64_t channels : {1, 3}) {
    torch::Tensor x = images_to_float(random_images(4, 16, channels));
    torch::Generator generator = make_generator(3);
    for (const torch::Tensor& out :
         {augment.random_resized_crop(x, generator), augment.color_jitter(x, generator),
          augment.random_grayscale(x, generator), augment.gaussian_blur(x, generator), augment.solarize(x, generator)}) {
      EXPECT_EQ(out.sizes(), x.sizes());
      EXPECT_EQ(out.scalar_type(), torch::kFloat);
      EXPECT_GE(out.min().item<float>(), 0.0f);
      EXPECT_LE(out.max().item<float>(), 1.0f + 1e-6f);
    }
  }
}

TEST(Augment, SameSeedSameViewsDifferentSeedDifferentViews) {
  ImageAugment augment(ImageAugmentOptions{});
  torch::Tensor images = random_images(8, 16, 3);
  torch::Generator first = make_generator(42);
  torch::Generator again = make_generator(42);
  torch::Generator other = make_generator(43);
  torch::Tensor a = augment(images, first);
  EXPECT_TRUE(same_as(a, augment(images, again)));
  EXPECT_FALSE(torch::allclose(a, augment(images, other)));
  // The generator advances: a second call gives new views.
  EXPECT_FALSE(torch::allclose(a, augment(images, first)));
}

TEST(Augment, IdenticalImagesGetDifferentParameters) {
  torch::Tensor x = repeated_image(8, 16, 3);
  torch::Generator generator = make_generator(5);

  ImageAugmentOptions crop = no_augmentation();
  crop.crop = true;
  torch::Tensor cropped = ImageAugment(crop).random_resized_crop(x, generator);

  ImageAugmentOptions jitter = no_augmentation();
  jitter.jitter_probability = 1.0;
  torch::Tensor jittered = ImageAugment(jitter).color_jitter(x, generator);

  ImageAugmentOptions blur = no_augmentation();
  blur.blur_probability = 1.0;
  torch::Tensor blurred = ImageAugment(blur).gaussian_blur(x, generator);

  for (const torch::Tensor& out : {cropped, jittered, blurred}) {
    for (int64_t b = 1; b < 8; ++b) EXPECT_FALSE(torch::allclose(out[0], out[b])) << "sample " << b;
  }
}

TEST(Augment, ZeroProbabilityStagesAreIdentity) {
  ImageAugment augment(no_augmentation());
  torch::Tensor images = random_images(4, 8, 3);
  torch::Tensor x = images_to_float(images);
  torch::Generator generator = make_generator(0);
  EXPECT_TRUE(same_as(augment(images, generator), x));
  EXPECT_TRUE(same_as(augment.random_resized_crop(x, generator), x));
  EXPECT_TRUE(same_as(augment.color_jitter(x, generator), x));
  EXPECT_TRUE(same_as(augment.random_grayscale(x, generator), x));
  EXPECT_TRUE(same_as(augment.gaussian_blur(x, generator), x));
  EXPECT_TRUE(same_as(augment.solarize(x, generator), x));
  EXPECT_TRUE(same_as(augment.normalize(x), x));
}

TEST(Augment, CertainFlipEqualsTorchFlip) {
  torch::Tensor x = images_to_float(random_images(3, 8, 3));
  torch::Generator generator = make_generator(0);
  ImageAugmentOptions options = no_augmentation();
  options.flip_probability = 1.0;
  EXPECT_TRUE(same_as(ImageAugment(options).random_resized_crop(x, generator), torch::flip(x, {3})));

  // The flip folded into the crop's affine: a full-image crop then mirrors exactly.
  options.crop = true;
  options.crop_scale = {1.0, 1.0};
  options.crop_ratio = {1.0, 1.0};
  EXPECT_TRUE(torch::allclose(ImageAugment(options).random_resized_crop(x, generator), torch::flip(x, {3}), 1e-5,
                              1e-5));
}

TEST(Augment, FullCropWithoutFlipReproducesTheInput) {
  torch::Tensor x = images_to_float(random_images(3, 16, 1));
  torch::Generator generator = make_generator(0);
  ImageAugmentOptions options = no_augmentation();
  options.crop = true;
  options.crop_scale = {1.0, 1.0};
  options.crop_ratio = {1.0, 1.0};
  EXPECT_TRUE(torch::allclose(ImageAugment(options).random_resized_crop(x, generator), x, 1e-5, 1e-5));

  // An area that never fits falls back to the whole image (torchvision's fallback).
  options.crop_scale = {2.0, 3.0};
  EXPECT_TRUE(torch::allclose(ImageAugment(options).random_resized_crop(x, generator), x, 1e-5, 1e-5));
}

TEST(Augment, CropIsAWindowOfTheInput) {
  // A quarter-area square crop resized to its own size is an exact 8×8 window, possibly mirrored.
  torch::Tensor x = images_to_float(random_images(6, 16, 1));
  torch::Generator generator = make_generator(4);
  ImageAugmentOptions options = no_augmentation();
  options.crop = true;
  options.crop_scale = {0.25, 0.25};
  options.crop_ratio = {1.0, 1.0};
  options.flip_probability = 0.5;
  options.size = 8;
  torch::Tensor out = ImageAugment(options).random_resized_crop(x, generator);
  std::set<std::pair<int64_t, int64_t>> corners;
  int flipped = 0;
  for (int64_t b = 0; b < 6; ++b) {
    bool found = false;
    for (int64_t top = 0; top <= 8 && !found; ++top) {
      for (int64_t left = 0; left <= 8 && !found; ++left) {
        torch::Tensor window = x[b].slice(1, top, top + 8).slice(2, left, left + 8);
        const bool plain = torch::allclose(out[b], window, 1e-5, 1e-5);
        const bool mirrored = torch::allclose(out[b], window.flip({2}), 1e-5, 1e-5);
        if (plain || mirrored) {
          found = true;
          corners.insert({top, left});
          flipped += mirrored ? 1 : 0;
        }
      }
    }
    EXPECT_TRUE(found) << "sample " << b << " is not a window of its input";
  }
  EXPECT_GT(corners.size(), 1u);  // positions are drawn per sample
  EXPECT_GT(flipped, 0);
  EXPECT_LT(flipped, 6);
}

TEST(Augment, CropResizesToTheRequestedSize) {
  torch::Tensor x = images_to_float(random_images(2, 16, 3));
  torch::Generator generator = make_generator(0);
  ImageAugmentOptions options = no_augmentation();
  options.size = 8;
  torch::Tensor resized = ImageAugment(options).random_resized_crop(x, generator);  // crop off: resize only
  EXPECT_EQ(resized.sizes(), (std::vector<int64_t>{2, 3, 8, 8}));
  // Halving with bilinear sampling at align_corners=false averages 2×2 blocks.
  EXPECT_TRUE(torch::allclose(resized, torch::avg_pool2d(x, 2), 1e-5, 1e-5));
  options.crop = true;
  EXPECT_EQ(ImageAugment(options).random_resized_crop(x, generator).sizes(), (std::vector<int64_t>{2, 3, 8, 8}));
}

TEST(Augment, SolarizeInvertsPixelsAtOrAboveTheThreshold) {
  ImageAugmentOptions options = no_augmentation();
  options.solarize_probability = 1.0;
  options.solarize_threshold = 0.5;
  torch::Tensor x = torch::tensor({0.0f, 0.25f, 0.5f, 0.75f, 1.0f}).view({1, 1, 1, 5});
  torch::Generator generator = make_generator(0);
  torch::Tensor out = ImageAugment(options).solarize(x, generator);
  EXPECT_TRUE(same_as(out, torch::tensor({0.0f, 0.25f, 0.5f, 0.25f, 0.0f}).view({1, 1, 1, 5})));
}

TEST(Augment, GrayscaleGivesEqualChannelsOfLuma) {
  ImageAugmentOptions options = no_augmentation();
  options.grayscale_probability = 1.0;
  ImageAugment augment(options);
  torch::Tensor x = images_to_float(random_images(2, 8, 3));
  torch::Generator generator = make_generator(0);
  torch::Tensor out = augment.random_grayscale(x, generator);
  torch::Tensor luma = 0.299 * x.select(1, 0) + 0.587 * x.select(1, 1) + 0.114 * x.select(1, 2);
  for (int64_t c = 0; c < 3; ++c) EXPECT_TRUE(torch::allclose(out.select(1, c), luma, 1e-6, 1e-6));
  torch::Tensor grey = images_to_float(random_images(2, 8, 1));
  EXPECT_TRUE(same_as(augment.random_grayscale(grey, generator), grey));
}

TEST(Augment, BlurKeepsConstantsLowersNoiseAndLeavesUnchosenSamples) {
  ImageAugmentOptions options = no_augmentation();
  options.blur_probability = 1.0;
  options.blur_sigma = {1.0, 2.0};
  ImageAugment augment(options);
  torch::Generator generator = make_generator(0);
  torch::Tensor constant = torch::full({2, 3, 16, 16}, 0.3f);
  EXPECT_TRUE(torch::allclose(augment.gaussian_blur(constant, generator), constant, 1e-6, 1e-6));

  torch::Tensor noise = torch::rand({2, 3, 32, 32}, generator);
  torch::Tensor blurred = augment.gaussian_blur(noise, generator);
  EXPECT_LT(blurred.var().item<float>(), 0.7f * noise.var().item<float>());
  EXPECT_NEAR(blurred.mean().item<float>(), noise.mean().item<float>(), 0.02f);

  options.blur_probability = 0.5;
  torch::Tensor batch = torch::rand({16, 1, 16, 16}, generator);
  torch::Tensor out = ImageAugment(options).gaussian_blur(batch, generator);
  int unchanged = 0;
  for (int64_t b = 0; b < 16; ++b) unchanged += same_as(out[b], batch[b]) ? 1 : 0;
  EXPECT_GT(unchanged, 0);
  EXPECT_LT(unchanged, 16);
}

TEST(Augment, JitterLeavesUnchosenSamplesAndKeepsGreyGrey) {
  ImageAugmentOptions options = no_augmentation();
  options.jitter_probability = 0.5;
  torch::Generator generator = make_generator(2);
  torch::Tensor x = images_to_float(random_images(16, 8, 3));
  torch::Tensor out = ImageAugment(options).color_jitter(x, generator);
  int unchanged = 0;
  for (int64_t b = 0; b < 16; ++b) unchanged += same_as(out[b], x[b]) ? 1 : 0;
  EXPECT_GT(unchanged, 0);
  EXPECT_LT(unchanged, 16);

  // Hue and saturation move colour only: a grey image stays grey.
  options.jitter_probability = 1.0;
  options.brightness = 0.0;
  options.contrast = 0.0;
  torch::Tensor grey = images_to_float(random_images(4, 8, 1)).repeat({1, 3, 1, 1});
  torch::Tensor jittered = ImageAugment(options).color_jitter(grey, generator);
  EXPECT_TRUE(torch::allclose(jittered, grey, 1e-5, 1e-5));

  // Brightness on a grey image scales it by one factor in [0.2, 1.8] per sample (before clamping).
  options.brightness = 0.8;
  options.saturation = 0.0;
  options.hue = 0.0;
  torch::Tensor dim = torch::full({8, 1, 4, 4}, 0.5f);
  torch::Tensor brightened = ImageAugment(options).color_jitter(dim, generator);
  torch::Tensor factor = brightened.flatten(1) / 0.5;
  EXPECT_TRUE(torch::allclose(factor, factor.select(1, 0).unsqueeze(1).expand_as(factor)));
  EXPECT_GE(factor.min().item<float>(), 0.2f - 1e-5f);
  EXPECT_LE(factor.max().item<float>(), 1.8f + 1e-5f);
}

TEST(Augment, NormalizeAndChannelStatistics) {
  torch::Tensor images = torch::zeros({2, 2, 2, 3}, torch::kUInt8);
  images.select(3, 0).fill_(255);               // red: all 1 → mean 1, std 0
  images.select(3, 1).select(0, 0).fill_(255);  // green: half 1 → mean 0.5, std 0.5
  auto [mean, std] = channel_statistics(images);
  ASSERT_EQ(mean.size(), 3u);
  EXPECT_NEAR(mean[0], 1.0, 1e-9);
  EXPECT_NEAR(mean[1], 0.5, 1e-9);
  EXPECT_NEAR(mean[2], 0.0, 1e-9);
  EXPECT_NEAR(std[0], 1.0 / 255.0, 1e-9);  // a constant channel: floored at one grey level
  EXPECT_NEAR(std[1], 0.5, 1e-9);
  // max_images keeps evenly spaced images: with one, the first, which is all green.
  EXPECT_NEAR(channel_statistics(images, 1).first[1], 1.0, 1e-9);

  torch::Tensor normalized = normalize_images(images, {0.5, 0.5, 0.5}, {0.5, 0.25, 1.0});
  EXPECT_FLOAT_EQ(normalized[0][0][0][0].item<float>(), 1.0f);   // (1 − 0.5) / 0.5
  EXPECT_FLOAT_EQ(normalized[1][1][0][0].item<float>(), -2.0f);  // (0 − 0.5) / 0.25
  EXPECT_FLOAT_EQ(normalized[0][2][0][0].item<float>(), -0.5f);  // (0 − 0.5) / 1
  EXPECT_TRUE(same_as(normalize_images(images, {}, {}), images_to_float(images)));
  EXPECT_THROW(normalize_images(images, {0.5}, {0.5}), ConfigError);
}

TEST(Augment, RotateQuarterTurnsMatchesRot90) {
  torch::Tensor x = images_to_float(random_images(6, 8, 3));
  torch::Tensor turns = torch::tensor({0, 1, 2, 3, 1, 6}, torch::kLong);
  torch::Tensor out = rotate_quarter_turns(x, turns);
  for (int64_t b = 0; b < 6; ++b) {
    EXPECT_TRUE(same_as(out[b], torch::rot90(x[b], turns[b].item<int64_t>(), {1, 2}))) << "sample " << b;
  }
  EXPECT_THROW(rotate_quarter_turns(x, torch::zeros({5}, torch::kLong)), InputError);
}

TEST(Augment, ValidateRejectsBadOptions) {
  EXPECT_NO_THROW(ImageAugmentOptions{}.validate());
  auto rejects = [](auto change, const std::string& field) {
    ImageAugmentOptions options;
    change(options);
    try {
      options.validate();
      ADD_FAILURE() << "no error for " << field;
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
  };
  rejects([](ImageAugmentOptions& o) { o.flip_probability = 1.5; }, "flip_probability");
  rejects([](ImageAugmentOptions& o) { o.blur_probability = -0.1; }, "blur_probability");
  rejects([](ImageAugmentOptions& o) { o.jitter_probability = std::nan(""); }, "jitter_probability");
  rejects([](ImageAugmentOptions& o) { o.crop_scale = {1.0, 0.5}; }, "crop_scale");
  rejects([](ImageAugmentOptions& o) { o.crop_ratio = {0.0, 1.0}; }, "crop_ratio");
  rejects([](ImageAugmentOptions& o) { o.blur_sigma = {2.0}; }, "blur_sigma");
  rejects([](ImageAugmentOptions& o) { o.hue = 0.7; }, "hue");
  rejects([](ImageAugmentOptions& o) { o.brightness = -1; }, "brightness");
  rejects([](ImageAugmentOptions& o) { o.size = -1; }, "size");
  rejects(
      [](ImageAugmentOptions& o) {
        o.mean = {0.5};
        o.std = {0.0};
      },
      "std");
  rejects([](ImageAugmentOptions& o) { o.mean = {0.5}; }, "mean");
  ImageAugmentOptions bad;
  bad.solarize_probability = 2.0;
  EXPECT_THROW(ImageAugment{bad}, ConfigError);
}

TEST(Augment, OptionsJsonRoundTripAndUnknownKeys) {
  ImageAugmentOptions options;
  options.size = 24;
  options.crop_scale = {0.2, 1.0};
  options.solarize_probability = 0.2;
  options.mean = {0.1, 0.2, 0.3};
  options.std = {0.4, 0.5, 0.6};
  ImageAugmentOptions back = ImageAugmentOptions::from_json(options.to_json(), "augment");
  EXPECT_EQ(back.to_json(), options.to_json());
  EXPECT_EQ(back.size, 24);
  EXPECT_EQ(back.crop_scale, (std::vector<double>{0.2, 1.0}));

  ImageAugmentOptions partial = ImageAugmentOptions::from_json(nlohmann::json{{"blur_probability", 0.0}}, "augment");
  EXPECT_EQ(partial.blur_probability, 0.0);
  EXPECT_EQ(partial.jitter_probability, ImageAugmentOptions{}.jitter_probability);

  EXPECT_THROW(ImageAugmentOptions::from_json(nlohmann::json{{"blur_prob", 0.0}}, "augment"), ConfigError);
  EXPECT_THROW(ImageAugmentOptions::from_json(nlohmann::json{{"hue", "red"}}, "augment"), ConfigError);
  EXPECT_THROW(ImageAugmentOptions::from_json(nlohmann::json{{"hue", 0.9}}, "augment"), ConfigError);
}

}  // namespace
}  // namespace pretext
