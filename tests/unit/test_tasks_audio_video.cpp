// The speech and video encoders and pretext tasks: shapes, padding, each loss against an
// independent computation, and short runs that learn.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "pretext/augment/audio_input.h"
#include "pretext/augment/preprocess.h"
#include "pretext/models/audio_encoder.h"
#include "pretext/models/video_encoder.h"
#include "pretext/tasks/audio.h"
#include "pretext/tasks/video.h"
#include "pretext/train/checkpoint.h"
#include "test_files.h"

namespace pretext {
namespace {

constexpr int64_t kMels = 16;
constexpr int64_t kRate = 8000;

EncoderConfig audio_encoder_config() {
  EncoderConfig config;
  config.name = "audio-transformer";
  config.mels = kMels;
  config.width = 32;
  config.depth = 1;
  return config;
}

TaskContext audio_context(nlohmann::json options = nlohmann::json::object()) {
  LogMelOptions log_mel;
  log_mel.sample_rate = kRate;
  log_mel.window = 200;
  log_mel.hop = 80;
  log_mel.n_fft = 256;
  log_mel.mels = kMels;
  TaskContext context;
  context.encoder = audio_encoder_config();
  context.options = std::move(options);
  context.seed = 3;
  context.preprocessing = AudioPreprocessor(log_mel).to_json();
  return context;
}

// Tones of a few pitches with some noise, 0.5–1 s long, zero-padded: [B, L] and lengths.
Batch tone_batch(int64_t size, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t longest = kRate;
  Batch batch;
  batch.input = torch::zeros({size, longest});
  batch.extra = torch::randint(kRate / 2, longest + 1, {size}, torch::kLong);
  for (int64_t i = 0; i < size; ++i) {
    const int64_t length = batch.extra[i].item<int64_t>();
    auto t = torch::arange(length, torch::kFloat32) / kRate;
    const double frequency = 300.0 * static_cast<double>(1 + i % 4);
    batch.input[i].slice(0, 0, length).copy_(0.5 * torch::sin(2 * M_PI * frequency * t) + 0.05 * torch::randn({length}));
  }
  batch.label = torch::full({size}, -1, torch::kLong);
  return batch;
}

TEST(ModelsAudio, ClipVectorIsTheSameAloneAndInAPaddedBatch) {
  torch::manual_seed(0);
  auto encoder = make_encoder(audio_encoder_config());
  encoder->eval();
  // Packed frames of three clips, the first 37 frames long and padded to the batch's 101.
  auto packed = pack_frames(torch::randn({3, kMels, 101}), torch::tensor({37, 101, 64}, torch::kLong));
  auto together = encoder->forward(packed);
  ASSERT_EQ(together.sizes(), (std::vector<int64_t>{3, 32}));
  auto alone = encoder->forward(packed.slice(0, 0, 1).slice(2, 0, 37));
  EXPECT_TRUE(torch::allclose(together[0], alone[0], 1e-4, 1e-4)) << (together[0] - alone[0]).abs().max();
  // What lies in the padding never matters: the mask row says where a clip ends.
  auto noisy = packed.clone();
  noisy[0].slice(0, 1).slice(1, 37).normal_();
  EXPECT_TRUE(torch::allclose(encoder->forward(noisy)[0], together[0], 1e-4, 1e-4));
}

TEST(ModelsAudio, StepsFollowTheFrontEndsStrides) {
  for (int64_t frames : {1, 2, 3, 4, 5, 8, 9, 101}) {
    torch::manual_seed(0);
    auto encoder = std::make_shared<AudioTransformerEncoder>(audio_encoder_config().resolved());
    auto packed = pack_frames(torch::randn({2, kMels, frames}), torch::full({2}, frames, torch::kLong));
    auto [hidden, valid] = encoder->forward_steps(packed);
    EXPECT_EQ(hidden.size(1), AudioTransformerEncoder::steps_for(frames)) << frames << " frames";
    EXPECT_TRUE(valid.all().item<bool>());
  }
}

TEST(ModelsVideo, ClipsOfAnyLengthGiveOneVector) {
  EncoderConfig config;
  config.name = "video-cnn3d";
  config.width = 4;
  config.in_channels = 1;
  config.image_size = 16;
  auto encoder = make_encoder(config.resolved());
  EXPECT_EQ(encoder->dim(), 64);
  for (int64_t frames : {1, 4, 8}) {
    EXPECT_EQ(encoder->forward(torch::randn({2, 1, frames, 16, 16})).sizes(), (std::vector<int64_t>{2, 64}));
  }
  EXPECT_THROW(encoder->forward(torch::randn({2, 16, 16})), InputError);
}

// The masked-frames loss written out frame by frame, in double precision.
double reference_masked_frames_loss(const torch::Tensor& prediction, const torch::Tensor& packed,
                                    const torch::Tensor& hidden) {
  const int64_t batch = packed.size(0), mels = packed.size(1) - 1, frames = packed.size(2);
  double total = 0;
  int64_t count = 0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      const int64_t step = f / 4, within = f % 4;
      if (packed[b][0][f].item<double>() < 0.5 || !hidden[b][step].item<bool>()) continue;
      double error = 0;
      for (int64_t m = 0; m < mels; ++m) {
        const double d = prediction[b][step][within * mels + m].item<double>() - packed[b][1 + m][f].item<double>();
        error += d * d;
      }
      total += error / static_cast<double>(mels);
      ++count;
    }
  }
  return total / static_cast<double>(std::max<int64_t>(count, 1));
}

TEST(TasksMaskedFrames, LossMatchesAFrameByFrameComputation) {
  torch::manual_seed(5);
  const int64_t frames = 18, steps = AudioTransformerEncoder::steps_for(frames);
  auto packed = pack_frames(torch::randn({3, kMels, frames}), torch::tensor({18, 11, 5}, torch::kLong));
  auto prediction = torch::randn({3, steps, 4 * kMels});
  auto hidden = torch::rand({3, steps}).lt(0.5);
  hidden[2][0] = true;
  const double loss = MaskedFramesTask::masked_frames_loss(prediction, packed, hidden).item<double>();
  EXPECT_NEAR(loss, reference_masked_frames_loss(prediction, packed, hidden), 1e-5);
}

TEST(TasksMaskedFrames, SpansStayOnValidStepsAndEveryRowHidesSome) {
  torch::Generator generator = at::detail::createCPUGenerator(7);
  auto valid = torch::ones({64, 30}, torch::kBool);
  valid.slice(0, 32).slice(1, 10).fill_(false);  // half the rows are 10 steps long
  auto hidden = draw_span_mask(valid, 0.4, 2, generator);
  EXPECT_FALSE(hidden.logical_and(valid.logical_not()).any().item<bool>());
  EXPECT_TRUE(hidden.any(1).all().item<bool>());
  const double fraction = hidden.slice(0, 0, 32).to(torch::kFloat64).mean().item<double>();
  // Starts with probability 0.2 and spans of 2: 1 − 0.8² = 36% of steps hidden.
  EXPECT_NEAR(fraction, 0.36, 0.05);
}

double fit_steps(PretextTask& task, const Batch& batch, int steps, double lr, double* first_loss) {
  torch::optim::AdamW optimizer(task.parameters(), torch::optim::AdamWOptions(lr).weight_decay(0));
  double loss = 0;
  for (int step = 0; step < steps; ++step) {
    auto output = task.step(batch);
    if (step == 0) *first_loss = output.loss.item<double>();
    optimizer.zero_grad();
    output.loss.backward();
    optimizer.step();
    loss = output.loss.item<double>();
  }
  return loss;
}

TEST(TasksMaskedFrames, PredictsHiddenFramesBetterAfterAShortRun) {
  auto task = make_task("masked-frames", audio_context({{"augment", {{"crop_seconds", 0.5}}}}));
  Batch batch = tone_batch(16, 2);
  double first = 0;
  const double last = fit_steps(*task, batch, 30, 3e-3, &first);
  // Standardised frames: predicting 0 scores about 1; a learned model does clearly better.
  EXPECT_LT(last, 0.7 * first) << "first " << first << ", last " << last;
}

// The step's loss is the hidden frames' loss plus visible_weight times the visible frames': three
// tasks with the same weights, batch, crops and masks, weights 0, 1 and 2, differ by equal steps.
TEST(TasksMaskedFrames, VisibleWeightAddsTheVisibleFramesLoss) {
  Batch batch = tone_batch(8, 2);
  std::vector<double> losses;
  for (double weight : {0.0, 1.0, 2.0}) {
    torch::manual_seed(11);
    auto task = make_task("masked-frames", audio_context({{"visible_weight", weight}, {"decoder_hidden", 32}}));
    losses.push_back(task->step(batch).loss.item<double>());
  }
  const double visible = losses[1] - losses[0];
  EXPECT_GT(visible, 0.1);
  EXPECT_NEAR(losses[2] - losses[1], visible, 1e-4 * std::max(1.0, losses[2]));
  // The decoder is there when asked for, and a plain linear head otherwise.
  auto with = make_task("masked-frames", audio_context({{"decoder_hidden", 32}}));
  auto without = make_task("masked-frames", audio_context({{"decoder_hidden", 0}}));
  EXPECT_EQ(with->named_parameters().find("decoder.weight")->sizes(), (std::vector<int64_t>{32, audio_encoder_config().width}));
  EXPECT_EQ(without->named_parameters().find("decoder.weight"), nullptr);
  EXPECT_THROW(make_task("masked-frames", audio_context({{"decoder_hidden", -1}})), ConfigError);
  EXPECT_THROW(make_task("masked-frames", audio_context({{"visible_weight", -0.5}})), ConfigError);
}

// One step's unit features written out: DCT-II sums over the mels of the step's frame means.
std::vector<double> reference_step_cepstra(const torch::Tensor& packed, int64_t clip, int64_t step, int64_t cepstra) {
  const int64_t mels = packed.size(1) - 1, frames = packed.size(2);
  auto frame_mean = [&](int64_t mel, int64_t from, int64_t to) {
    double sum = 0;
    for (int64_t f = 4 * step + from; f < std::min(4 * step + to, frames); ++f) {
      sum += packed[clip][1 + mel][f].item<double>();
    }
    return sum / static_cast<double>(to - from);
  };
  std::vector<double> features(2 * cepstra, 0.0);
  for (int64_t k = 0; k < cepstra; ++k) {
    for (int64_t m = 0; m < mels; ++m) {
      const double basis = std::cos(M_PI * static_cast<double>(k) * (static_cast<double>(m) + 0.5) / mels);
      features[k] += basis * frame_mean(m, 0, 4);
      features[cepstra + k] += basis * (frame_mean(m, 2, 4) - frame_mean(m, 0, 2));
    }
  }
  return features;
}

TEST(TasksMaskedUnits, StepFeaturesAreTheDctOfEachStepsFrames) {
  torch::manual_seed(4);
  auto packed = pack_frames(torch::randn({2, kMels, 14}), torch::tensor({14, 9}, torch::kLong));
  auto features = step_cepstra(packed, 5);
  ASSERT_EQ(features.sizes(), (std::vector<int64_t>{2, AudioTransformerEncoder::steps_for(14), 10}));
  for (int64_t clip : {0, 1}) {
    for (int64_t step : {0, 2, 3}) {  // step 3 of 14 frames holds 2 frames and 2 of padding
      const auto expected = reference_step_cepstra(packed, clip, step, 5);
      for (int64_t i = 0; i < 10; ++i) EXPECT_NEAR(features[clip][step][i].item<double>(), expected[i], 1e-4);
    }
  }
  EXPECT_THROW(step_cepstra(packed, kMels + 1), ConfigError);
}

TEST(TasksMaskedUnits, KMeansFindsSeparatedClusters) {
  torch::manual_seed(6);
  auto centres = torch::tensor({{0.0, 0.0}, {10.0, 0.0}, {0.0, 10.0}, {10.0, 10.0}});
  auto truth = torch::arange(4, torch::kLong).repeat_interleave(50);
  auto points = centres.index_select(0, truth) + 0.5 * torch::randn({200, 2});
  torch::Generator generator = at::detail::createCPUGenerator(2);
  auto centroids = kmeans(points, 4, 20, generator);
  auto found = nearest_centroid(points, centroids);
  // Every true cluster maps to one found cluster, and no two to the same.
  std::set<int64_t> used;
  for (int64_t c = 0; c < 4; ++c) {
    auto members = found.slice(0, 50 * c, 50 * (c + 1));
    EXPECT_TRUE(members.eq(members[0]).all().item<bool>()) << "cluster " << c;
    used.insert(members[0].item<int64_t>());
  }
  EXPECT_EQ(used.size(), 4U);
  EXPECT_THROW(kmeans(points.slice(0, 0, 3), 4, 20, generator), InputError);
}

TEST(TasksMaskedUnits, LossMatchesAStepByStepComputation) {
  torch::manual_seed(8);
  auto logits = torch::randn({3, 5, 7});
  auto units = torch::randint(7, {3, 5}, torch::kLong);
  auto hidden = torch::rand({3, 5}).lt(0.5);
  hidden[0][0] = true;
  double total = 0;
  int64_t count = 0;
  for (int64_t b = 0; b < 3; ++b) {
    for (int64_t t = 0; t < 5; ++t) {
      if (!hidden[b][t].item<bool>()) continue;
      double normaliser = 0;
      for (int64_t u = 0; u < 7; ++u) normaliser += std::exp(logits[b][t][u].item<double>());
      total += std::log(normaliser) - logits[b][t][units[b][t].item<int64_t>()].item<double>();
      ++count;
    }
  }
  EXPECT_NEAR(MaskedUnitsTask::masked_units_loss(logits, units, hidden).item<double>(), total / count, 1e-5);
}

TEST(TasksMaskedUnits, FitsUnitsOnceAndLearnsToPredictThem) {
  auto made = make_task("masked-units", audio_context({{"units", 8}, {"augment", {{"crop_seconds", 0.5}}}}));
  auto& task = dynamic_cast<MaskedUnitsTask&>(*made);
  EXPECT_FALSE(task.fitted());
  Batch batch = tone_batch(16, 2);
  double first = 0;
  fit_steps(task, batch, 1, 3e-3, &first);
  ASSERT_TRUE(task.fitted());
  auto centroids = task.named_buffers()["unit_centroids"].clone();
  // A random head scores about log(8) on 8 units, on the hidden steps and on the visible ones
  // (visible_weight 1); a short run does clearly better.
  EXPECT_NEAR(first, 2 * std::log(8.0), 1.5);
  double ignored = 0;
  const double last = fit_steps(task, batch, 40, 3e-3, &ignored);
  EXPECT_LT(last, 0.6 * first) << "first " << first << ", last " << last;
  // The units stay the ones fitted on the first batch, and a checkpoint keeps them.
  EXPECT_TRUE(task.named_buffers()["unit_centroids"].equal(centroids));
  const auto path = testing_files::fresh_dir("masked_units") / "units.pt";
  CheckpointState state;
  state.config = {{"task", "masked-units"}};
  save_checkpoint(path, task, nullptr, state);
  auto resumed = make_task("masked-units", audio_context({{"units", 8}}));
  load_checkpoint(path, *resumed, nullptr);
  EXPECT_TRUE(dynamic_cast<MaskedUnitsTask&>(*resumed).fitted());
  EXPECT_TRUE(resumed->named_buffers()["unit_centroids"].equal(centroids));
  EXPECT_THROW(make_task("masked-units", audio_context({{"units", 1}})), ConfigError);
  EXPECT_THROW(make_task("masked-units", audio_context({{"visible_weight", -1}})), ConfigError);
  EXPECT_THROW(make_task("masked-units", audio_context({{"cepstra", kMels + 1}})), ConfigError);
}

TEST(TasksAudioContrastive, StepGivesTheNtXentOfTwoSegmentsWithGradientsEverywhere) {
  auto task = make_task("audio-contrastive", audio_context({{"augment", {{"crop_seconds", 0.4}}}}));
  auto output = task->step(tone_batch(8, 3));
  // 2B = 16 candidates: a random network's loss is near log(15).
  EXPECT_NEAR(output.loss.item<double>(), std::log(15.0), 1.5);
  output.loss.backward();
  for (const auto& named : task->named_parameters()) {
    if (named.key().find("mask_embedding") != std::string::npos) continue;  // masked-frames only
    EXPECT_TRUE(named.value().grad().defined() && named.value().grad().abs().sum().item<double>() > 0)
        << named.key();
  }
  EXPECT_THROW(make_task("audio-contrastive", audio_context({{"temperature", 0.0}})), ConfigError);
}

TEST(TasksAudio, RefuseARunWhoseDataIsNotAudio) {
  TaskContext context = audio_context();
  context.preprocessing = {{"modality", "image"}, {"mean", {0.5}}, {"std", {0.25}}};
  EXPECT_THROW(make_task("audio-contrastive", context), ConfigError);
  EXPECT_THROW(make_task("masked-frames", context), ConfigError);
  EXPECT_THROW(make_task("masked-units", context), ConfigError);
}

TEST(TasksFrameOrder, OrdersAreForwardReversedOrNeither) {
  torch::Generator generator = at::detail::createCPUGenerator(1);
  auto classes = torch::tensor({0, 1, 2, 2, 2, 2}, torch::kLong);
  auto orders = frame_orders(classes, 5, generator);
  auto forward = torch::arange(5, torch::kLong);
  EXPECT_TRUE(orders[0].equal(forward));
  EXPECT_TRUE(orders[1].equal(forward.flip(0)));
  for (int64_t row = 2; row < 6; ++row) {
    EXPECT_FALSE(orders[row].equal(forward));
    EXPECT_FALSE(orders[row].equal(forward.flip(0)));
    EXPECT_TRUE(std::get<0>(orders[row].sort()).equal(forward)) << "not a permutation";
  }
  EXPECT_THROW(frame_orders(classes, 2, generator), ConfigError);
}

TaskContext video_context(const std::string& task_clips_json = "{}") {
  TaskContext context;
  context.encoder.name = "video-cnn3d";
  context.encoder.width = 4;
  context.encoder.in_channels = 1;
  context.encoder.image_size = 16;
  context.mean = {0.1};
  context.std = {0.3};
  context.seed = 2;
  VideoClipOptions clips;
  clips.clip_frames = 6;
  context.preprocessing = VideoPreprocessor(Normalization{{0.1}, {0.3}}, clips).to_json();
  context.options = {{"clips", nlohmann::json::parse(task_clips_json)}};
  return context;
}

// Squares moving right by one pixel a frame from random rows and columns: uint8 [B, 10, 16, 16, 1].
Batch moving_squares(int64_t size, uint64_t seed) {
  torch::manual_seed(seed);
  Batch batch;
  batch.input = torch::zeros({size, 10, 16, 16, 1}, torch::kUInt8);
  for (int64_t i = 0; i < size; ++i) {
    const int64_t row = torch::randint(0, 12, {1}).item<int64_t>();
    const int64_t column = torch::randint(0, 3, {1}).item<int64_t>();
    for (int64_t t = 0; t < 10; ++t) batch.input[i][t].slice(0, row, row + 4).slice(1, column + t, column + t + 4).fill_(255);
  }
  batch.label = torch::full({size}, -1, torch::kLong);
  return batch;
}

TEST(TasksFrameOrder, LearnsTheArrowOfTimeOfMovingSquares) {
  auto task = make_task("frame-order", video_context(R"({"crop_scale": [0.9, 1.0], "brightness": 0.0, "contrast": 0.0})"));
  EXPECT_EQ(task->options_json()["clips"]["clip_frames"], 6);  // the run's clip length
  Batch batch = moving_squares(24, 4);
  double first = 0;
  const double last = fit_steps(*task, batch, 60, 3e-3, &first);
  EXPECT_NEAR(first, std::log(3.0), 0.6);
  EXPECT_LT(last, 0.5 * first) << "first " << first << ", last " << last;
}

TEST(TasksClipContrastive, StepGivesTheNtXentOfTwoClipsWithGradientsEverywhere) {
  auto task = make_task("clip-contrastive", video_context());
  auto output = task->step(moving_squares(8, 5));
  EXPECT_NEAR(output.loss.item<double>(), std::log(15.0), 1.5);
  output.loss.backward();
  for (const auto& named : task->named_parameters()) {
    EXPECT_TRUE(named.value().grad().defined() && named.value().grad().abs().sum().item<double>() > 0) << named.key();
  }
  TaskContext image = video_context();
  image.preprocessing = {{"modality", "image"}, {"mean", {0.5}}, {"std", {0.25}}};
  EXPECT_THROW(make_task("clip-contrastive", image), ConfigError);
}

TEST(AugmentVideo, ClipsTakeEveryStrideThFrameAndAugmentationKeepsFramesAligned) {
  auto videos = torch::arange(10, torch::kLong).to(torch::kUInt8).view({1, 10, 1, 1, 1}).expand({2, 10, 4, 4, 1}).contiguous();
  VideoClipOptions options;
  options.clip_frames = 3;
  options.clip_stride = 2;
  auto clips = take_clips(videos, torch::tensor({0, 3}, torch::kLong), options);
  EXPECT_EQ(clips.select(4, 0).select(3, 0).select(2, 0)[0].to(torch::kLong).equal(torch::tensor({0, 2, 4}, torch::kLong)), true);
  EXPECT_EQ(clips.select(4, 0).select(3, 0).select(2, 0)[1].to(torch::kLong).equal(torch::tensor({3, 5, 7}, torch::kLong)), true);
  EXPECT_EQ(clip_span(options, 10), 5);
  options.clip_frames = 6;
  torch::Generator generator = at::detail::createCPUGenerator(0);
  EXPECT_THROW(random_clip_starts(2, 10, options, generator), InputError);
  // One crop box for every frame: a clip of identical frames stays identical across time.
  auto still = torch::randint(0, 256, {1, 1, 12, 12, 1}, torch::kLong).to(torch::kUInt8).expand({3, 5, 12, 12, 1}).contiguous();
  VideoClipOptions augment;
  auto x = augment_clips(still, augment, {0.5}, {0.25}, generator);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{3, 1, 5, 12, 12}));
  for (int64_t t = 1; t < 5; ++t) EXPECT_TRUE(torch::allclose(x.select(2, t), x.select(2, 0), 1e-5, 1e-5));
}

}  // namespace
}  // namespace pretext
