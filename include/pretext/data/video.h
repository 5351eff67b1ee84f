// Video input: clips as uint8 frame stacks, read from video files (FFmpeg's libavformat,
// libavcodec, libswscale) or from folders of frames, and the dataset that holds them.
// What it represents: N clips of the same shape [T, H, W, C], each T frames taken every
// `stride`-th decoded frame from the start (a shorter video repeats its last frame).
// Guarantees: a missing, corrupt or truncated file is an InputError naming it; frames are
// resized (bilinear, swscale or the image reader's resize) to size×size when size > 0.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "pretext/data/dataset.h"

namespace pretext {

struct VideoReadOptions {
  int64_t frames = 16;    // clip length in frames
  int64_t stride = 1;     // take every stride-th decoded frame
  int64_t size = 0;       // resize frames to size×size; 0 = keep the first clip's size (all must agree)
  int64_t channels = 0;   // 1 (gray) or 3 (RGB); 0 = 1 when every frame of the first clip is gray, else 3
  int64_t limit = 0;      // keep only the first `limit` videos of the split (0 = all)
  // A folder's video that does not decode: skip (left out, counted in one warning) | fail. A
  // load-time policy, not a property of the data: not in to_json().
  std::string on_bad_file = "skip";
  void validate() const;  // ConfigError naming the field
  nlohmann::json to_json() const;
  static VideoReadOptions from_json(const nlohmann::json& values);
};

// One clip from a video file: uint8 [frames, H, W, channels]. Throws InputError naming `path`.
torch::Tensor read_video_file(const std::string& path, const VideoReadOptions& options);
// One clip from a folder of image files (sorted by name). Throws InputError naming `path`.
torch::Tensor read_frame_folder(const std::string& path, const VideoReadOptions& options);
// Writes uint8 frames [T, H, W, C] (C = 1 or 3) as a lossless video file (FFV1 in Matroska,
// .mkv) at `fps`, atomically. Throws IoError naming `path`.
void write_video_file(const std::string& path, const torch::Tensor& frames, int64_t fps = 10);

// Clips in memory: videos uint8 [N, T, H, W, C]; labels int64 [N] (-1 = none).
// get(): Batch.input = uint8 [B, T, H, W, C], Batch.group = the indices (each video its own source).
class VideoDataset : public Dataset {
 public:
  VideoDataset(torch::Tensor videos, torch::Tensor labels, std::vector<std::string> class_names, std::string source);
  int64_t size() const override { return videos_.size(0); }
  Batch get(const torch::Tensor& indices) const override;
  torch::Tensor labels() const override { return labels_; }
  int64_t num_classes() const override { return static_cast<int64_t>(class_names_.size()); }
  std::vector<std::string> class_names() const override { return class_names_; }
  std::vector<int64_t> sample_shape() const override;  // {T, H, W, C}
  std::string source() const override { return source_; }
  const torch::Tensor& videos() const { return videos_; }

 private:
  torch::Tensor videos_;
  torch::Tensor labels_;
  std::vector<std::string> class_names_;
  std::string source_;
};

// Split "train" or "test" of a video folder (train/ and test/ sub-folders are the splits, else
// the folder is "train"); each sub-folder of a split is a class, and each entry in it a video
// file (.mp4 .mkv .avi .webm .mov .gif) or a folder of frames. Entries directly in the split
// make an unlabeled set. Throws InputError naming the folder or file.
std::shared_ptr<VideoDataset> load_video_folder(const std::string& path, const std::string& split,
                                                const VideoReadOptions& options = {});

// Whether `path` (a file, or a folder judged by its first entries) holds video files or frame
// folders in class folders.
bool is_video_path(const std::string& path);

}  // namespace pretext
