// Rotation prediction (Gidaris et al. 2018, RotNet): each image is turned by 0°, 90°, 180° and
// 270°; the network must say which. The data supplies the answer: a 4-way classification.
#pragma once

#include "pretext/augment/image.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct RotationOptions {
  bool all_rotations = true;  // all four turns of every image (RotNet); false: one random turn each
  int64_t head_hidden_dim = 0;  // 0 = a linear head; >0 = one hidden layer of that width
  ImageAugmentOptions augment = default_augment();

  static ImageAugmentOptions default_augment();  // light: crop (0.5–1) and flip, no colour
  static RotationOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

class RotationTask : public PretextTask {
 public:
  RotationTask(const TaskContext& context, RotationOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

 private:
  RotationOptions options_;
  EncoderPtr encoder_;
  MLP head_{nullptr};
  ImageAugment augment_;
};

}  // namespace pretext
