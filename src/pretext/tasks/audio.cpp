#include "pretext/tasks/audio.h"

#include "pretext/augment/audio_input.h"
#include "pretext/core/options.h"

namespace pretext {

LogMelOptions log_mel_from_context(const TaskContext& context, const std::string& task) {
  const auto& preprocessing = context.preprocessing;
  PRETEXT_CHECK(preprocessing.is_object() && preprocessing.value("modality", "") == "audio" &&
                    preprocessing.contains("log_mel"),
                ConfigError, "task ", task, " needs audio data (a folder of sound files or spoken-words), but the run's ",
                "data is ", preprocessing.value("modality", std::string("not audio")));
  return LogMelOptions::from_json(preprocessing.at("log_mel"));
}

namespace {

// Packed frames of different lengths, right-padded to the longest (padding frames are invalid).
torch::Tensor concat_frames(const torch::Tensor& a, const torch::Tensor& b) {
  const int64_t frames = std::max(a.size(2), b.size(2));
  auto pad = [frames](const torch::Tensor& x) {
    return x.size(2) == frames ? x : torch::constant_pad_nd(x, {0, frames - x.size(2)}, 0);
  };
  return torch::cat({pad(a), pad(b)}, 0);
}

}  // namespace

AudioContrastiveOptions AudioContrastiveOptions::from_json(const nlohmann::json& values) {
  AudioContrastiveOptions options;
  OptionReader reader(values, "task audio-contrastive");
  nlohmann::json augment = nlohmann::json::object();
  options.read(reader);
  reader.read("augment", augment);
  reader.finish();
  options.augment = AudioAugmentOptions::from_json(augment);
  options.validate("audio-contrastive");
  return options;
}

nlohmann::json AudioContrastiveOptions::to_json() const {
  nlohmann::json values = ContrastiveOptions::to_json();
  values["augment"] = augment.to_json();
  return values;
}

AudioContrastiveTask::AudioContrastiveTask(const TaskContext& context, AudioContrastiveOptions options)
    : PretextTask("AudioContrastiveTask", context.seed),
      options_(std::move(options)),
      log_mel_(log_mel_from_context(context, "audio-contrastive")) {
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  projector_ = register_module("projector", options_.make_projector(encoder_->dim()));
}

torch::Tensor AudioContrastiveTask::view(const Batch& batch) {
  auto [waveforms, lengths] =
      augment_waveforms(batch.input, batch.extra, log_mel_.options().sample_rate, options_.augment, generator());
  return spec_augment(audio_frames(log_mel_, waveforms, lengths), options_.augment, generator());
}

PretextTask::Output AudioContrastiveTask::step(const Batch& batch) {
  PRETEXT_CHECK(batch.extra.defined(), InputError, "task audio-contrastive needs audio batches (waveforms and lengths)");
  auto h = encoder_->forward(concat_frames(view(batch), view(batch)));
  return two_view_contrastive_output(*this, h, projector_->forward(h), options_.temperature);
}

AudioAugmentOptions MaskedFramesOptions::mild_augment() {
  AudioAugmentOptions augment = AudioAugmentOptions::none();
  augment.crop_seconds = 1.0;
  augment.gain_db = 6;
  augment.noise_probability = 0.5;
  return augment;
}

MaskedFramesOptions MaskedFramesOptions::from_json(const nlohmann::json& values) {
  MaskedFramesOptions options;
  OptionReader reader(values, "task masked-frames");
  nlohmann::json augment = options.augment.to_json();
  nlohmann::json given = nlohmann::json::object();
  reader.read("mask_ratio", options.mask_ratio).read("mask_span", options.mask_span).read("augment", given);
  reader.finish();
  augment.update(given);
  options.augment = AudioAugmentOptions::from_json(augment);
  PRETEXT_CHECK(options.mask_ratio > 0 && options.mask_ratio < 1, ConfigError,
                "task masked-frames: mask_ratio must be in (0, 1), got ", options.mask_ratio);
  PRETEXT_CHECK(options.mask_span >= 1, ConfigError, "task masked-frames: mask_span must be ≥ 1, got ",
                options.mask_span);
  return options;
}

nlohmann::json MaskedFramesOptions::to_json() const {
  return {{"mask_ratio", mask_ratio}, {"mask_span", mask_span}, {"augment", augment.to_json()}};
}

torch::Tensor draw_span_mask(const torch::Tensor& valid, double ratio, int64_t span, torch::Generator& generator) {
  const int64_t batch = valid.size(0), steps = valid.size(1);
  auto valid_cpu = valid.to(torch::kCPU);
  auto starts = torch::rand({batch, steps}, generator, torch::kFloat32).lt(ratio / static_cast<double>(span));
  auto hidden = torch::zeros({batch, steps}, torch::kBool);
  for (int64_t offset = 0; offset < span; ++offset) {
    hidden.slice(1, offset).logical_or_(starts.slice(1, 0, steps - offset));
  }
  hidden.logical_and_(valid_cpu);
  // A row with nothing hidden gets one span at a random valid start, so every sample has a loss.
  auto empty = hidden.any(1).logical_not().logical_and(valid_cpu.any(1));
  if (empty.any().item<bool>()) {
    auto counts = valid_cpu.sum(1);
    auto picks = (torch::rand({batch}, generator, torch::kFloat64) * counts.to(torch::kFloat64)).floor().to(torch::kLong);
    for (int64_t row = 0; row < batch; ++row) {
      if (!empty[row].item<bool>()) continue;
      const int64_t start = picks[row].item<int64_t>();
      hidden[row].slice(0, start, std::min(steps, start + span)).fill_(true);
    }
    hidden.logical_and_(valid_cpu);
  }
  return hidden.to(valid.device());
}

torch::Tensor MaskedFramesTask::masked_frames_loss(const torch::Tensor& prediction, const torch::Tensor& packed,
                                                   const torch::Tensor& hidden) {
  const int64_t batch = packed.size(0), mels = packed.size(1) - 1, frames = packed.size(2);
  const int64_t steps = prediction.size(1);
  const int64_t per_step = AudioTransformerEncoder::kFramesPerStep;
  // Targets [B, steps, per_step·mels]: step j owns frames [4j, 4j + 4) (the front end's stride).
  auto padded = torch::constant_pad_nd(packed, {0, steps * per_step - frames}, 0);  // [B, 1 + mels, steps·4]
  auto target = padded.slice(1, 1).view({batch, mels, steps, per_step}).permute({0, 2, 3, 1});  // [B, steps, 4, mels]
  auto frame_valid = padded.select(1, 0).view({batch, steps, per_step});                        // [B, steps, 4]
  auto weight = frame_valid * hidden.to(frame_valid.scalar_type()).unsqueeze(2);                 // [B, steps, 4]
  auto error = (prediction.view({batch, steps, per_step, mels}).to(torch::kFloat32) - target).square().mean(3);
  return (error * weight).sum() / weight.sum().clamp_min(1);
}

MaskedFramesTask::MaskedFramesTask(const TaskContext& context, MaskedFramesOptions options)
    : PretextTask("MaskedFramesTask", context.seed),
      options_(std::move(options)),
      log_mel_(log_mel_from_context(context, "masked-frames")) {
  auto encoder = make_encoder(context.encoder);
  encoder_ = std::dynamic_pointer_cast<AudioTransformerEncoder>(encoder);
  PRETEXT_CHECK(encoder_ != nullptr, ConfigError, "task masked-frames needs an encoder with per-step outputs ",
                "(audio-transformer), not '", context.encoder.name, "'");
  register_module("encoder", encoder);
  head_ = register_module("head", torch::nn::Linear(encoder_->dim(),
                                                    AudioTransformerEncoder::kFramesPerStep * encoder_->mels()));
}

PretextTask::Output MaskedFramesTask::step(const Batch& batch) {
  PRETEXT_CHECK(batch.extra.defined(), InputError, "task masked-frames needs audio batches (waveforms and lengths)");
  auto [waveforms, lengths] =
      augment_waveforms(batch.input, batch.extra, log_mel_.options().sample_rate, options_.augment, generator());
  auto packed = audio_frames(log_mel_, waveforms, lengths);
  const int64_t frames = packed.size(2);
  const int64_t steps = AudioTransformerEncoder::steps_for(frames);
  auto step_valid = packed.select(1, 0).gt(0.5).slice(1, 0, frames, AudioTransformerEncoder::kFramesPerStep);
  auto hidden = draw_span_mask(step_valid, options_.mask_ratio, options_.mask_span, generator());
  // The hidden steps' input frames are set to the mean (0) too, so that no convolution sees them.
  auto frame_hidden = hidden.repeat_interleave(AudioTransformerEncoder::kFramesPerStep, 1).slice(1, 0, frames);
  auto input = packed.clone();
  input.slice(1, 1).masked_fill_(frame_hidden.unsqueeze(1), 0.0);
  auto [states, valid] = encoder_->forward_steps(input, hidden);
  TORCH_INTERNAL_ASSERT(states.size(1) == steps);
  auto loss = masked_frames_loss(head_->forward(states), packed, hidden);
  auto weights = valid.to(states.scalar_type()).unsqueeze(2);
  auto pooled = ((states * weights).sum(1) / weights.sum(1).clamp_min(1)).detach();
  Output output;
  output.loss = loss;
  output.stats = {{"hidden_fraction", hidden.to(torch::kFloat32).sum().item<double>() /
                                          std::max<double>(1, valid.sum().item<double>())}};
  output.embedding = pooled;
  return output;
}

}  // namespace pretext
