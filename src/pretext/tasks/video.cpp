#include "pretext/tasks/video.h"

#include "pretext/core/options.h"

namespace pretext {

VideoClipOptions clips_from_context(VideoClipOptions own, const TaskContext& context) {
  const auto& preprocessing = context.preprocessing;
  PRETEXT_CHECK(preprocessing.is_object() && preprocessing.value("modality", "") == "video" &&
                    preprocessing.contains("clips"),
                ConfigError, "video tasks need video data (a video folder or moving-objects), but the run's data is ",
                preprocessing.value("modality", std::string("not video")));
  const auto run = VideoClipOptions::from_json(preprocessing.at("clips"), "preprocessing: clips");
  own.clip_frames = run.clip_frames;
  own.clip_stride = run.clip_stride;
  return own;
}

namespace {

VideoClipOptions read_clip_options(const nlohmann::json& values, const std::string& where) {
  return VideoClipOptions::from_json(values, where);
}

}  // namespace

ClipContrastiveOptions ClipContrastiveOptions::from_json(const nlohmann::json& values) {
  ClipContrastiveOptions options;
  OptionReader reader(values, "task clip-contrastive");
  nlohmann::json clips = nlohmann::json::object();
  options.read(reader);
  reader.read("clips", clips);
  reader.finish();
  options.clips = read_clip_options(clips, "task clip-contrastive: clips");
  options.validate("clip-contrastive");
  return options;
}

nlohmann::json ClipContrastiveOptions::to_json() const {
  nlohmann::json values = ContrastiveOptions::to_json();
  values["clips"] = clips.to_json();
  return values;
}

ClipContrastiveTask::ClipContrastiveTask(const TaskContext& context, ClipContrastiveOptions options)
    : PretextTask("ClipContrastiveTask", context.seed), options_(std::move(options)), mean_(context.mean),
      std_(context.std) {
  options_.clips = clips_from_context(options_.clips, context);
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  projector_ = register_module("projector", options_.make_projector(encoder_->dim()));
}

PretextTask::Output ClipContrastiveTask::step(const Batch& batch) {
  PRETEXT_CHECK(batch.input.dim() == 5, InputError, "task clip-contrastive needs video batches [B, T, H, W, C], got ",
                batch.input.sizes());
  const int64_t size = batch.size();
  const int64_t frames = batch.input.size(1);
  auto clip = [&] {
    auto starts = random_clip_starts(size, frames, options_.clips, generator());
    return augment_clips(take_clips(batch.input, starts, options_.clips), options_.clips, mean_, std_, generator());
  };
  auto first = clip();
  auto second = clip();
  auto h = encoder_->forward(torch::cat({first, second}, 0));
  return two_view_contrastive_output(*this, h, projector_->forward(h), options_.temperature);
}

FrameOrderOptions FrameOrderOptions::from_json(const nlohmann::json& values) {
  FrameOrderOptions options;
  OptionReader reader(values, "task frame-order");
  nlohmann::json clips = nlohmann::json::object();
  reader.read("clips", clips);
  reader.finish();
  options.clips = read_clip_options(clips, "task frame-order: clips");
  return options;
}

nlohmann::json FrameOrderOptions::to_json() const { return {{"clips", clips.to_json()}}; }

torch::Tensor frame_orders(const torch::Tensor& classes, int64_t frames, torch::Generator& generator) {
  PRETEXT_CHECK(frames >= 3, ConfigError, "frame-order needs clips of at least 3 frames (a shuffle that is neither "
                "forward nor reversed), got ", frames);
  const int64_t batch = classes.size(0);
  auto forward = torch::arange(frames, torch::kLong);
  auto orders = forward.unsqueeze(0).repeat({batch, 1});
  auto cls = classes.to(torch::kCPU);
  for (int64_t row = 0; row < batch; ++row) {
    const int64_t kind = cls[row].item<int64_t>();
    if (kind == 1) {
      orders[row] = forward.flip(0);
    } else if (kind == 2) {
      // Redraw until the permutation is neither monotone order (rare for ≥ 4 frames: 2 of n!).
      torch::Tensor permutation;
      do {
        permutation = torch::randperm(frames, generator, torch::kLong);
      } while (permutation.equal(forward) || permutation.equal(forward.flip(0)));
      orders[row] = permutation;
    }
  }
  return orders;
}

FrameOrderTask::FrameOrderTask(const TaskContext& context, FrameOrderOptions options)
    : PretextTask("FrameOrderTask", context.seed), options_(std::move(options)), mean_(context.mean), std_(context.std) {
  options_.clips = clips_from_context(options_.clips, context);
  PRETEXT_CHECK(options_.clips.clip_frames == 0 || options_.clips.clip_frames >= 3, ConfigError,
                "task frame-order needs clips of at least 3 frames, got --clip-frames ", options_.clips.clip_frames);
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  head_ = register_module("head", torch::nn::Linear(encoder_->dim(), 3));
}

PretextTask::Output FrameOrderTask::step(const Batch& batch) {
  PRETEXT_CHECK(batch.input.dim() == 5, InputError, "task frame-order needs video batches [B, T, H, W, C], got ",
                batch.input.sizes());
  const int64_t size = batch.size();
  auto starts = random_clip_starts(size, batch.input.size(1), options_.clips, generator());
  auto clips = take_clips(batch.input, starts, options_.clips);  // [B, T, H, W, C]
  auto classes = torch::randint(3, {size}, generator(), torch::kLong);
  auto orders = frame_orders(classes, clips.size(1), generator()).to(clips.device());
  auto index = orders.view({size, clips.size(1), 1, 1, 1}).expand_as(clips);
  auto reordered = clips.gather(1, index);
  auto h = encoder_->forward(augment_clips(reordered, options_.clips, mean_, std_, generator()));
  auto logits = head_->forward(h);
  auto targets = classes.to(logits.device());
  auto loss = torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), targets);
  auto accuracy = (logits.argmax(1) == targets).to(torch::kFloat32).mean().item<double>();
  Output output;
  output.loss = loss;
  output.stats = {{"order_acc", accuracy}};
  output.embedding = h.detach();
  return output;
}

}  // namespace pretext
