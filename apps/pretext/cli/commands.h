// Flags shared by the subcommands and the subcommands themselves (one file each).
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "pretext/core/runtime.h"
#include "pretext/data/moving_objects.h"
#include "pretext/data/spoken_words.h"
#include "pretext/eval/few_label.h"
#include "pretext/train/distributed.h"
#include "pretext/train/pretrain.h"

namespace pretext::cli {

struct RuntimeFlags {
  RuntimeOptions runtime;
  std::string log_level;
  bool quiet = false;  // warnings and errors only (--log-level wins when both are given)
};

struct PretrainFlags {
  PretrainConfig config;
  std::vector<std::string> task_options;  // key=value
  std::string out = "runs/pretrain";
  bool no_online_probe = false;
  DistributedOptions distributed;  // used when launched as several ranks (torchrun, Slurm, `pretext launch`)
};

struct EvaluateFlags {
  FewLabelOptions few_label;
  std::vector<int64_t> labels_per_class;
  std::vector<double> label_fractions;
  bool all_labels = false;
  std::string checkpoint;
  std::string data;       // labelled pool (its train split); default: the checkpoint's data
  std::string test_data;  // default: the test split of --data
  int64_t image_size = 0;
  int64_t limit = 0;
  InputOptions inputs = evaluation_inputs();  // text: a document is its first window
  static InputOptions evaluation_inputs();
  std::string out;        // results folder; default: <checkpoint folder>/eval
  std::string pooling;    // text encoders: cls | mean; empty = the checkpoint's
  bool json = false;      // print results.json's document on stdout instead of the tables
};

struct TokenizerFlags {
  std::string data;
  InputOptions inputs;
  std::string out = "tokenizer.model";
};

// `pretext data NAME`: make a shipped dataset (spoken-words: espeak-ng into the data cache, or
// --out; moving-objects: video files under --out).
struct DataFlags {
  std::string dataset;
  std::string out;
  int64_t limit = 0;  // moving-objects: videos per split from the first N images (0 = all)
  SpokenWordsOptions spoken_words;  // spoken-words: the ranges of speed, pitch and noise
  MovingObjectsOptions moving_objects;  // moving-objects: speeds, distractors, noise (seed: the split's)
};

void add_runtime_flags(CLI::App& app, RuntimeFlags& flags);
void add_input_flags(CLI::App& app, InputOptions& inputs, bool pretraining);
void add_pretrain_flags(CLI::App& app, PretrainFlags& flags, bool demo);
void add_evaluate_flags(CLI::App& app, EvaluateFlags& flags, bool demo);

// Applies --log-level, seeds, threads; prints the runtime line.
Runtime start_runtime(const RuntimeFlags& flags);
// Fills config.task_options from --task-option pairs (merged over a config file's values).
void finish_pretrain_flags(PretrainFlags& flags);
// Turns --labels-per-class/--label-fraction/--all-labels into splits (all labels when none).
void finish_evaluate_flags(EvaluateFlags& flags);

// Runs the few-label comparison for a checkpoint and writes results.json/results.md to out_dir.
std::vector<ProtocolResult> evaluate_checkpoint(const std::filesystem::path& checkpoint, const EvaluateFlags& flags,
                                                const std::filesystem::path& out_dir, const Runtime& runtime);

// The demo's recipe: the defaults its flags start from (see demo.cpp for why each differs).
PretrainFlags demo_pretrain_defaults();
EvaluateFlags demo_evaluate_defaults();
// Switches the demo to text (spam-assassin, mlm-nsp, a BERT, label fractions), leaving every flag
// the user gave (`given("--flag")`) as they set it.
void apply_text_demo_defaults(PretrainFlags& pretrain, EvaluateFlags& evaluate,
                              const std::function<bool(const std::string&)>& given);

// Switches the demo to speech (spoken-words with audio-contrastive, then spoken digits on held-out
// voices with 1, 5 and 20 labels per class) or video (moving-objects with clip-contrastive, then motion
// direction and object class with 10 labels per class), leaving the user's flags alone.
// Returns the further labelled datasets the demo evaluates, each into <out>/<name>.
std::vector<std::string> apply_speech_demo_defaults(PretrainFlags& pretrain, EvaluateFlags& evaluate,
                                                    const std::function<bool(const std::string&)>& given);
std::vector<std::string> apply_video_demo_defaults(PretrainFlags& pretrain, EvaluateFlags& evaluate,
                                                   const std::function<bool(const std::string&)>& given);
// The demo's default --budget-minutes: 15, and 24 for speech, whose evaluation trains its 18
// networks for 300 steps each (14.5 minutes on the 2-core EPYC VM).
constexpr double kDemoBudgetMinutes = 15;
constexpr double kSpeechDemoBudgetMinutes = 24;

int run_pretrain(const PretrainFlags& flags, const RuntimeFlags& runtime_flags);
int run_data(const DataFlags& flags, const RuntimeFlags& runtime_flags);
// Makes the spoken-words corpus in `out` (empty: the data cache) unless it is there already.
void ensure_spoken_words(const SpokenWordsOptions& options, const std::string& out = "");
int run_evaluate(const EvaluateFlags& flags, const RuntimeFlags& runtime_flags);
int run_demo(PretrainFlags& pretrain, EvaluateFlags& evaluate, double budget_minutes,
             const RuntimeFlags& runtime_flags, const std::vector<std::string>& also_evaluate = {});
int run_list();
int run_inspect(const std::string& checkpoint);
int run_report(const std::string& run_dir);
int run_tokenizer_train(const TokenizerFlags& flags, const RuntimeFlags& runtime_flags);

// `pretext launch -n N -- COMMAND…`: N local processes as the ranks of one job (launch.cpp).
struct LaunchFlags {
  int nproc_per_node = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;           // 0 = a free port, chosen at launch
  double grace_seconds = 10;         // from SIGTERM to SIGKILL when the ranks are stopped
  std::vector<std::string> command;  // what each rank runs (after `--`)
};
// Returns the first failed rank's exit status (128 + signal when killed), or 0 when all succeed.
int run_launch(const LaunchFlags& flags);

}  // namespace pretext::cli
