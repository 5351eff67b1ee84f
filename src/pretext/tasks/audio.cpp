#include "pretext/tasks/audio.h"

#include <cmath>
#include <tuple>

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

namespace {

// The options both masked-prediction tasks have — mask_ratio, mask_span, visible_weight and
// augment (given keys over the task's defaults) — read and checked; finishes the reader.
void read_masking(OptionReader& reader, const std::string& task, double& ratio, int64_t& span,
                  double& visible_weight, AudioAugmentOptions& augment) {
  nlohmann::json merged = augment.to_json();
  nlohmann::json given = nlohmann::json::object();
  reader.read("mask_ratio", ratio).read("mask_span", span).read("visible_weight", visible_weight).read("augment", given);
  reader.finish();
  merged.update(given);
  augment = AudioAugmentOptions::from_json(merged);
  PRETEXT_CHECK(ratio > 0 && ratio < 1, ConfigError, "task ", task, ": mask_ratio must be in (0, 1), got ", ratio);
  PRETEXT_CHECK(span >= 1, ConfigError, "task ", task, ": mask_span must be ≥ 1, got ", span);
  PRETEXT_CHECK(std::isfinite(visible_weight) && visible_weight >= 0, ConfigError, "task ", task,
                ": visible_weight must be ≥ 0, got ", visible_weight);
}

}  // namespace

MaskedFramesOptions MaskedFramesOptions::from_json(const nlohmann::json& values) {
  MaskedFramesOptions options;
  OptionReader reader(values, "task masked-frames");
  reader.read("decoder_hidden", options.decoder_hidden);
  read_masking(reader, "masked-frames", options.mask_ratio, options.mask_span, options.visible_weight,
               options.augment);
  PRETEXT_CHECK(options.decoder_hidden >= 0, ConfigError, "task masked-frames: decoder_hidden must be ≥ 0, got ",
                options.decoder_hidden);
  return options;
}

nlohmann::json MaskedFramesOptions::to_json() const {
  return {{"mask_ratio", mask_ratio},
          {"mask_span", mask_span},
          {"visible_weight", visible_weight},
          {"decoder_hidden", decoder_hidden},
          {"augment", augment.to_json()}};
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

namespace {

// The encoder a masked-prediction task needs (per-step outputs), registered as the task's "encoder".
std::shared_ptr<AudioTransformerEncoder> per_step_encoder(torch::nn::Module& task, const TaskContext& context,
                                                          const std::string& name) {
  auto encoder = make_encoder(context.encoder);
  auto per_step = std::dynamic_pointer_cast<AudioTransformerEncoder>(encoder);
  PRETEXT_CHECK(per_step != nullptr, ConfigError, "task ", name, " needs an encoder with per-step outputs ",
                "(audio-transformer), not '", context.encoder.name, "'");
  task.register_module("encoder", encoder);
  return per_step;
}

// The encoder run on packed frames with spans of steps hidden: their input frames set to the
// mean (0), so that no convolution sees them, and their latents replaced by the mask vector.
struct MaskedRun {
  torch::Tensor states;  // [B, steps, width]
  torch::Tensor valid;   // bool [B, steps]
  torch::Tensor hidden;  // bool [B, steps]
  // A per-step loss (a function of a bool [B, steps] mask) on the hidden steps plus
  // visible_weight times the same loss on the valid steps that are not hidden.
  template <class Loss>
  torch::Tensor hidden_plus_visible(const Loss& loss, double visible_weight) const {
    auto total = loss(hidden);
    if (visible_weight > 0) total = total + visible_weight * loss(valid.logical_and(hidden.logical_not()));
    return total;
  }
  double hidden_fraction() const {
    return hidden.to(torch::kFloat32).sum().item<double>() / std::max<double>(1, valid.sum().item<double>());
  }
  // The mean of the valid steps' states, detached: the monitors' embedding.
  torch::Tensor pooled() const {
    auto weights = valid.to(states.scalar_type()).unsqueeze(2);
    return ((states * weights).sum(1) / weights.sum(1).clamp_min(1)).detach();
  }
};

// Which encoder steps of packed frames are valid (their first frame is): bool [B, steps].
torch::Tensor valid_steps(const torch::Tensor& packed) {
  return packed.select(1, 0).gt(0.5).slice(1, 0, packed.size(2), AudioTransformerEncoder::kFramesPerStep);
}

MaskedRun run_masked(AudioTransformerEncoder& encoder, const torch::Tensor& packed, double ratio, int64_t span,
                     torch::Generator& generator) {
  const int64_t frames = packed.size(2);
  MaskedRun run;
  run.hidden = draw_span_mask(valid_steps(packed), ratio, span, generator);
  auto frame_hidden = run.hidden.repeat_interleave(AudioTransformerEncoder::kFramesPerStep, 1).slice(1, 0, frames);
  auto input = packed.clone();
  input.slice(1, 1).masked_fill_(frame_hidden.unsqueeze(1), 0.0);
  std::tie(run.states, run.valid) = encoder.forward_steps(input, run.hidden);
  TORCH_INTERNAL_ASSERT(run.states.size(1) == AudioTransformerEncoder::steps_for(frames));
  return run;
}

}  // namespace

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
  encoder_ = per_step_encoder(*this, context, "masked-frames");
  int64_t head_input = encoder_->dim();
  if (options_.decoder_hidden > 0) {
    decoder_ = register_module("decoder", torch::nn::Linear(encoder_->dim(), options_.decoder_hidden));
    head_input = options_.decoder_hidden;
  }
  head_ = register_module("head", torch::nn::Linear(head_input,
                                                    AudioTransformerEncoder::kFramesPerStep * encoder_->mels()));
}

PretextTask::Output MaskedFramesTask::step(const Batch& batch) {
  PRETEXT_CHECK(batch.extra.defined(), InputError, "task masked-frames needs audio batches (waveforms and lengths)");
  auto [waveforms, lengths] =
      augment_waveforms(batch.input, batch.extra, log_mel_.options().sample_rate, options_.augment, generator());
  auto packed = audio_frames(log_mel_, waveforms, lengths);
  auto masked = run_masked(*encoder_, packed, options_.mask_ratio, options_.mask_span, generator());
  auto prediction =
      head_->forward(decoder_ ? torch::gelu(decoder_->forward(masked.states)) : masked.states);
  Output output;
  output.loss = masked.hidden_plus_visible(
      [&](const torch::Tensor& steps) { return masked_frames_loss(prediction, packed, steps); },
      options_.visible_weight);
  output.stats = {{"hidden_fraction", masked.hidden_fraction()}};
  output.embedding = masked.pooled();
  return output;
}

MaskedUnitsOptions MaskedUnitsOptions::from_json(const nlohmann::json& values) {
  MaskedUnitsOptions options;
  OptionReader reader(values, "task masked-units");
  reader.read("units", options.units)
      .read("cepstra", options.cepstra)
      .read("kmeans_iterations", options.kmeans_iterations);
  read_masking(reader, "masked-units", options.mask_ratio, options.mask_span, options.visible_weight,
               options.augment);
  PRETEXT_CHECK(options.units >= 2, ConfigError, "task masked-units: units must be ≥ 2, got ", options.units);
  PRETEXT_CHECK(options.cepstra >= 1, ConfigError, "task masked-units: cepstra must be ≥ 1, got ", options.cepstra);
  PRETEXT_CHECK(options.kmeans_iterations >= 1, ConfigError, "task masked-units: kmeans_iterations must be ≥ 1, got ",
                options.kmeans_iterations);
  return options;
}

nlohmann::json MaskedUnitsOptions::to_json() const {
  return {{"units", units},
          {"cepstra", cepstra},
          {"kmeans_iterations", kmeans_iterations},
          {"visible_weight", visible_weight},
          {"mask_ratio", mask_ratio},
          {"mask_span", mask_span},
          {"augment", augment.to_json()}};
}

torch::Tensor step_cepstra(const torch::Tensor& packed, int64_t cepstra) {
  const int64_t batch = packed.size(0), mels = packed.size(1) - 1, frames = packed.size(2);
  PRETEXT_CHECK(cepstra <= mels, ConfigError, "task masked-units: cepstra (", cepstra, ") must be ≤ the log-mel bins (",
                mels, ")");
  const int64_t per_step = AudioTransformerEncoder::kFramesPerStep;
  const int64_t steps = AudioTransformerEncoder::steps_for(frames);
  auto log_mels = torch::constant_pad_nd(packed.slice(1, 1).to(torch::kFloat32), {0, steps * per_step - frames}, 0)
                      .view({batch, mels, steps, per_step});
  auto mean = log_mels.mean(3);                                                                // [B, mels, steps]
  auto delta = log_mels.slice(3, per_step / 2).mean(3) - log_mels.slice(3, 0, per_step / 2).mean(3);
  // DCT-II basis [cepstra, mels]: cos(π k (m + ½) / mels).
  auto k = torch::arange(cepstra, packed.options().dtype(torch::kFloat32)).unsqueeze(1);
  auto m = torch::arange(mels, packed.options().dtype(torch::kFloat32)).unsqueeze(0) + 0.5;
  auto basis = torch::cos(k * m * (M_PI / static_cast<double>(mels)));
  auto transform = [&basis](const torch::Tensor& x) { return torch::matmul(basis, x).transpose(1, 2); };
  return torch::cat({transform(mean), transform(delta)}, 2);  // [B, steps, 2·cepstra]
}

torch::Tensor nearest_centroid(const torch::Tensor& points, const torch::Tensor& centroids) {
  // |p − c|² = |p|² − 2 p·c + |c|², and |p|² is the same for every centroid.
  auto scores = centroids.square().sum(1).unsqueeze(0) - 2 * torch::matmul(points, centroids.t());
  return scores.argmin(1);
}

torch::Tensor kmeans(const torch::Tensor& points, int64_t k, int64_t iterations, torch::Generator& generator) {
  const int64_t n = points.size(0);
  PRETEXT_CHECK(n >= k, InputError, "k-means: ", n, " points for ", k, " clusters");
  auto x = points.to(torch::kFloat32).contiguous();
  // k-means++ seeding (Arthur and Vassilvitskii 2007): each next centre drawn in proportion to the
  // squared distance to the nearest centre so far.
  auto centroids = torch::empty({k, x.size(1)}, x.options());
  const int64_t first = torch::randint(n, {1}, generator, torch::kLong).item<int64_t>();
  centroids[0].copy_(x[first]);
  auto nearest = (x - x[first]).square().sum(1);
  for (int64_t c = 1; c < k; ++c) {
    const double total = nearest.sum().item<double>();
    const int64_t pick = total > 0 ? torch::multinomial(nearest, 1, false, generator).item<int64_t>()
                                   : torch::randint(n, {1}, generator, torch::kLong).item<int64_t>();
    centroids[c].copy_(x[pick]);
    nearest = torch::minimum(nearest, (x - x[pick]).square().sum(1));
  }
  for (int64_t iteration = 0; iteration < iterations; ++iteration) {
    auto assignment = nearest_centroid(x, centroids);
    auto sums = torch::zeros_like(centroids).index_add_(0, assignment, x);
    auto counts = torch::bincount(assignment, {}, k).to(torch::kFloat32);
    auto occupied = counts.gt(0).unsqueeze(1);
    // An empty cluster keeps its centre.
    auto updated = torch::where(occupied, sums / counts.clamp_min(1).unsqueeze(1), centroids);
    const bool moved = !updated.equal(centroids);
    centroids = updated;
    if (!moved) break;
  }
  return centroids;
}

MaskedUnitsTask::MaskedUnitsTask(const TaskContext& context, MaskedUnitsOptions options)
    : PretextTask("MaskedUnitsTask", context.seed),
      options_(std::move(options)),
      log_mel_(log_mel_from_context(context, "masked-units")) {
  encoder_ = per_step_encoder(*this, context, "masked-units");
  PRETEXT_CHECK(options_.cepstra <= encoder_->mels(), ConfigError, "task masked-units: cepstra (", options_.cepstra,
                ") must be ≤ the log-mel bins (", encoder_->mels(), ")");
  head_ = register_module("head", torch::nn::Linear(encoder_->dim(), options_.units));
  const int64_t features = 2 * options_.cepstra;
  centroids_ = register_buffer("unit_centroids", torch::zeros({options_.units, features}));
  feature_mean_ = register_buffer("unit_feature_mean", torch::zeros({features}));
  feature_std_ = register_buffer("unit_feature_std", torch::ones({features}));
  fitted_ = register_buffer("units_fitted", torch::zeros({}, torch::kBool));
}

void MaskedUnitsTask::fit_units(const torch::Tensor& features) {
  torch::NoGradGuard no_grad;
  auto points = features.to(torch::kCPU, torch::kFloat32);
  PRETEXT_CHECK(points.size(0) >= options_.units, InputError, "task masked-units: the first batch has ",
                points.size(0), " valid steps, fewer than the ", options_.units,
                " units to fit (use a larger batch or fewer units)");
  auto mean = points.mean(0);
  auto std = points.std(0).clamp_min(1e-6);
  auto centroids = kmeans((points - mean) / std, options_.units, options_.kmeans_iterations, generator());
  centroids_.copy_(centroids);
  feature_mean_.copy_(mean);
  feature_std_.copy_(std);
  // Every rank predicts the same units: rank 0's.
  for (auto& buffer : {centroids_, feature_mean_, feature_std_}) process_group()->broadcast(buffer, 0);
  fitted_.fill_(true);
}

torch::Tensor MaskedUnitsTask::units_of(const torch::Tensor& features) const {
  auto flat = (features.reshape({-1, features.size(2)}) - feature_mean_) / feature_std_;
  return nearest_centroid(flat, centroids_).view({features.size(0), features.size(1)});
}

torch::Tensor MaskedUnitsTask::masked_units_loss(const torch::Tensor& logits, const torch::Tensor& units,
                                                 const torch::Tensor& hidden) {
  auto log_probabilities = torch::log_softmax(logits.to(torch::kFloat32), 2);
  auto picked = log_probabilities.gather(2, units.unsqueeze(2)).squeeze(2);  // [B, steps]
  auto weight = hidden.to(torch::kFloat32);
  return -(picked * weight).sum() / weight.sum().clamp_min(1);
}

PretextTask::Output MaskedUnitsTask::step(const Batch& batch) {
  PRETEXT_CHECK(batch.extra.defined(), InputError, "task masked-units needs audio batches (waveforms and lengths)");
  auto [waveforms, lengths] =
      augment_waveforms(batch.input, batch.extra, log_mel_.options().sample_rate, options_.augment, generator());
  auto packed = audio_frames(log_mel_, waveforms, lengths);
  torch::Tensor units;
  {
    torch::NoGradGuard no_grad;
    auto features = step_cepstra(packed, options_.cepstra);  // [B, steps, 2·cepstra]
    if (!fitted()) fit_units(features.index({valid_steps(packed)}));
    units = units_of(features);
  }
  auto masked = run_masked(*encoder_, packed, options_.mask_ratio, options_.mask_span, generator());
  auto logits = head_->forward(masked.states);
  Output output;
  output.loss = masked.hidden_plus_visible(
      [&](const torch::Tensor& steps) { return masked_units_loss(logits, units, steps); }, options_.visible_weight);
  const double correct = logits.detach().argmax(2).eq(units).logical_and(masked.hidden).sum().item<double>();
  output.stats = {{"hidden_fraction", masked.hidden_fraction()},
                  {"unit_accuracy", correct / std::max<double>(1, masked.hidden.sum().item<double>())}};
  output.embedding = masked.pooled();
  return output;
}

}  // namespace pretext
