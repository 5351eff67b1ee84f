#include <chrono>
#include <iostream>

#include "pretext/cli/commands.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/train/trainer.h"

namespace pretext::cli {

// The share of the demo's budget that pretraining gets; the rest is the evaluation of three
// label budgets × four protocols (two of them train a network each).
constexpr double kDemoPretrainShare = 0.62;
constexpr int64_t kDemoFinetuneMaxSteps = 1000;

int run_demo(PretrainFlags& pretrain, EvaluateFlags& evaluate, double budget_minutes,
             const RuntimeFlags& runtime_flags) {
  PRETEXT_CHECK(budget_minutes > 0, ConfigError, "--budget-minutes must be > 0, got ", budget_minutes);
  const auto start = std::chrono::steady_clock::now();
  Runtime runtime = start_runtime(runtime_flags);
  finish_pretrain_flags(pretrain);
  PretrainConfig config = pretrain.config;
  config.seed = runtime.seed;
  if (config.trainer.epochs == 0) config.trainer.budget_minutes = budget_minutes * kDemoPretrainShare;
  if (pretrain.out == "runs/pretrain") config.trainer.out_dir = "runs/demo";
  const std::filesystem::path out_dir = config.trainer.out_dir;

  log::info("demo: pretraining ", config.task, " on ", config.data, " with labels withheld, then evaluating with 10, "
            "100 and all labels per class (budget ", budget_minutes, " min)");
  PretrainResult pretrained = run_pretraining(config, runtime);
  if (pretrained.train.interrupted) return 130;

  EvaluateFlags flags = evaluate;
  flags.data = config.data;
  flags.limit = config.data_options.limit;
  flags.few_label.seed = runtime.seed;
  flags.labels_per_class = {10, 100};
  flags.label_fractions.clear();
  flags.all_labels = true;
  // With all 60,000 labels, 20 fine-tuning epochs would take longer than the whole demo; cap the
  // steps (the few-label budgets stop well before the cap).
  if (flags.few_label.finetune.max_steps == 0) flags.few_label.finetune.max_steps = kDemoFinetuneMaxSteps;
  finish_evaluate_flags(flags);
  auto results = evaluate_checkpoint(out_dir / "last.pt", flags, out_dir, runtime);

  const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60.0;
  std::cout << "demo finished in " << format_duration(minutes * 60) << " (pretraining "
            << format_duration(pretrained.train.seconds) << ", " << pretrained.train.steps << " steps, "
            << pretrained.train.epochs << " epochs); run folder " << out_dir.string() << "\n";
  return 0;
}

}  // namespace pretext::cli
