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
//   build/bench/bench_eval profile ENCODER STEPS         where a SimCLR training step's time goes
//                                                        (batch 256, LARS, after 2 warm-up steps):
//                                                        self time per operator and per phase, as
//                                                        a Markdown table
//   build/bench/bench_eval int8 WARMUP STEPS BATCH       the ConvNet's features as extract_features
//                                                        runs them against the same network in int8
//                                                        (oneDNN's quantized convolutions, BN folded,
//                                                        scales from the first batch), alternating:
//                                                        images/s of each, and the cosine between
//                                                        their features (an experiment: docs/PERFORMANCE.md)
//   build/bench/bench_eval knn QUERIES                   k-NN (k 20, τ 0.07) of QUERIES test
//                                                        features against the 60,000 training ones
//                                                        (a random ConvNet's): seconds
#include <sys/resource.h>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/record_function.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pretext/augment/image.h"
#include "pretext/augment/preprocess.h"
#include "pretext/core/runtime.h"
#include "pretext/data/datasets.h"
#include "pretext/eval/protocols.h"
#include "pretext/models/conv_bn.h"
#include "pretext/tasks/task.h"
#include "pretext/train/optim.h"

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
               "usage: bench_eval augment WARMUP STEPS BATCH | features ENCODER WARMUP STEPS BATCH | "
               "profile ENCODER STEPS | int8 WARMUP STEPS BATCH | knn QUERIES\n");
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

// Self time per event name from a legacy-profiler Chrome trace: an event's duration less that
// of the events nested directly inside it on the same thread.
std::map<std::string, std::pair<double, int64_t>> self_times(const nlohmann::json& events) {
  struct Span {
    std::string name;
    double start, end;
    int64_t thread;
  };
  std::vector<Span> spans;
  for (const auto& event : events) {
    if (event.value("ph", "") != "X") continue;
    const double start = event["ts"].get<double>();
    spans.push_back({event["name"].get<std::string>(), start, start + event["dur"].get<double>(),
                     event["tid"].is_number() ? event["tid"].get<int64_t>() : 0});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.thread != b.thread ? a.thread < b.thread : a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  std::map<std::string, std::pair<double, int64_t>> totals;
  std::vector<std::pair<size_t, double>> open;  // (span, time of its direct children)
  auto close = [&](size_t index, double children) {
    auto& [time, calls] = totals[spans[index].name];
    time += spans[index].end - spans[index].start - children;
    ++calls;
  };
  for (size_t i = 0; i < spans.size(); ++i) {
    while (!open.empty() && (spans[open.back().first].thread != spans[i].thread ||
                             spans[open.back().first].end <= spans[i].start)) {
      close(open.back().first, open.back().second);
      open.pop_back();
    }
    if (!open.empty()) open.back().second += spans[i].end - spans[i].start;
    open.emplace_back(i, 0.0);
  }
  for (; !open.empty(); open.pop_back()) close(open.back().first, open.back().second);
  return totals;
}

int profile_simclr(const std::string& encoder_name, int steps, const pretext::ImageDataset& train,
                   const std::vector<double>& mean, const std::vector<double>& std) {
  constexpr int64_t kBatch = 256;
  pretext::TaskContext context;
  context.encoder.name = encoder_name;
  context.encoder.in_channels = train.channels();
  context.encoder.image_size = train.height();
  context.encoder = context.encoder.resolved();
  context.mean = mean;
  context.std = std;
  context.seed = 1;
  auto task = pretext::make_task("simclr", context);
  task->train();
  pretext::OptimizerOptions options;  // pretext's defaults: LARS
  pretext::Optimizer optimizer(task->named_parameters().pairs(), options, 0.3);
  auto step = [&](int index) {
    const int64_t first = (index * kBatch) % (train.size() - kBatch);
    pretext::Batch batch = train.get(torch::arange(first, first + kBatch, torch::kLong));
    torch::Tensor loss;
    {
      RECORD_USER_SCOPE("phase: task step (augmentation, forward, loss)");
      loss = task->step(batch).loss;
    }
    {
      RECORD_USER_SCOPE("phase: backward");
      optimizer.zero_grad();
      loss.backward();
    }
    RECORD_USER_SCOPE("phase: optimizer");
    optimizer.step();
  };
  for (int i = 0; i < 2; ++i) step(i);
  std::stringstream trace;
  const auto start = std::chrono::steady_clock::now();
  {
    torch::autograd::profiler::RecordProfile profile(trace);
    for (int i = 0; i < steps; ++i) step(2 + i);
  }
  const double seconds = seconds_since(start);
  const auto events = nlohmann::json::parse(trace.str());
  auto totals = self_times(events);
  std::map<std::string, double> phases;
  for (const auto& event : events) {
    const std::string name = event.value("name", "");
    if (event.value("ph", "") == "X" && name.rfind("phase: ", 0) == 0) phases[name.substr(7)] += event["dur"].get<double>();
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> rows(totals.begin(), totals.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  double all = 0;
  for (const auto& row : rows) all += row.second.first;
  std::printf("SimCLR step, %s, batch %lld, %d profiled steps: %.0f ms/step (%.0f images/s with the profiler on)\n\n",
              encoder_name.c_str(), static_cast<long long>(kBatch), steps, 1e3 * seconds / steps,
              steps * kBatch / seconds);
  std::printf("| phase | ms/step |\n|---|--:|\n");
  for (const auto& [name, time] : phases) std::printf("| %s | %.1f |\n", name.c_str(), time / 1e3 / steps);
  std::printf("\n| operator (self time) | ms/step | share | calls/step |\n|---|--:|--:|--:|\n");
  int shown = 0;
  for (const auto& [name, value] : rows) {
    if (name.rfind("phase: ", 0) == 0) continue;
    if (++shown > 18) break;
    std::printf("| %s | %.1f | %.1f%% | %.0f |\n", name.c_str(), value.first / 1e3 / steps, 100 * value.first / all,
                static_cast<double>(value.second) / steps);
  }
  return 0;
}

// The ConvNet in int8, end to end: each BN folded into its convolution, weights quantized per
// output channel, activations per tensor with scales from a float pass over `calibration`; the
// tensor stays quantized from the input to the last ReLU (max-pool runs on it as it is).
class Int8ConvNet {
 public:
  Int8ConvNet(torch::nn::Module& encoder, const torch::Tensor& calibration) {
    std::vector<torch::nn::Conv2dImpl*> convs;
    std::vector<torch::nn::BatchNorm2dImpl*> norms;
    for (auto& module : encoder.modules(/*include_self=*/false)) {
      if (auto* conv = module->as<torch::nn::Conv2d>()) convs.push_back(conv);
      if (auto* norm = module->as<torch::nn::BatchNorm2d>()) norms.push_back(norm);
    }
    TORCH_CHECK(convs.size() == 7 && norms.size() == 7, "int8: expected the ConvNet's 7 conv-BN pairs");
    static auto prepack = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d_prepack", "");
    torch::NoGradGuard no_grad;
    input_scale_ = calibration.abs().max().item<double>() / 127;
    torch::Tensor x = calibration;
    for (size_t i = 0; i < convs.size(); ++i) {
      const auto [weight, bias] = pretext::fold_batch_norm(*convs[i], *norms[i]);
      const int64_t padding = weight.size(2) / 2;
      x = torch::relu(torch::conv2d(x, weight, bias, 1, padding));
      Layer layer;
      layer.scale = std::max(x.max().item<double>(), 1e-6) / 255;
      layer.pool = (i == 1 || i == 3);
      if (layer.pool) x = torch::max_pool2d(x, 2);
      auto scales = (weight.abs().amax({1, 2, 3}).clamp_min(1e-8) / 127).to(torch::kDouble);
      auto quantized = at::quantize_per_channel(weight.contiguous(), scales, torch::zeros({weight.size(0)}, torch::kLong), 0,
                                                torch::kQInt8);
      torch::jit::Stack stack{quantized, c10::optional<torch::Tensor>(bias.contiguous()), c10::List<int64_t>({1, 1}),
                              c10::List<int64_t>({padding, padding}), c10::List<int64_t>({1, 1}), int64_t{1}};
      prepack.callBoxed(&stack);
      layer.packed = stack[0];
      layers_.push_back(std::move(layer));
    }
  }
  torch::Tensor forward(const torch::Tensor& input) const {
    static auto conv_relu = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d_relu", "new");
    torch::NoGradGuard no_grad;
    torch::Tensor x = at::quantize_per_tensor(input, input_scale_, 128, torch::kQUInt8);
    for (const Layer& layer : layers_) {
      torch::jit::Stack stack{x, layer.packed, layer.scale, int64_t{0}};
      conv_relu.callBoxed(&stack);
      x = stack[0].toTensor();
      if (layer.pool) x = torch::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, {1, 1});
    }
    return x.dequantize().mean({2, 3});
  }

 private:
  struct Layer {
    c10::IValue packed;
    double scale = 1;
    bool pool = false;
  };
  double input_scale_ = 1;
  std::vector<Layer> layers_;
};

int int8_features(int64_t warmup, int64_t steps, int64_t batch, const pretext::DatasetPtr& train,
                  const pretext::Preprocessor& preprocessor, const pretext::Runtime& runtime) {
  at::globalContext().setQEngine(at::QEngine::ONEDNN);
  auto encoder = fashion_mnist_encoder("convnet");
  auto subset = [&](int64_t step) {
    const int64_t first = (step * batch) % (train->size() - batch);
    return std::make_shared<pretext::SubsetDataset>(train, torch::arange(first, first + batch, torch::kLong));
  };
  auto input = [&](const pretext::Dataset& data) {
    return preprocessor.input(data.get(torch::arange(batch, torch::kLong)), *encoder, runtime.device);
  };
  Int8ConvNet int8(*encoder, input(*subset(0)));
  double float_seconds = 0, int8_seconds = 0, min_cosine = 1;
  for (int64_t step = 0; step < warmup + steps; ++step) {
    auto data = subset(step);
    auto start = std::chrono::steady_clock::now();
    auto reference = pretext::extract_features(*encoder, *data, preprocessor, runtime, batch);
    const double float_time = seconds_since(start);
    start = std::chrono::steady_clock::now();
    auto quantized = int8.forward(input(*data));
    const double int8_time = seconds_since(start);
    if (step < warmup) continue;
    float_seconds += float_time;
    int8_seconds += int8_time;
    min_cosine = std::min(min_cosine, torch::cosine_similarity(reference, quantized, 1).min().item<double>());
  }
  std::printf("{\"extract_features_images_per_second\": %.1f, \"int8_images_per_second\": %.1f, \"ratio\": %.2f, "
              "\"min_cosine\": %.5f}\n",
              steps * batch / float_seconds, steps * batch / int8_seconds, float_seconds / int8_seconds, min_cosine);
  return 0;
}

}  // namespace

PRETEXT_PASSIVE_OPENMP_AT_LOAD();  // as the pretext program runs

int main(int argc, char** argv) {
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
  if (mode == "profile") {
    if (argc != 4) return usage();
    return profile_simclr(argv[2], std::stoi(argv[3]), *train, mean, std);
  }
  if (mode == "int8") {
    if (argc != 5) return usage();
    pretext::ImagePreprocessor preprocessor(pretext::Normalization{mean, std});
    return int8_features(std::stoll(argv[2]), std::stoll(argv[3]), std::stoll(argv[4]), train, preprocessor, runtime);
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
