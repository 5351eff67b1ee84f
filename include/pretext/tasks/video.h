// Pretext tasks on video. Both read raw batches from a VideoDataset (uint8 [B, T, H, W, C]) and
// cut clips with the run's clip length and stride (TaskContext::preprocessing["clips"], the ones
// the preprocessor stores: pretraining and evaluation see clips alike); the task's own `clips`
// options set the crop and the brightness/contrast jitter.
//   clip-contrastive — CVRL (Qian et al. 2021): two clips from random times of the same video,
//       each with its own temporally consistent crop and brightness/contrast, an MLP projector and
//       the NT-Xent loss over the global batch; clips of other videos are the negatives.
//   frame-order — temporal order verification (Shuffle and Learn, Misra et al. 2016) with the
//       arrow of time (Wei et al. 2018): each clip is played forward, reversed or shuffled (a
//       permutation that is neither), and a linear head on the encoder says which, by
//       cross-entropy.
#pragma once

#include "pretext/augment/video.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/simclr.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct ClipContrastiveOptions : ContrastiveOptions {
  VideoClipOptions clips;            // crop and jitter; clip_frames/clip_stride are the run's
  static ClipContrastiveOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

class ClipContrastiveTask : public PretextTask {
 public:
  ClipContrastiveTask(const TaskContext& context, ClipContrastiveOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

 private:
  ClipContrastiveOptions options_;
  std::vector<double> mean_, std_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
};

struct FrameOrderOptions {
  VideoClipOptions clips;  // crop and jitter; clip_frames/clip_stride are the run's (≥ 3 frames)
  static FrameOrderOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

// Frame orders for `classes` (int64 [B]: 0 forward, 1 reversed, 2 shuffled) of clips of `frames`
// frames: int64 [B, frames], a shuffled row being a random permutation that is neither the
// identity nor the reversal.
torch::Tensor frame_orders(const torch::Tensor& classes, int64_t frames, torch::Generator& generator);

class FrameOrderTask : public PretextTask {
 public:
  FrameOrderTask(const TaskContext& context, FrameOrderOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

 private:
  FrameOrderOptions options_;
  std::vector<double> mean_, std_;
  EncoderPtr encoder_;
  torch::nn::Linear head_{nullptr};
};

// The clip options a task uses: its own crop and jitter with the run's clip_frames and clip_stride.
VideoClipOptions clips_from_context(VideoClipOptions own, const TaskContext& context);

}  // namespace pretext
