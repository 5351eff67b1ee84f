#include "pretext/augment/video.h"

#include "pretext/core/error.h"
#include "pretext/core/options.h"

namespace pretext {

VideoClipOptions VideoClipOptions::from_json(const nlohmann::json& values, const std::string& where) {
  VideoClipOptions options;
  OptionReader reader(values, where);
  reader.read("clip_frames", options.clip_frames)
      .read("clip_stride", options.clip_stride)
      .read("crop_scale", options.crop_scale)
      .read("brightness", options.brightness)
      .read("contrast", options.contrast);
  reader.finish();
  options.validate(where);
  return options;
}

nlohmann::json VideoClipOptions::to_json() const {
  return {{"clip_frames", clip_frames},
          {"clip_stride", clip_stride},
          {"crop_scale", crop_scale},
          {"brightness", brightness},
          {"contrast", contrast}};
}

void VideoClipOptions::validate(const std::string& where) const {
  PRETEXT_CHECK(clip_frames >= 0, ConfigError, where, ": clip_frames must be ≥ 0 (0 = whole videos), got ", clip_frames);
  PRETEXT_CHECK(clip_stride >= 1, ConfigError, where, ": clip_stride must be ≥ 1, got ", clip_stride);
  PRETEXT_CHECK(crop_scale.size() == 2 && crop_scale[0] > 0 && crop_scale[0] <= crop_scale[1] && crop_scale[1] <= 1,
                ConfigError, where, ": crop_scale must be [low, high] with 0 < low ≤ high ≤ 1");
  PRETEXT_CHECK(brightness >= 0 && brightness < 1, ConfigError, where, ": brightness must be in [0, 1), got ",
                brightness);
  PRETEXT_CHECK(contrast >= 0 && contrast < 1, ConfigError, where, ": contrast must be in [0, 1), got ", contrast);
}

int64_t clip_span(const VideoClipOptions& options, int64_t video_frames) {
  if (options.clip_frames == 0) return video_frames;
  return (options.clip_frames - 1) * options.clip_stride + 1;
}

torch::Tensor random_clip_starts(int64_t batch, int64_t video_frames, const VideoClipOptions& options,
                                 torch::Generator& generator) {
  const int64_t span = clip_span(options, video_frames);
  PRETEXT_CHECK(span <= video_frames, InputError, "a clip of ", options.clip_frames, " frames every ",
                options.clip_stride, " spans ", span, " frames, but the videos have ", video_frames,
                "; lower clip_frames or clip_stride");
  return torch::randint(video_frames - span + 1, {batch}, generator, torch::kLong);
}

torch::Tensor take_clips(const torch::Tensor& videos, const torch::Tensor& starts, const VideoClipOptions& options) {
  PRETEXT_CHECK(videos.dim() == 5, InputError, "videos must be [B, T, H, W, C], got ", videos.sizes());
  if (options.clip_frames == 0) return videos;
  auto offsets = torch::arange(options.clip_frames, torch::kLong) * options.clip_stride;  // [clip]
  auto frames = (starts.to(torch::kCPU).unsqueeze(1) + offsets.unsqueeze(0)).to(videos.device());  // [B, clip]
  PRETEXT_CHECK(frames.max().item<int64_t>() < videos.size(1), InputError, "clip reaches frame ",
                frames.max().item<int64_t>(), " of videos with ", videos.size(1), " frames");
  auto index = frames.view({frames.size(0), frames.size(1), 1, 1, 1})
                   .expand({frames.size(0), frames.size(1), videos.size(2), videos.size(3), videos.size(4)});
  return videos.gather(1, index);
}

namespace {

torch::Tensor normalize_clips(torch::Tensor x, const std::vector<double>& mean, const std::vector<double>& std) {
  if (mean.empty()) return x;
  const int64_t channels = x.size(1);
  PRETEXT_CHECK(static_cast<int64_t>(mean.size()) == channels && static_cast<int64_t>(std.size()) == channels,
                InputError, "video normalisation has ", mean.size(), " channel means for ", channels, "-channel clips");
  auto options = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
  auto m = torch::tensor(mean, torch::kDouble).to(options).view({1, channels, 1, 1, 1});
  auto s = torch::tensor(std, torch::kDouble).to(options).view({1, channels, 1, 1, 1});
  return (x - m) / s;
}

}  // namespace

torch::Tensor clips_to_input(const torch::Tensor& clips, const std::vector<double>& mean,
                             const std::vector<double>& std) {
  PRETEXT_CHECK(clips.dim() == 5 && clips.scalar_type() == torch::kUInt8, InputError,
                "video clips must be uint8 [B, T, H, W, C], got ", clips.sizes());
  auto x = clips.permute({0, 4, 1, 2, 3}).to(torch::kFloat32).div_(255.0);  // [B, C, T, H, W]
  return normalize_clips(x.contiguous(), mean, std);
}

torch::Tensor augment_clips(const torch::Tensor& clips, const VideoClipOptions& options,
                            const std::vector<double>& mean, const std::vector<double>& std,
                            torch::Generator& generator) {
  auto x = clips_to_input(clips, {}, {});  // [B, C, T, H, W] in [0, 1]
  const int64_t batch = x.size(0), channels = x.size(1), frames = x.size(2), height = x.size(3), width = x.size(4);
  // One crop box per clip: the frames ride along as channels of one image.
  ImageAugmentOptions crop = crop_and_flip_only(options.crop_scale[0]);
  crop.crop_scale = options.crop_scale;
  crop.flip_probability = 0.0;
  crop.size = height;
  x = ImageAugment(crop).random_resized_crop(x.reshape({batch, channels * frames, height, width}), generator);
  x = x.view({batch, channels, frames, height, width});
  auto cpu = torch::TensorOptions().dtype(torch::kFloat32);
  auto brightness = (torch::rand({batch}, generator, cpu) * 2 - 1) * options.brightness + 1;
  auto contrast = (torch::rand({batch}, generator, cpu) * 2 - 1) * options.contrast + 1;
  brightness = brightness.to(x.device()).view({batch, 1, 1, 1, 1});
  contrast = contrast.to(x.device()).view({batch, 1, 1, 1, 1});
  x = x * brightness;
  auto clip_mean = x.mean({1, 2, 3, 4}, /*keepdim=*/true);
  x = ((x - clip_mean) * contrast + clip_mean).clamp(0, 1);
  return normalize_clips(x, mean, std);
}

}  // namespace pretext
