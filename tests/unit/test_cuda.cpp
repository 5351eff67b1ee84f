// CUDA variants: the same computations on the GPU as on the CPU. Each test skips itself where
// this LibTorch has no usable CUDA device (every CI run); scripts/gpu-check runs them on a GPU.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "pretext/augment/image.h"
#include "pretext/core/runtime.h"
#include "pretext/data/loader.h"
#include "pretext/tasks/task.h"
#include "pretext/train/checkpoint.h"
#include "pretext/train/trainer.h"
#include "test_files.h"

namespace pretext {
namespace {

#define PRETEXT_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this LibTorch"

TaskContext small_context(const torch::Device& device) {
  TaskContext context;
  context.encoder.name = "convnet";
  context.encoder.width = 8;
  context.encoder.in_channels = 1;
  context.encoder.image_size = 16;
  context.mean = {0.5};
  context.std = {0.25};
  context.device = device;
  return context;
}

torch::Tensor some_images(int64_t count) {
  torch::manual_seed(9);
  return torch::randint(0, 256, {count, 16, 16, 1}, torch::kLong).to(torch::kUInt8);
}

TEST(Cuda, AugmentationOnTheGpuMatchesTheCpu) {
  PRETEXT_REQUIRE_CUDA();
  ImageAugmentOptions options;
  options.size = 16;
  options.mean = {0.5};
  options.std = {0.25};
  ImageAugment augment(options);
  auto images = some_images(8);
  auto on_cpu_generator = make_generator(4);
  auto on_gpu_generator = make_generator(4);
  auto cpu = augment(images, on_cpu_generator);
  auto gpu = augment(images.to(torch::kCUDA), on_gpu_generator);
  ASSERT_TRUE(gpu.is_cuda());
  EXPECT_TRUE(torch::allclose(gpu.cpu(), cpu, 1e-3, 1e-3)) << (gpu.cpu() - cpu).abs().max();
}

TEST(Cuda, SimclrLossOnTheGpuMatchesTheCpu) {
  PRETEXT_REQUIRE_CUDA();
  auto cpu_task = make_task("simclr", small_context(torch::kCPU));
  auto gpu_task = make_task("simclr", small_context(torch::kCUDA));
  {
    torch::NoGradGuard no_grad;
    auto source = cpu_task->parameters();
    auto target = gpu_task->parameters();
    for (size_t k = 0; k < source.size(); ++k) target[k].copy_(source[k]);
    auto source_buffers = cpu_task->buffers();
    auto target_buffers = gpu_task->buffers();
    for (size_t k = 0; k < source_buffers.size(); ++k) target_buffers[k].copy_(source_buffers[k]);
  }
  Batch batch;
  batch.input = some_images(16);
  batch.label = torch::full({16}, -1, torch::kLong);
  cpu_task->generator().set_current_seed(7);
  gpu_task->generator().set_current_seed(7);
  const double cpu_loss = cpu_task->step(batch).loss.item<double>();
  auto gpu_output = gpu_task->step(batch.to(torch::kCUDA));
  ASSERT_TRUE(gpu_output.loss.is_cuda());
  // cuDNN may use TF32 for convolutions: agreement to a few parts in a thousand.
  EXPECT_NEAR(gpu_output.loss.item<double>(), cpu_loss, 5e-3 * std::abs(cpu_loss));
}

TEST(Cuda, TrainerRunsInBf16) {
  PRETEXT_REQUIRE_CUDA();
  const auto out = testing_files::fresh_dir("cuda_trainer");
  RuntimeOptions runtime_options;
  runtime_options.device = "cuda";
  runtime_options.precision = "bf16";
  Runtime runtime = init_runtime(runtime_options);
  LoaderOptions loader_options;
  loader_options.batch_size = 8;
  auto dataset = std::make_shared<ImageDataset>(some_images(32), torch::full({32}, -1, torch::kLong),
                                                std::vector<std::string>{}, "tiny");
  Loader loader(dataset, loader_options);
  auto task = make_task("simclr", small_context(torch::kCUDA));
  TrainerOptions options;
  options.epochs = 1;
  options.out_dir = out;
  options.optimizer.name = "lars";
  options.progress_seconds = 1000;
  Trainer trainer(task, loader, options, runtime, {{"task", "simclr"}});
  TrainResult result = trainer.fit();
  EXPECT_EQ(result.steps, 4);
  EXPECT_TRUE(std::isfinite(result.final_loss));
}

// The GPU's generator state travels in the checkpoint: a draw after loading repeats the draw made
// after saving.
TEST(Cuda, CheckpointsCarryTheGpuGenerator) {
  PRETEXT_REQUIRE_CUDA();
  const auto out = testing_files::fresh_dir("cuda_generator");
  auto task = make_task("simclr", small_context(torch::kCUDA));
  CheckpointState state;
  state.config = {{"task", "simclr"}};
  save_checkpoint(out / "rng.pt", *task, nullptr, state);
  auto expected = torch::rand({4}, torch::kCUDA);
  torch::rand({100}, torch::kCUDA);  // moves the state on
  load_checkpoint(out / "rng.pt", *task, nullptr);
  EXPECT_TRUE(torch::equal(torch::rand({4}, torch::kCUDA), expected));
}

}  // namespace
}  // namespace pretext
