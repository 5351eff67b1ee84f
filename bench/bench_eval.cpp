// The parts of a SimCLR run on Fashion-MNIST other than the training step, measured the way the
// pretext program runs them: augmentation alone, feature extraction for the probes, and k-NN.
// bench/simclr.sh runs each next to bench/simclr_reference.py (the same work in PyTorch) and
// prints the ratios; alone it prints one JSON line.
//
//   build/bench/bench_eval augment WARMUP STEPS BATCH    SimCLR's augmentation, two views per image,
//                                                        one thread: views/s
//   build/bench/bench_eval features ENCODER WARMUP STEPS BATCH
//                                                        frozen-encoder features (extract_features):
//                                                        images/s
//   build/bench/bench_eval knn QUERIES                   k-NN (k 20, τ 0.07) of QUERIES test
//                                                        features against the 60,000 training ones
//                                                        (a random ConvNet's): seconds
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "pretext/augment/image.h"
#include "pretext/augment/preprocess.h"
#include "pretext/core/runtime.h"
#include "pretext/data/datasets.h"
#include "pretext/eval/protocols.h"

namespace {

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_eval augment WARMUP STEPS BATCH | features ENCODER WARMUP STEPS BATCH | knn QUERIES\n");
  return 2;
}

pretext::EncoderPtr fashion_mnist_encoder(const std::string& name) {
  pretext::EncoderConfig config;
  config.name = name;
  config.in_channels = 1;
  config.image_size = 28;
  auto encoder = pretext::make_encoder(config.resolved());
  encoder->eval();
  return encoder;
}

}  // namespace

int main(int argc, char** argv) {
  pretext::prefer_passive_openmp_threads(argv);  // as the pretext program runs
  if (argc < 3) return usage();
  const std::string mode = argv[1];
  pretext::RuntimeOptions runtime_options;
  runtime_options.precision = "auto";
  if (mode == "augment") runtime_options.threads = 1;
  pretext::Runtime runtime = pretext::init_runtime(runtime_options);
  auto train = pretext::load_dataset("fashion-mnist", "train");
  auto [mean, std] = pretext::channel_statistics(train->images());

  if (mode == "augment") {
    if (argc != 5) return usage();
    const int warmup = std::stoi(argv[2]), steps = std::stoi(argv[3]);
    const int64_t batch = std::stoll(argv[4]);
    pretext::ImageAugmentOptions options;  // SimCLR's defaults, as the simclr task fits them to the data
    options.size = train->height();
    options.mean = mean;
    options.std = std;
    pretext::ImageAugment augment(options);
    auto generator = pretext::make_generator(1);
    double seconds = 0;
    for (int step = 0; step < warmup + steps; ++step) {
      const int64_t first = (step * batch) % (train->size() - batch);
      auto images = train->images().slice(0, first, first + batch);
      const auto start = std::chrono::steady_clock::now();
      auto views = torch::cat({augment(images, generator), augment(images, generator)}, 0);
      if (step >= warmup) seconds += seconds_since(start);
    }
    std::printf("{\"images_per_second\": %.1f, \"peak_rss_mib\": %.1f}\n", 2.0 * steps * batch / seconds,
                peak_rss_mib());
    return 0;
  }
  if (mode == "features") {
    if (argc != 6) return usage();
    const int64_t warmup = std::stoll(argv[3]), steps = std::stoll(argv[4]), batch = std::stoll(argv[5]);
    auto encoder = fashion_mnist_encoder(argv[2]);
    pretext::ImagePreprocessor preprocessor(pretext::Normalization{mean, std});
    auto first = [&](int64_t count, const char* name) {
      return std::make_shared<pretext::ImageDataset>(train->images().slice(0, 0, count), train->labels().slice(0, 0, count),
                                                     train->class_names(), name);
    };
    auto warm = first(warmup * batch, "warm-up");
    auto timed = first(steps * batch, "timed");
    pretext::extract_features(*encoder, *warm, preprocessor, runtime, batch);
    const auto start = std::chrono::steady_clock::now();
    auto features = pretext::extract_features(*encoder, *timed, preprocessor, runtime, batch);
    const double seconds = seconds_since(start);
    std::printf("{\"images_per_second\": %.1f, \"peak_rss_mib\": %.1f}\n", steps * batch / seconds, peak_rss_mib());
    return 0;
  }
  if (mode == "knn") {
    if (argc != 3) return usage();
    const int64_t queries = std::stoll(argv[2]);
    auto test = pretext::load_dataset("fashion-mnist", "test");
    auto encoder = fashion_mnist_encoder("convnet");
    pretext::ImagePreprocessor preprocessor(pretext::Normalization{mean, std});
    auto train_features = pretext::extract_features(*encoder, *train, preprocessor, runtime);
    auto test_features = pretext::extract_features(*encoder, *test, preprocessor, runtime).slice(0, 0, queries);
    const auto start = std::chrono::steady_clock::now();
    auto predicted = pretext::knn_predict(train_features, train->labels(), test_features, train->num_classes(), {});
    const double seconds = seconds_since(start);
    const double top1 = predicted.eq(test->labels().slice(0, 0, queries)).to(torch::kDouble).mean().item<double>();
    std::printf("{\"seconds\": %.3f, \"top1\": %.4f, \"peak_rss_mib\": %.1f}\n", seconds, top1, peak_rss_mib());
    return 0;
  }
  return usage();
}
