#include <gtest/gtest.h>

#include "pretext/augment/multicrop.h"
#include "pretext/core/error.h"
#include "pretext/core/runtime.h"

namespace pretext {
namespace {

// A batch of one random image repeated, so that any difference between samples' crops comes
// from the per-sample random parameters.
torch::Tensor repeated_raw_image(int64_t batch, int64_t side, int64_t channels) {
  torch::manual_seed(11);
  torch::Tensor image = torch::randint(0, 256, {1, side, side, channels}, torch::kLong).to(torch::kUInt8);
  return image.expand({batch, side, side, channels}).contiguous();
}

TEST(AugmentMultiCrop, DefaultsGiveTwoGlobalAndSixLocalCropsGlobalsFirst) {
  MultiCrop multicrop{MultiCropOptions{}};
  auto generator = make_generator(1);
  auto crops = multicrop(repeated_raw_image(5, 28, 1), generator);
  ASSERT_EQ(crops.size(), 8u);
  for (size_t index = 0; index < crops.size(); ++index) {
    const int64_t side = index < 2 ? 28 : 12;  // 96/224 of 28 = 12
    EXPECT_EQ(crops[index].sizes(), torch::IntArrayRef({5, 1, side, side})) << "crop " << index;
    EXPECT_EQ(crops[index].scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(crops[index]).all().item<bool>());
  }
}

TEST(AugmentMultiCrop, CountsAndSizesFollowTheOptions) {
  MultiCropOptions options;
  options.global_crops = 1;
  options.local_crops = 3;
  options.global_size = 24;
  options.local_size = 8;
  options.mean = {0.5, 0.5, 0.5};
  options.std = {0.25, 0.25, 0.25};
  MultiCrop multicrop(options);
  auto generator = make_generator(2);
  auto crops = multicrop(repeated_raw_image(3, 32, 3), generator);
  ASSERT_EQ(crops.size(), 4u);
  EXPECT_EQ(crops[0].sizes(), torch::IntArrayRef({3, 3, 24, 24}));
  for (size_t index = 1; index < 4; ++index) EXPECT_EQ(crops[index].sizes(), torch::IntArrayRef({3, 3, 8, 8}));

  options.local_crops = 0;
  EXPECT_EQ(MultiCrop(options)(repeated_raw_image(2, 32, 3), generator).size(), 1u);
}

TEST(AugmentMultiCrop, LocalSideIsDinosRatioRoundedToAMultipleOfFour) {
  MultiCropOptions options;
  EXPECT_EQ(options.local_side(28), 12);
  EXPECT_EQ(options.local_side(224), 96);
  EXPECT_EQ(options.local_side(32), 12);  // 13.7 → 12
  EXPECT_EQ(options.local_side(64), 28);  // 27.4 → 28
  EXPECT_EQ(options.local_side(4), 4);    // never below one 4-px patch
  options.local_size = 10;
  EXPECT_EQ(options.local_side(28), 10);
}

TEST(AugmentMultiCrop, CropsDifferBetweenSamplesAndBetweenCrops) {
  MultiCrop multicrop{MultiCropOptions{}};
  auto generator = make_generator(3);
  auto crops = multicrop(repeated_raw_image(4, 28, 1), generator);
  for (size_t index = 0; index < crops.size(); ++index) {
    // Same image, own parameters: no two samples of a crop are the same.
    for (int64_t other = 1; other < 4; ++other) {
      EXPECT_FALSE(torch::allclose(crops[index][0], crops[index][other])) << "crop " << index << " sample " << other;
    }
  }
  EXPECT_FALSE(torch::allclose(crops[0], crops[1]));
  EXPECT_FALSE(torch::allclose(crops[2], crops[3]));
}

TEST(AugmentMultiCrop, SameSeedSameCrops) {
  MultiCrop multicrop{MultiCropOptions{}};
  auto images = repeated_raw_image(3, 28, 1);
  auto first_generator = make_generator(9), second_generator = make_generator(9);
  auto first = multicrop(images, first_generator);
  auto second = multicrop(images, second_generator);
  ASSERT_EQ(first.size(), second.size());
  for (size_t index = 0; index < first.size(); ++index) EXPECT_TRUE(torch::equal(first[index], second[index]));
}

TEST(AugmentMultiCrop, EachCropHasDinosColourAugmentation) {
  MultiCropOptions options;
  auto global1 = options.crop_options(0, 28), global2 = options.crop_options(1, 28);
  auto local = options.crop_options(2, 28);
  EXPECT_EQ(global1.size, 28);
  EXPECT_EQ(global1.crop_scale, (std::vector<double>{0.4, 1.0}));
  EXPECT_DOUBLE_EQ(global1.blur_probability, 1.0);
  EXPECT_DOUBLE_EQ(global1.solarize_probability, 0.0);
  EXPECT_DOUBLE_EQ(global2.blur_probability, 0.1);
  EXPECT_DOUBLE_EQ(global2.solarize_probability, 0.2);
  EXPECT_EQ(local.size, 12);
  EXPECT_EQ(local.crop_scale, (std::vector<double>{0.05, 0.4}));
  EXPECT_DOUBLE_EQ(local.blur_probability, 0.5);
  EXPECT_DOUBLE_EQ(local.solarize_probability, 0.0);
  for (const auto& crop : {global1, global2, local}) {
    EXPECT_DOUBLE_EQ(crop.jitter_probability, 0.8);
    EXPECT_DOUBLE_EQ(crop.brightness, 0.4);
    EXPECT_DOUBLE_EQ(crop.hue, 0.1);
    EXPECT_DOUBLE_EQ(crop.grayscale_probability, 0.2);
  }
  // A third global crop takes the first entry again.
  options.global_crops = 3;
  EXPECT_DOUBLE_EQ(options.crop_options(2, 28).blur_probability, 1.0);
  EXPECT_EQ(options.crop_options(3, 28).size, 12);
}

TEST(AugmentMultiCrop, OptionsRoundTripThroughJsonAndAreChecked) {
  MultiCropOptions options;
  options.local_crops = 4;
  options.global_scale = {0.14, 1.0};
  auto read = MultiCropOptions::from_json(options.to_json(), "test");
  EXPECT_EQ(read.to_json(), options.to_json());
  EXPECT_EQ(MultiCropOptions::from_json({{"local_crops", 2}}, "test").local_crops, 2);
  EXPECT_EQ(MultiCropOptions::from_json({{"local_crops", 2}}, "test").global_crops, 2);

  EXPECT_THROW(MultiCropOptions::from_json({{"local_crop", 2}}, "test"), ConfigError);
  EXPECT_THROW(MultiCropOptions::from_json({{"local_crops", -1}}, "test"), ConfigError);
  EXPECT_THROW(MultiCropOptions::from_json({{"global_crops", 0}}, "test"), ConfigError);
  EXPECT_THROW(MultiCropOptions::from_json({{"global_scale", {1.0, 0.4}}}, "test"), ConfigError);
  EXPECT_THROW(MultiCropOptions::from_json({{"local_scale", {0.05, 1.5}}}, "test"), ConfigError);
  EXPECT_THROW(MultiCropOptions::from_json({{"global_blur_probability", {1.0, 1.5}}}, "test"), ConfigError);
  EXPECT_THROW(MultiCropOptions::from_json({{"local_blur_probability", -0.1}}, "test"), ConfigError);
  EXPECT_THROW(MultiCropOptions::from_json({{"hue", 0.7}}, "test"), ConfigError);
  try {
    MultiCropOptions::from_json({{"local_crops", -1}}, "task dino: multicrop");
    FAIL() << "no throw";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("local_crops"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("task dino"), std::string::npos);
  }
}

TEST(AugmentMultiCrop, AsymmetricViewsAreByolsPair) {
  auto first = asymmetric_view_augment(0), second = asymmetric_view_augment(1);
  EXPECT_EQ(first.crop_scale, (std::vector<double>{0.08, 1.0}));
  EXPECT_DOUBLE_EQ(first.blur_probability, 1.0);
  EXPECT_DOUBLE_EQ(first.solarize_probability, 0.0);
  EXPECT_DOUBLE_EQ(second.blur_probability, 0.1);
  EXPECT_DOUBLE_EQ(second.solarize_probability, 0.2);
  EXPECT_EQ(first.size, 0);
  EXPECT_THROW(asymmetric_view_augment(2), ConfigError);

  auto overridden = augment_with_overrides(second, {{"blur_probability", 0.0}}, "test");
  EXPECT_DOUBLE_EQ(overridden.blur_probability, 0.0);
  EXPECT_DOUBLE_EQ(overridden.solarize_probability, 0.2);  // the other defaults stay
  EXPECT_DOUBLE_EQ(overridden.brightness, 0.4);
  EXPECT_THROW(augment_with_overrides(second, {{"blur", 0.0}}, "test"), ConfigError);
  EXPECT_THROW(augment_with_overrides(second, nlohmann::json::array(), "test"), ConfigError);
}

}  // namespace
}  // namespace pretext
