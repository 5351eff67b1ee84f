// BERT pretraining step throughput: pretext's mlm-nsp task (masking, sentence pairs, encoder,
// masked-LM and next-sentence heads, AdamW) on batches of full-length random windows, in tokens
// per second. bench/mlm.sh runs it alternately with bench/mlm_reference.py (the same model in
// PyTorch) and prints the ratio; alone it prints one JSON line.
//
//   build/bench/bench_mlm SIZE BATCH LENGTH STEPS PRECISION   (e.g. bert-mini 64 128 20 bf16)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "pretext/core/runtime.h"
#include "pretext/data/text_batch.h"
#include "pretext/tasks/task.h"

namespace {

constexpr int64_t kVocab = 8000;        // the demo tokenizer's
constexpr int64_t kSentenceTokens = 24;  // sentences per window: NSP cuts between them
constexpr int kWarmupSteps = 3;

double peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace

PRETEXT_PASSIVE_OPENMP_AT_LOAD();  // as the pretext program runs

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: bench_mlm SIZE BATCH LENGTH STEPS PRECISION (fp32|bf16)\n");
    return 2;
  }
  const std::string size = argv[1];
  const int64_t batch = std::stoll(argv[2]), length = std::stoll(argv[3]);
  const int steps = std::stoi(argv[4]);
  pretext::RuntimeOptions runtime_options;
  runtime_options.precision = argv[5];
  pretext::Runtime runtime = pretext::init_runtime(runtime_options);

  pretext::TaskContext context;
  context.encoder.name = size;
  context.encoder.vocab_size = kVocab;
  context.encoder.max_length = length;
  context.encoder = context.encoder.resolved();
  context.seed = 1;
  auto task = pretext::make_task("mlm-nsp", context);
  task->train();
  torch::optim::AdamW optimizer(task->parameters(), torch::optim::AdamWOptions(5e-4).weight_decay(0.01));

  // Windows as a TextDataset makes them: L − 3 ordinary tokens, sentence numbers, one document each.
  const int64_t window = length - 3;
  pretext::Batch data;
  data.input = torch::randint(pretext::text::kSpecialTokens, kVocab, {batch, window}, torch::kLong);
  data.extra = torch::div(torch::arange(window, torch::kLong), kSentenceTokens, "floor")
                   .unsqueeze(0)
                   .expand({batch, window})
                   .contiguous();
  data.group = torch::arange(batch, torch::kLong);
  data.label = torch::full({batch}, -1, torch::kLong);
  data.index = torch::arange(batch, torch::kLong);

  std::vector<double> seconds;
  for (int step = 0; step < kWarmupSteps + steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    optimizer.zero_grad();
    torch::Tensor loss;
    {
      pretext::AutocastGuard autocast(runtime.device, runtime.bf16);
      loss = task->step(data).loss;
    }
    loss.backward();
    optimizer.step();
    if (step >= kWarmupSteps) {
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  std::printf("{\"impl\": \"pretext\", \"size\": \"%s\", \"precision\": \"%s\", \"batch\": %lld, \"length\": %lld, "
              "\"threads\": %d, \"step_ms\": %.2f, \"tokens_per_s\": %.0f, \"peak_rss_mib\": %.0f}\n",
              size.c_str(), runtime.bf16 ? "bf16" : "fp32", static_cast<long long>(batch),
              static_cast<long long>(length), runtime.threads, median * 1e3, batch * length / median, peak_rss_mib());
  return 0;
}
