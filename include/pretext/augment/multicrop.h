// Multi-crop augmentation (Caron et al. 2020, SwAV §3.2; Caron et al. 2021, DINO §3.1): a few
// large "global" crops of each image plus several small, low-resolution "local" crops, each with
// its own colour augmentation. What it represents: the view-making of SwAV/DINO-style methods,
// built on ImageAugment's batched stages (per-sample random parameters, one grid_sample per crop).
// Requires: uint8 images [B,H,W,C], C = 1 or 3. Guarantees: global_crops + local_crops float
// batches [B,C,h,w], globals first; every draw comes from the generator passed in.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pretext/augment/image.h"

namespace pretext {

struct MultiCropOptions {
  // Global crops: DINO uses 2 at the encoder's resolution with area scale (0.4, 1) (DINO's
  // main_dino.py default, ViT); its ResNet-50 recipe uses (0.14, 1).
  int64_t global_crops = 2;
  int64_t global_size = 0;  // side in pixels; 0 = the input's height (tasks fill in the encoder's)
  std::vector<double> global_scale{0.4, 1.0};

  // Local crops: DINO uses 8 of 96 px (224-px images) with scale (0.05, 0.4). 6 here: each local
  // crop costs the student a forward and backward pass, and on small CPU runs 6 keeps a DINO step
  // near twice a SimCLR step; raise it where compute allows.
  int64_t local_crops = 6;
  // 0 = 96/224 (DINO's ratio) of the global side, rounded to a multiple of 4 (28 px → 12), so
  // that a ViT with 4-px patches can take it.
  int64_t local_size = 0;
  std::vector<double> local_scale{0.05, 0.4};

  std::vector<double> crop_ratio{3.0 / 4.0, 4.0 / 3.0};  // torchvision RandomResizedCrop
  double flip_probability = 0.5;

  // Colour, as DINO's flip_and_color_jitter (= BYOL, Grill et al. 2020, Table 6): jitter with
  // probability 0.8 of strengths (0.4, 0.4, 0.2, 0.1), grayscale with probability 0.2.
  double jitter_probability = 0.8;
  double brightness = 0.4;
  double contrast = 0.4;
  double saturation = 0.2;
  double hue = 0.1;
  double grayscale_probability = 0.2;
  std::vector<double> blur_sigma{0.1, 2.0};  // DINO's GaussianBlur radius range
  double solarize_threshold = 0.5;           // 128/255, as PIL's solarize in DINO
  // Global crop i uses entry i mod size: DINO's first global crop is always blurred, the second
  // blurred with probability 0.1 and solarized with 0.2; local crops are blurred with 0.5.
  std::vector<double> global_blur_probability{1.0, 0.1};
  std::vector<double> global_solarize_probability{0.0, 0.2};
  double local_blur_probability = 0.5;
  double local_solarize_probability = 0.0;

  // Per-channel normalisation applied last; empty = none (tasks fill in the data's).
  std::vector<double> mean;
  std::vector<double> std;

  // Keys = the field names above; a key no field claims, or a bad value, throws ConfigError
  // naming `where`. Absent keys keep the defaults above.
  static MultiCropOptions from_json(const nlohmann::json& values, const std::string& where);
  nlohmann::json to_json() const;
  // Throws ConfigError naming the field (counts < 0, no global crop, reversed ranges, …).
  void validate() const;

  // The local side for a global side (local_size when set).
  int64_t local_side(int64_t global_side) const;
  // The ImageAugment settings of crop `index` (globals first) for inputs of side `input_side`.
  ImageAugmentOptions crop_options(int64_t index, int64_t input_side) const;
  int64_t crops() const { return global_crops + local_crops; }
};

// The BYOL pair of views (Grill et al. 2020, Table 6), which Barlow Twins, VICReg and DINO's
// global crops share: random resized crop (0.08–1), flip, colour jitter as above; view 0 is
// always blurred, view 1 is blurred with probability 0.1 and solarized with 0.2.
ImageAugmentOptions asymmetric_view_augment(int64_t view);

// `defaults` with the keys of `overrides` (a JSON object of ImageAugmentOptions fields) replaced,
// validated: how a task whose views differ from ImageAugment's defaults reads its options.
// Throws ConfigError naming `where` for a non-object, an unknown key or a bad value.
ImageAugmentOptions augment_with_overrides(const ImageAugmentOptions& defaults, const nlohmann::json& overrides,
                                           const std::string& where);

class MultiCrop {
 public:
  explicit MultiCrop(MultiCropOptions options);  // validates
  const MultiCropOptions& options() const { return options_; }

  // uint8 [B,H,W,C] → options().crops() float batches [B,C,h,w]: the global crops, then the
  // local ones. The images are converted to float once; each crop draws its own parameters.
  std::vector<torch::Tensor> operator()(const torch::Tensor& images, torch::Generator& generator) const;

 private:
  MultiCropOptions options_;
};

}  // namespace pretext
