// Batched augmentation (pretext's ImageAugment) against the per-image way: the same SimCLR
// pipeline applied one image at a time, as a port of per-sample transforms (torchvision in a
// DataLoader worker) does. Same machine, same run, same thread count; prints the ratio.
//
//   build/bench/bench_augment [batch] [repeats]
#include <chrono>
#include <cstdio>
#include <string>

#include "pretext/augment/image.h"
#include "pretext/core/runtime.h"

namespace {

double seconds_for(int repeats, const std::function<void()>& work) {
  work();  // warm-up
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; ++i) work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / repeats;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t batch = argc > 1 ? std::stoll(argv[1]) : 256;
  const int repeats = argc > 2 ? std::stoi(argv[2]) : 20;
  pretext::RuntimeOptions runtime_options;
  runtime_options.precision = "fp32";
  pretext::Runtime runtime = pretext::init_runtime(runtime_options);
  std::printf("bench_augment: batch %lld, %d repeats, %d threads\n", static_cast<long long>(batch), repeats,
              runtime.threads);
  std::printf("| images | pipeline | batched (ms) | per-image (ms) | speed-up |\n|---|---|---:|---:|---:|\n");
  for (int64_t channels : {1, 3}) {
    const int64_t side = channels == 1 ? 28 : 32;
    auto images = torch::randint(0, 256, {batch, side, side, channels}, torch::kLong).to(torch::kUInt8);
    pretext::ImageAugmentOptions options;  // SimCLR's defaults
    options.mean = std::vector<double>(channels, 0.5);
    options.std = std::vector<double>(channels, 0.25);
    pretext::ImageAugment augment(options);
    auto generator = pretext::make_generator(1);
    const double batched = seconds_for(repeats, [&] { augment(images, generator); });
    const double per_image = seconds_for(std::max(1, repeats / 4), [&] {
      for (int64_t i = 0; i < batch; ++i) augment(images.slice(0, i, i + 1), generator);
    });
    std::printf("| %lldx%lldx%lld | SimCLR defaults | %.2f | %.2f | %.1fx |\n", static_cast<long long>(side),
                static_cast<long long>(side), static_cast<long long>(channels), batched * 1e3, per_image * 1e3,
                per_image / batched);
  }
  return 0;
}
