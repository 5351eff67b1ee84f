#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "pretext/core/fs.h"
#include "pretext/core/jsonl.h"
#include "pretext/data/dataset.h"
#include "pretext/data/loader.h"
#include "pretext/train/checkpoint.h"
#include "pretext/train/optim.h"
#include "pretext/train/trainer.h"

namespace pretext {
namespace {
namespace fs = std::filesystem;

fs::path unmade_dir(const std::string& name) {
  fs::path dir = fs::path(PRETEXT_TEST_TMP) / name;
  fs::remove_all(dir);
  return dir;
}

TEST(TrainSchedule, WarmsUpLinearlyThenDecaysAsACosine) {
  Schedule schedule{/*peak_lr=*/1.0, /*warmup_steps=*/10, /*total_steps=*/110, /*final_fraction=*/0.0};
  EXPECT_NEAR(schedule.lr_at(0), 0.1, 1e-12);
  EXPECT_NEAR(schedule.lr_at(9), 1.0, 1e-12);
  EXPECT_NEAR(schedule.lr_at(10), 1.0, 1e-12);
  EXPECT_NEAR(schedule.lr_at(60), 0.5, 1e-12);  // halfway through the decay: (1 + cos π/2) / 2
  EXPECT_NEAR(schedule.lr_at(110), 0.0, 1e-12);
  schedule.final_fraction = 0.1;
  EXPECT_NEAR(schedule.lr_at(110), 0.1, 1e-12);
}

TEST(TrainOptimizer, LarsScalesEachWeightsStepByItsTrustRatio) {
  // One weight matrix and one bias; no momentum history on the first step, so the update is
  // lr × trust × (g + wd·w) for the weight (You et al. 2017) and lr × g for the bias.
  auto weight = torch::tensor({{3.0, 4.0}}).requires_grad_();  // ‖w‖ = 5
  auto bias = torch::tensor({1.0}).requires_grad_();
  OptimizerOptions options;
  options.name = "lars";
  options.weight_decay = 0.0;
  options.lars_trust = 0.001;
  Optimizer optimizer({{"w", weight}, {"b", bias}}, options, /*initial_lr=*/1.0);
  weight.mutable_grad() = torch::tensor({{0.0, 2.0}});  // ‖g‖ = 2
  bias.mutable_grad() = torch::tensor({0.5});
  optimizer.step();
  const double trust = 0.001 * 5.0 / 2.0;
  EXPECT_NEAR(weight[0][0].item<double>(), 3.0, 1e-9);
  EXPECT_NEAR(weight[0][1].item<double>(), 4.0 - trust * 2.0, 1e-6);
  EXPECT_NEAR(bias[0].item<double>(), 0.5, 1e-7);
}

TEST(TrainOptimizer, RejectsUnknownNamesAndBadValues) {
  auto weight = torch::zeros({2, 2}).requires_grad_();
  OptimizerOptions options;
  options.name = "adagrad";
  EXPECT_THROW(Optimizer({{"w", weight}}, options, 0.1), ConfigError);
  options.name = "sgd";
  options.momentum = 1.5;
  EXPECT_THROW(Optimizer({{"w", weight}}, options, 0.1), ConfigError);
}

TEST(TrainOptimizer, ClipGradNormBoundsTheGlobalNorm) {
  auto a = torch::zeros({2}).requires_grad_();
  auto b = torch::zeros({1}).requires_grad_();
  a.mutable_grad() = torch::tensor({3.0, 0.0});
  b.mutable_grad() = torch::tensor({4.0});
  EXPECT_NEAR(clip_grad_norm({a, b}, 1.0), 5.0, 1e-9);
  auto norm = std::sqrt(a.grad().pow(2).sum().item<double>() + b.grad().pow(2).sum().item<double>());
  EXPECT_NEAR(norm, 1.0, 1e-5);
}

std::shared_ptr<ImageDataset> tiny_images(int64_t count) {
  torch::manual_seed(5);
  auto images = torch::randint(0, 256, {count, 16, 16, 1}, torch::kLong).to(torch::kUInt8);
  return std::make_shared<ImageDataset>(images, torch::full({count}, -1, torch::kLong), std::vector<std::string>{},
                                        "tiny");
}

TaskContext train_context(const std::string& encoder = "convnet") {
  TaskContext context;
  context.encoder.name = encoder;
  context.encoder.width = 8;
  context.encoder.in_channels = 1;
  context.encoder.image_size = 16;
  context.mean = {0.5};
  context.std = {0.25};
  return context;
}

TrainerOptions tiny_trainer(const fs::path& out) {
  TrainerOptions options;
  options.epochs = 2;
  options.out_dir = out;
  options.optimizer.name = "sgd";
  options.optimizer.lr = 0.05;
  options.progress_seconds = 1000;
  options.log_every_steps = 1;
  return options;
}

Runtime cpu_runtime() {
  RuntimeOptions options;
  options.device = "cpu";
  options.precision = "fp32";
  return init_runtime(options);
}

TEST(TrainTrainer, RunsEpochsWritesMetricsAndACheckpointThatResumes) {
  fs::path out = unmade_dir("trainer_run");
  LoaderOptions loader_options;
  loader_options.batch_size = 8;
  Loader loader(std::make_shared<UnlabeledView>(tiny_images(32)), loader_options);
  auto task = make_task("simclr", train_context());
  Trainer trainer(task, loader, tiny_trainer(out), cpu_runtime(), {{"task", "simclr"}});
  TrainResult result = trainer.fit();
  EXPECT_EQ(result.steps, 8);
  EXPECT_EQ(result.epochs, 2);
  ASSERT_TRUE(fs::exists(out / "last.pt"));
  auto records = read_json_lines(out / "metrics.jsonl");
  ASSERT_GE(records.size(), 8u);
  EXPECT_EQ(records[0]["step"], 1);
  EXPECT_TRUE(records[0].contains("contrastive_acc"));
  CheckpointState state = read_checkpoint_state(out / "last.pt");
  EXPECT_EQ(state.step, 8);
  EXPECT_EQ(state.epoch, 2);
  EXPECT_TRUE(state.finished);

  // Resume with a longer plan: continues from step 8 and the weights it saved.
  auto resumed_task = make_task("simclr", train_context());
  TrainerOptions longer = tiny_trainer(out);
  longer.resume = true;
  longer.epochs = 3;
  Trainer again(resumed_task, loader, longer, cpu_runtime(), {{"task", "simclr"}});
  TrainResult more = again.fit();
  EXPECT_EQ(more.steps, 12);
  EXPECT_EQ(read_checkpoint_state(out / "last.pt").step, 12);

  // Asking for no more than is done: nothing to train.
  auto done_task = make_task("simclr", train_context());
  Trainer done(done_task, loader, longer, cpu_runtime(), {{"task", "simclr"}});
  EXPECT_EQ(done.fit().steps, 12);
}

TEST(TrainCheckpoint, RoundTripsWeightsAndRejectsOtherEncoders) {
  fs::path out = unmade_dir("checkpoint");
  auto task = make_task("rotation", train_context());
  CheckpointState state;
  state.config = {{"task", "rotation"}, {"encoder", train_context().encoder.to_json()}};
  state.step = 12;
  save_checkpoint(out / "a.pt", *task, nullptr, state);

  auto encoder = load_encoder(out / "a.pt");
  auto original = task->encoder()->named_parameters();
  for (const auto& item : encoder->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), original[item.key()])) << item.key();
  }
  auto other = make_task("rotation", train_context("resnet18"));
  EXPECT_THROW(load_checkpoint(out / "a.pt", *other, nullptr), InputError);
  EXPECT_EQ(read_checkpoint_state(out / "a.pt").step, 12);

  write_file_atomic(out / "junk.pt", "not a checkpoint");
  EXPECT_THROW(read_checkpoint_state(out / "junk.pt"), InputError);
  EXPECT_THROW(load_encoder(out / "missing.pt"), InputError);
}

// A checkpoint cut short or with one byte changed anywhere is refused with a message naming the
// file and what is wrong; one written before the integrity header (a bare archive) still loads.
TEST(TrainCheckpoint, TruncatedOrAlteredFilesAreRefused) {
  fs::path out = unmade_dir("checkpoint_integrity");
  auto task = make_task("rotation", train_context());
  CheckpointState state;
  state.config = {{"task", "rotation"}, {"encoder", train_context().encoder.to_json()}};
  state.step = 7;
  save_checkpoint(out / "good.pt", *task, nullptr, state);
  const std::string bytes = read_file(out / "good.pt");
  ASSERT_EQ(bytes.rfind("pretext-checkpoint ", 0), 0u);

  auto expect_refused = [&](const std::string& name, const std::string& content, const std::string& reason) {
    write_file_atomic(out / name, content);
    try {
      read_checkpoint_state(out / name);
      ADD_FAILURE() << name << " was accepted";
    } catch (const InputError& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find(name), std::string::npos) << message;
      EXPECT_NE(message.find(reason), std::string::npos) << message;
    }
    EXPECT_THROW(load_encoder(out / name), InputError) << name;
  };
  expect_refused("half.pt", bytes.substr(0, bytes.size() / 2), "truncated");
  expect_refused("header_only.pt", bytes.substr(0, bytes.find('\n') + 1), "truncated");
  expect_refused("cut_header.pt", bytes.substr(0, 12), "not a pretext checkpoint");
  for (size_t position : {bytes.find('\n') + 40, bytes.size() / 2, bytes.size() - 3}) {
    std::string altered = bytes;
    altered[position] = static_cast<char>(altered[position] ^ 0x20);
    expect_refused("altered_" + std::to_string(position) + ".pt", altered, "checksum");
  }

  // A bare archive (the format before the header) still loads.
  write_file_atomic(out / "legacy.pt", bytes.substr(bytes.find('\n') + 1));
  EXPECT_EQ(read_checkpoint_state(out / "legacy.pt").step, 7);
  auto encoder = load_encoder(out / "legacy.pt");
  EXPECT_EQ(encoder->named_parameters().size(), task->encoder()->named_parameters().size());
}

// A task whose loss turns NaN at its third step (by default), or whose gradient does: a term
// sqrt(|0·f|) is 0, and its gradient is 0 · ∞ = NaN.
class DivergingTask : public PretextTask {
 public:
  explicit DivergingTask(const TaskContext& context, std::function<bool(int)> bad = [](int call) { return call >= 3; },
                         bool in_gradient = false)
      : PretextTask("DivergingTask", 0), bad_(std::move(bad)), in_gradient_(in_gradient) {
    encoder_ = register_module("encoder", make_encoder(context.encoder));
  }
  Output step(const Batch& batch) override {
    auto x = torch::ones({2, 1, 16, 16});
    auto features = encoder_->forward(x);
    auto loss = features.pow(2).mean();
    if (bad_(++calls_)) {
      loss = in_gradient_ ? loss + features.mul(0).abs().sqrt().sum() : loss * std::numeric_limits<double>::quiet_NaN();
    }
    return {loss, {}, {}, {}, {}};
  }
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return nlohmann::json::object(); }

 private:
  EncoderPtr encoder_;
  std::function<bool(int)> bad_;
  bool in_gradient_;
  int calls_ = 0;
};

TEST(TrainTrainer, ANanLossStopsTheRunAndKeepsTheLastGoodCheckpoint) {
  fs::path out = unmade_dir("trainer_nan");
  LoaderOptions loader_options;
  loader_options.batch_size = 8;
  Loader loader(std::make_shared<UnlabeledView>(tiny_images(16)), loader_options);  // 2 steps per epoch
  auto task = std::make_shared<DivergingTask>(train_context());
  Trainer trainer(task, loader, tiny_trainer(out), cpu_runtime(), {{"task", "diverging"}});
  try {
    trainer.fit();
    FAIL() << "no throw";
  } catch (const TrainingError& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("NaN at step 3"), std::string::npos) << message;
    EXPECT_NE(message.find("last.pt"), std::string::npos) << message;
  }
  CheckpointState state = read_checkpoint_state(out / "last.pt");
  EXPECT_EQ(state.step, 2);  // written after epoch 1, untouched by the failed step
  EXPECT_FALSE(state.finished);
}

// --on-nonfinite skip: a NaN loss (step 3) and a NaN gradient under a finite loss (step 5) are
// each skipped, counted and halve the learning rate; the weights stay finite, the run finishes,
// and a checkpoint carries the count. A NaN at every step stops the run after 5 in a row.
TEST(TrainTrainer, SkipPolicyDropsNonFiniteStepsAndCountsThem) {
  for (bool in_gradient : {false, true}) {
    fs::path out = unmade_dir(in_gradient ? "trainer_skip_grad" : "trainer_skip_loss");
    LoaderOptions loader_options;
    loader_options.batch_size = 8;
    Loader loader(std::make_shared<UnlabeledView>(tiny_images(16)), loader_options);
    auto task = std::make_shared<DivergingTask>(train_context(), [](int call) { return call == 3 || call == 5; },
                                                in_gradient);
    TrainerOptions options = tiny_trainer(out);
    options.on_nonfinite = "skip";
    options.epochs = 4;  // 8 steps
    Trainer trainer(task, loader, options, cpu_runtime(), {{"task", "diverging"}});
    TrainResult result = trainer.fit();
    EXPECT_EQ(result.skipped_steps, 2);
    for (const auto& parameter : task->parameters()) EXPECT_TRUE(torch::isfinite(parameter).all().item<bool>());
    CheckpointState state = read_checkpoint_state(out / "last.pt");
    EXPECT_EQ(state.skipped_steps, 2);
    EXPECT_DOUBLE_EQ(state.lr_scale, 0.25);
    EXPECT_TRUE(state.finished);
    int64_t last_count = -1;
    for (const auto& record : read_json_lines(out / "metrics.jsonl")) {
      if (record.contains("skipped_steps")) last_count = record["skipped_steps"].get<int64_t>();
    }
    EXPECT_EQ(last_count, 2);
  }

  fs::path out = unmade_dir("trainer_skip_all");
  LoaderOptions loader_options;
  loader_options.batch_size = 8;
  Loader loader(std::make_shared<UnlabeledView>(tiny_images(16)), loader_options);
  auto task = std::make_shared<DivergingTask>(train_context());
  TrainerOptions options = tiny_trainer(out);
  options.on_nonfinite = "skip";
  options.epochs = 10;
  Trainer trainer(task, loader, options, cpu_runtime(), {{"task", "diverging"}});
  try {
    trainer.fit();
    FAIL() << "no throw";
  } catch (const TrainingError& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("NaN at step 7 (epoch 4) (5 steps in a row)"), std::string::npos) << message;
  }
  options.on_nonfinite = "ignore";
  EXPECT_THROW(options.validate(), ConfigError);
}

TEST(TrainTrainer, NeedsALength) {
  TrainerOptions options;
  options.out_dir = "x";
  EXPECT_THROW(options.validate(), ConfigError);
}

}  // namespace
}  // namespace pretext

namespace pretext {
namespace {
// torch's own CPU generator (dropout, anything drawing without a pretext generator) travels in the
// checkpoint: a draw after loading repeats the draw made after saving.
TEST(TrainCheckpoint, CarriesTorchsCpuGenerator) {
  fs::path out = unmade_dir("checkpoint_cpu_generator");
  auto task = make_task("simclr", train_context());
  CheckpointState state;
  state.config = {{"task", "simclr"}};
  save_checkpoint(out / "rng.pt", *task, nullptr, state);
  auto expected = torch::rand({4});
  torch::rand({100});  // moves the state on
  load_checkpoint(out / "rng.pt", *task, nullptr);
  EXPECT_TRUE(torch::equal(torch::rand({4}), expected));
}
}  // namespace
}  // namespace pretext
