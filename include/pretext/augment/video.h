// Video clips for tasks and probes: short clips cut from longer videos, and the augmentation of a
// clip, the same for all its frames (CVRL's temporally consistent augmentation, Qian et al. 2021
// §3.2: a crop or brightness that changes from frame to frame would itself look like motion).
// Requires: uint8 videos [B, T, H, W, C]. Guarantees: float clips [B, C, T', S, S] normalised
// with the options' mean/std; every draw comes from the generator passed in. No flips: a mirrored
// video moves the other way, and motion direction is a label here.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pretext/augment/image.h"

namespace pretext {

struct VideoClipOptions {
  int64_t clip_frames = 8;  // frames per clip; 0 = the whole video
  int64_t clip_stride = 1;  // take every clip_stride-th frame
  // Random resized crop of each clip (area fraction range), the same box for every frame.
  std::vector<double> crop_scale{0.5, 1.0};
  double brightness = 0.3;  // factor uniform in [1 − b, 1 + b], per clip
  double contrast = 0.3;    // blend with the clip's mean by a factor uniform in [1 − c, 1 + c]
  static VideoClipOptions from_json(const nlohmann::json& values, const std::string& where);
  nlohmann::json to_json() const;
  void validate(const std::string& where) const;  // ConfigError naming the field
};

// The frames a clip spans: (clip_frames − 1)·clip_stride + 1, or the video's length for 0.
int64_t clip_span(const VideoClipOptions& options, int64_t video_frames);
// Start frames uniform in [0, T − span] per video (int64 [B]).
torch::Tensor random_clip_starts(int64_t batch, int64_t video_frames, const VideoClipOptions& options,
                                 torch::Generator& generator);
// uint8 [B, T, H, W, C] → uint8 [B, clip_frames, H, W, C] from each video's start frame.
torch::Tensor take_clips(const torch::Tensor& videos, const torch::Tensor& starts, const VideoClipOptions& options);

// uint8 clips [B, T, H, W, C] → float [B, C, T, H, W] in [0, 1], normalised per channel.
torch::Tensor clips_to_input(const torch::Tensor& clips, const std::vector<double>& mean,
                             const std::vector<double>& std);
// The same with a random resized crop and brightness/contrast jitter drawn per clip.
torch::Tensor augment_clips(const torch::Tensor& clips, const VideoClipOptions& options,
                            const std::vector<double>& mean, const std::vector<double>& std,
                            torch::Generator& generator);

}  // namespace pretext
