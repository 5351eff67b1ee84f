#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>

#include "pretext/cli/commands.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/report/html.h"
#include "pretext/train/trainer.h"

namespace pretext::cli {

// The share of the demo's budget that pretraining gets; the rest is the evaluation of three
// label budgets × four protocols (two of them train a network each). The evaluation is a fixed
// amount of work: on a 2-core Intel Xeon in fp32 it took 7 min 55 s, and with 60% for
// pretraining the demo ran 16 min 50 s; 45% and at most 300 fine-tuning steps keep it in 15.
constexpr double kDemoPretrainShare = 0.45;
// The text demo's evaluation trains small BERTs in seconds each; pretraining gets more of it.
// With 3 draws per budget the evaluation took 1 min 18 s on the AMD EPYC VM (bf16) and 3 min on
// the Xeon (fp32); the further draws of 1% (kTextDemoSmallestBudgetDraws) use what is left.
constexpr double kTextDemoPretrainShare = 0.7;
constexpr int64_t kDemoFinetuneMaxSteps = 300;
constexpr int64_t kDemoFinetuneMinSteps = 200;

// SimCLR's recipe for 28×28 grayscale images in a CPU budget, measured here (4-minute
// pretraining, then k-NN/linear with all labels): views of 20×20 pixels (half the compute of
// 28×28; the probes still see whole 28×28 images, which matches the objects' apparent size under
// random resized crops, as in FixRes, Touvron et al. 2019), crops of at least 35% of the image
// (small objects on a blank background lose their identity below that), no blur (a 3-pixel kernel
// only smears 28-pixel images), and a peak LARS rate of 0.6 for batch 256:
// 85.2% k-NN / 88.1% linear against 84.0% / 87.4% with crops from 20% and lr 0.3.
// The text demo (`--modality text`): BERT's masked-LM + next-sentence pretraining on the
// SpamAssassin messages with their labels withheld, then spam/ham with 1%, 10% and all labels.
// Sizes and rates measured here are in docs/RESULTS.md: in a 3-minute pretraining, masked-LM
// alone (RoBERTa's choice) on 64-token windows without dropout leaves BERT's plateau at the
// unigram loss (about 7) and reaches 4.9; with NSP, 128-token windows, dropout 0.1 or the larger
// bert-mini it is still on the plateau, and fine-tuning from it loses to training from scratch.
const char* const kTextDemoData = "spam-assassin";
const char* const kTextDemoTask = "mlm";
const char* const kTextDemoEncoder = "bert-tiny";
constexpr int64_t kTextDemoMaxLength = 64;
constexpr double kTextDemoDropout = 0.0;
constexpr int64_t kTextDemoBatchSize = 64;
constexpr double kTextDemoBaseLr = 8e-3;           // AdamW, per 256 sequences (peak 2e-3 at batch 64)
constexpr double kTextDemoFinetuneLr = 1e-3;        // the new head's
constexpr int64_t kTextDemoFinetuneBatchSize = 32;
constexpr int64_t kTextDemoFinetuneMaxSteps = 150;
constexpr int64_t kTextDemoFinetuneMinSteps = 100;
// Masked-LM alone trains no [CLS] state: the mean of the token states is the representation
// (macro-F1 at 1% of labels, 5 draws, one checkpoint: k-NN 66.3% → 87.5%, linear 81.1% → 88.1%,
// docs/RESULTS.md).
const char* const kTextDemoPooling = "mean";
// Windows packed across documents and sentences, every one of its 61 tokens used: per-document
// windows of whole sentences left 23% of them padding. Same VM, same draws, 10.5 minutes of
// pretraining: 38,900 against 30,400 tokens/s, and macro-F1 at 1% of labels (10 draws) k-NN
// 85.4% → 89.4%, fine-tune 90.6% → 91.7% (+9.4 → +10.5 over scratch; docs/RESULTS.md).
const char* const kTextDemoPacking = "corpus";
// The encoder's rate: 0.3 of the head's, after the head starts from the linear probe (LP-FT).
// Same checkpoint and 5 draws at 1%: 0.3 gave 90.3% macro-F1, 1.0 87.3% (and one draw at 82%,
// below its own linear probe), 0.1 89.1%.
constexpr double kTextDemoEncoderLrScale = 0.3;
// Each few-label budget is drawn 3 times, and 1% of labels (48) up to 10 times, while the demo's
// budget lasts: with 48 labels one draw alone moved the from-scratch baseline's macro-F1 between
// 66% and 87%, and on one checkpoint the fine-tune − scratch gap over draws 1–3 was 9.6 points,
// over draws 1–10 10.1 (docs/RESULTS.md). 7 more draws took about 50 s on the EPYC VM.
constexpr int64_t kTextDemoLabelDraws = 3;
constexpr int64_t kTextDemoSmallestBudgetDraws = 10;

// The speech demo (`--modality speech`): audio-contrastive pretraining of the audio Transformer
// on the spoken-words corpus (every word, pretraining voices, no labels), then spoken digits on
// voices held out from pretraining, with 1, 5 and 20 labels per class.
const char* const kSpeechDemoData = "spoken-words";
const char* const kSpeechDemoEvalData = "spoken-digits";
const char* const kSpeechDemoTask = "audio-contrastive";
const char* const kSpeechDemoEncoder = "audio-transformer";
constexpr int64_t kSpeechDemoBatchSize = 128;
// The evaluation trains 18 networks (fine-tune and scratch, 3 budgets × 3 draws), about 15 minutes
// on 2 cores: pretraining gets a quarter of the 24-minute budget (kSpeechDemoBudgetMinutes), 6 minutes.
constexpr double kSpeechDemoPretrainShare = 0.25;
constexpr double kSpeechDemoBaseLr = 2e-3;  // AdamW, per 256 clips
constexpr int64_t kSpeechDemoLabelDraws = 3;
// 300 steps for fine-tune and scratch alike (pretext evaluate's default minimum): at 150, scratch
// had not finished learning from 5 clips per class and the demo showed a gain that 300 steps take
// away. One checkpoint, 3 draws, 5 per class: scratch 89.7 → 94.5%, SSL + fine-tune 91.0 → 92.1%
// (docs/RESULTS.md).
// Batches of 64 labelled clips keep 300 steps at 20 per class as long as 150 steps of 128 were
// (96 epochs); with 128 the demo's evaluation took 35 minutes here. 1 and 5 per class (10 and 50
// clips) fit one batch either way.
constexpr int64_t kSpeechDemoFinetuneMaxSteps = 300;
constexpr int64_t kSpeechDemoFinetuneMinSteps = 300;
constexpr int64_t kSpeechDemoFinetuneBatchSize = 64;
// The encoder fine-tunes at the head's rate: in 150 steps a tenth of it left the pretrained
// features almost where they were. One checkpoint (611 steps, AMD EPYC VM), 3 draws, top-1 at 1,
// 5 and 20 per class: 0.1 gave 43.1, 84.0, 94.1%; 0.3 87.4% at 5; 1.0 42.8, 89.8, 97.8%.
constexpr double kSpeechDemoEncoderLrScale = 1.0;

// The video demo (`--modality video`): moving Fashion-MNIST objects, clip-contrastive pretraining
// without labels,
// then motion direction (moving-objects) and object class (moving-objects-class) with 10 labels
// per class (the issue's target budget; 50 per class doubles the evaluation's time). The first 4,000 images of each split make the videos (16 frames of 48×48).
const char* const kVideoDemoData = "moving-objects";
const char* const kVideoDemoClassData = "moving-objects-class";
// CVRL-style clip contrast: in the learning test's setting (1,500 videos, width 8, 3 epochs; k-NN on
// direction with 50 labels per class) it reached 74.5% against frame-order's 39.6% (random
// encoder 34%). Forward and reversed look alike for an object at constant speed, which leaves
// frame-order little to learn here.
const char* const kVideoDemoTask = "clip-contrastive";
const char* const kVideoDemoEncoder = "video-cnn3d";
constexpr int64_t kVideoDemoLimit = 4000;
constexpr int64_t kVideoDemoBatchSize = 64;
// The evaluation trains 12 networks (fine-tune and scratch, 2 label sets × 3 draws), about 9
// minutes on 2 cores: pretraining gets 35% of the budget.
constexpr double kVideoDemoPretrainShare = 0.35;
constexpr double kVideoDemoBaseLr = 2e-3;  // AdamW, per 256 clips
constexpr int64_t kVideoDemoLabelDraws = 3;
constexpr int64_t kVideoDemoFinetuneMaxSteps = 150;
constexpr int64_t kVideoDemoFinetuneMinSteps = 100;

const char* const kDemoSimclrRecipe = R"({"augment": {"size": 20, "crop_scale": [0.35, 1.0], "blur_probability": 0.0}})";

PretrainFlags demo_pretrain_defaults() {
  PretrainFlags flags;
  flags.out = "runs/demo";
  flags.config.trainer.optimizer.base_lr = 0.6;
  return flags;
}

EvaluateFlags demo_evaluate_defaults() {
  EvaluateFlags flags;
  flags.labels_per_class = {10, 100};
  flags.all_labels = true;
  // With all 60,000 labels, 20 fine-tuning epochs would take longer than the whole demo; cap the
  // steps (the few-label budgets stop well before the cap).
  flags.few_label.finetune.max_steps = kDemoFinetuneMaxSteps;
  flags.few_label.finetune.min_steps = kDemoFinetuneMinSteps;
  flags.few_label.linear.epochs = 30;
  return flags;
}

void apply_text_demo_defaults(PretrainFlags& pretrain, EvaluateFlags& evaluate,
                              const std::function<bool(const std::string&)>& given) {
  auto& config = pretrain.config;
  config.inputs.modality = "text";
  if (!given("--data")) config.data = kTextDemoData;
  if (!given("--task")) config.task = kTextDemoTask;
  if (!given("--encoder")) config.encoder.name = kTextDemoEncoder;
  if (!given("--max-length")) config.inputs.windows.max_length = kTextDemoMaxLength;
  if (!given("--dropout")) config.encoder.dropout = kTextDemoDropout;
  if (!given("--pooling")) config.encoder.pooling = kTextDemoPooling;
  if (!given("--packing")) config.inputs.windows.packing = kTextDemoPacking;
  if (!given("--out")) pretrain.out = "runs/demo-text";
  if (!given("--batch-size")) config.batch_size = kTextDemoBatchSize;
  if (!given("--optimizer")) config.trainer.optimizer.name = "adamw";
  if (!given("--base-lr") && !given("--lr")) config.trainer.optimizer.base_lr = kTextDemoBaseLr;
  if (!given("--weight-decay")) config.trainer.optimizer.weight_decay = 0.01;  // BERT's
  if (!given("--adam-beta2")) config.trainer.optimizer.beta2 = 0.98;          // RoBERTa's
  if (!given("--clip-grad-norm")) config.trainer.clip_grad_norm = 1.0;         // BERT's
  // The evaluation that follows scores k-NN itself; a k-NN monitor each epoch would cost minutes
  // of the pretraining budget on 2 cores.
  if (!given("--knn-every")) config.monitor.knn_every_epochs = 0;
  // Label budgets as fractions: spam-assassin's classes are 69% ham and 31% spam, and a fraction
  // keeps that balance in the labelled subset (1% = 33 ham + 15 spam).
  evaluate.labels_per_class.clear();
  evaluate.label_fractions = {0.01, 0.1};
  evaluate.all_labels = true;
  // Six networks are trained in the evaluation (fine-tune and scratch at three label budgets);
  // BERT steps cost more than the image demo's, so each gets fewer, smaller steps.
  if (!given("--finetune-batch-size")) evaluate.few_label.finetune.batch_size = kTextDemoFinetuneBatchSize;
  if (!given("--finetune-max-steps")) evaluate.few_label.finetune.max_steps = kTextDemoFinetuneMaxSteps;
  if (!given("--finetune-min-steps")) evaluate.few_label.finetune.min_steps = kTextDemoFinetuneMinSteps;
  if (!given("--finetune-lr")) evaluate.few_label.finetune.lr = kTextDemoFinetuneLr;
  if (!given("--encoder-lr-scale")) evaluate.few_label.finetune.encoder_lr_scale = kTextDemoEncoderLrScale;
  if (!given("--label-draws")) evaluate.few_label.label_draws = kTextDemoLabelDraws;
  if (!given("--smallest-budget-draws")) evaluate.few_label.smallest_budget_draws = kTextDemoSmallestBudgetDraws;
}

namespace {

// What the speech and video demos share: AdamW, no k-NN monitor (the evaluation scores k-NN
// itself), few-label budgets per class drawn several times, short fine-tuning.
void apply_clip_demo_defaults(PretrainFlags& pretrain, EvaluateFlags& evaluate,
                              const std::function<bool(const std::string&)>& given, int64_t batch_size,
                              double base_lr, std::vector<int64_t> labels_per_class, int64_t label_draws,
                              int64_t finetune_max_steps, int64_t finetune_min_steps) {
  auto& config = pretrain.config;
  if (!given("--batch-size")) config.batch_size = batch_size;
  if (!given("--optimizer")) config.trainer.optimizer.name = "adamw";
  if (!given("--base-lr") && !given("--lr")) config.trainer.optimizer.base_lr = base_lr;
  if (!given("--weight-decay")) config.trainer.optimizer.weight_decay = 0.05;
  if (!given("--clip-grad-norm")) config.trainer.clip_grad_norm = 1.0;
  if (!given("--knn-every")) config.monitor.knn_every_epochs = 0;
  evaluate.labels_per_class = std::move(labels_per_class);
  evaluate.label_fractions.clear();
  evaluate.all_labels = false;
  if (!given("--label-draws")) evaluate.few_label.label_draws = label_draws;
  if (!given("--finetune-max-steps")) evaluate.few_label.finetune.max_steps = finetune_max_steps;
  if (!given("--finetune-min-steps")) evaluate.few_label.finetune.min_steps = finetune_min_steps;
}

}  // namespace

std::vector<std::string> apply_speech_demo_defaults(PretrainFlags& pretrain, EvaluateFlags& evaluate,
                                                    const std::function<bool(const std::string&)>& given) {
  auto& config = pretrain.config;
  config.inputs.modality = "audio";
  if (!given("--data")) {
    config.data = kSpeechDemoData;
    evaluate.data = kSpeechDemoEvalData;
  }
  if (!given("--task")) config.task = kSpeechDemoTask;
  if (!given("--encoder")) config.encoder.name = kSpeechDemoEncoder;
  if (!given("--out")) pretrain.out = "runs/demo-speech";
  apply_clip_demo_defaults(pretrain, evaluate, given, kSpeechDemoBatchSize, kSpeechDemoBaseLr, {1, 5, 20},
                           kSpeechDemoLabelDraws, kSpeechDemoFinetuneMaxSteps, kSpeechDemoFinetuneMinSteps);
  if (!given("--encoder-lr-scale")) evaluate.few_label.finetune.encoder_lr_scale = kSpeechDemoEncoderLrScale;
  if (!given("--finetune-batch-size")) evaluate.few_label.finetune.batch_size = kSpeechDemoFinetuneBatchSize;
  return {};
}

std::vector<std::string> apply_video_demo_defaults(PretrainFlags& pretrain, EvaluateFlags& evaluate,
                                                   const std::function<bool(const std::string&)>& given) {
  auto& config = pretrain.config;
  config.inputs.modality = "video";
  const bool named = !given("--data");
  if (named) config.data = kVideoDemoData;
  if (!given("--limit") && named) config.inputs.images.limit = kVideoDemoLimit;
  if (!given("--task")) config.task = kVideoDemoTask;
  if (!given("--encoder")) config.encoder.name = kVideoDemoEncoder;
  if (!given("--out")) pretrain.out = "runs/demo-video";
  apply_clip_demo_defaults(pretrain, evaluate, given, kVideoDemoBatchSize, kVideoDemoBaseLr, {10},
                           kVideoDemoLabelDraws, kVideoDemoFinetuneMaxSteps, kVideoDemoFinetuneMinSteps);
  if (named) return {kVideoDemoClassData};
  return {};
}

int run_demo(PretrainFlags& pretrain, EvaluateFlags& evaluate, double budget_minutes,
             const RuntimeFlags& runtime_flags, const std::vector<std::string>& also_evaluate) {
  PRETEXT_CHECK(budget_minutes > 0, ConfigError, "--budget-minutes must be > 0, got ", budget_minutes);
  PRETEXT_CHECK(read_launch_environment().world_size == 1, ConfigError,
                "pretext demo runs as one process; for several ranks use `pretext launch -n N -- pretext pretrain …`, "
                "then `pretext evaluate`");
  const auto start = std::chrono::steady_clock::now();
  Runtime runtime = start_runtime(runtime_flags);
  finish_pretrain_flags(pretrain);
  PretrainConfig config = pretrain.config;
  config.seed = runtime.seed;
  const double share = config.inputs.modality == "text"    ? kTextDemoPretrainShare
                       : config.inputs.modality == "audio" ? kSpeechDemoPretrainShare
                       : config.inputs.modality == "video" ? kVideoDemoPretrainShare
                                                           : kDemoPretrainShare;
  if (config.trainer.epochs == 0) config.trainer.budget_minutes = budget_minutes * share;
  if (config.task == "simclr") {
    // The recipe, with the user's --task-option values on top.
    nlohmann::json options = nlohmann::json::parse(kDemoSimclrRecipe);
    options.merge_patch(config.task_options);
    config.task_options = options;
  }
  const std::filesystem::path out_dir = config.trainer.out_dir;

  EvaluateFlags flags = evaluate;
  if (flags.data.empty()) flags.data = config.data;
  if (config.data == kSpeechDemoData || flags.data == kSpeechDemoEvalData) {
    SpokenWordsOptions corpus;
    corpus.seed = 0;  // the corpus is fixed; --seed varies the runs on it
    ensure_spoken_words(corpus);
  }
  flags.limit = config.inputs.images.limit;
  flags.few_label.seed = runtime.seed;
  finish_evaluate_flags(flags);
  std::string budgets;
  for (const auto& split : flags.few_label.splits) budgets += (budgets.empty() ? "" : ", ") + describe_split(split);

  log::info("demo: pretraining ", config.task, " on ", config.data, " with labels withheld, then evaluating with ",
            budgets, " (budget ", budget_minutes, " min)");
  PretrainResult pretrained = run_pretraining(config, runtime);
  if (pretrained.train.interrupted) return 130;

  // Further draws of the smallest budget (text) fill what is left of the budget, less a margin for
  // the report.
  constexpr double kReportSeconds = 10;
  flags.few_label.seconds_available =
      std::max(1.0, budget_minutes * 60 - kReportSeconds -
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  auto results = evaluate_checkpoint(out_dir / "last.pt", flags, out_dir, runtime);
  for (const std::string& data : also_evaluate) {
    EvaluateFlags more = flags;
    more.data = data;
    log::info("demo: evaluating on ", data, " too (results in ", (out_dir / data).string(), ")");
    evaluate_checkpoint(out_dir / "last.pt", more, out_dir / data, runtime);
  }

  const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60.0;
  std::ostringstream summary;
  summary << "demo finished in " << format_duration(minutes * 60) << " (pretraining "
          << format_duration(pretrained.train.seconds) << ", " << pretrained.train.steps << " steps, "
          << pretrained.train.epochs << " epochs); run folder " << out_dir.string();
  const std::string report = "report: " + write_html_report(out_dir).string();
  // With --json, stdout holds the results document alone.
  if (flags.json) {
    log::info(summary.str());
    log::info(report);
  } else {
    std::cout << summary.str() << "\n" << report << "\n";
  }
  return 0;
}

}  // namespace pretext::cli
