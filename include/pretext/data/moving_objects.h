// Moving-objects videos (Moving-MNIST-style): one object from an image dataset (Fashion-MNIST)
// moving in a larger frame and bouncing off its edges. Each video has two labels: the object's
// class and its motion direction (one of 8 compass directions: the direction of its velocity in
// the first frame; start positions are drawn so that the object does not reach an edge within the
// first `frames` frames when speed × frames fits, so the direction holds over the clip).
// Harder videos, for a corpus where the direction is not the only thing that moves: `distractors`
// other objects (dimmer, each with its own direction and speed) and per-pixel noise in every frame.
// Seeded and reproducible: the same images and options give the same videos, and the defaults
// (no distractors, no noise) give the videos they gave before these options existed.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pretext/data/dataset.h"

namespace pretext {

struct MovingObjectsOptions {
  int64_t videos = 0;      // 0 = one per object image
  int64_t frames = 16;
  int64_t size = 48;       // frame side in pixels
  double speed_min = 1.0;  // pixels per frame
  double speed_max = 1.25;
  int64_t distractors = 0;            // other moving objects in each video, drawn dimmer
  double distractor_brightness = 0.5;  // their pixels scaled by this (0, 1]
  double noise = 0;                    // uniform noise in [−noise, +noise] on each pixel (0–255 scale)
  uint64_t seed = 0;
  void validate() const;   // ConfigError naming the field
  nlohmann::json to_json() const;
};

struct MovingObjects {
  torch::Tensor videos;     // uint8 [N, frames, size, size, 1]
  torch::Tensor objects;    // int64 [N] class of the object image
  torch::Tensor directions; // int64 [N] 0..7: east, north-east, north, north-west, west, south-west, south, south-east
  std::vector<std::string> object_names;
  static std::vector<std::string> direction_names();
};

// `images`: uint8 [M, h, w, 1] objects with their labels int64 [M] and class names.
MovingObjects make_moving_objects(const torch::Tensor& images, const torch::Tensor& labels,
                                  std::vector<std::string> object_names, const MovingObjectsOptions& options);

// Named datasets: "moving-objects" (labels = direction) and "moving-objects-class" (labels =
// object class), split "train" from Fashion-MNIST's train images and "test" from its test images
// (seed + 1), made in memory. Returns nullptr for another name.
DatasetPtr load_moving_objects(const std::string& name, const std::string& split, int64_t limit = 0);

// The videos behind the named datasets for `split`: made from Fashion-MNIST's images of that
// split with `options` (the defaults unless given), seed 0 for "train" and 1 for "test" (the options'
// seed is replaced); the first `limit` source images only (0 = all). InputError for another split
// or when Fashion-MNIST is missing.
MovingObjects named_moving_objects(const std::string& split, int64_t limit = 0, MovingObjectsOptions options = {});

// Writes `objects` as files: <out>/by-direction/<split>/<direction>/<n>.mkv and hard links
// <out>/by-class/<split>/<class>/<n>.mkv (one copy of the bytes), so that either label set reads
// as a video folder. Atomic per file.
void write_moving_objects(const MovingObjects& objects, const std::string& out, const std::string& split);

}  // namespace pretext
