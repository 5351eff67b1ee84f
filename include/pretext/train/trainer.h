// Trainer: runs a pretext task's optimisation. It knows nothing of what the loss is — it asks
// the task for one per batch, and owns the rest: optimizer and schedule, precision, gradient
// clipping, progress lines, the metrics log, checkpoints and resuming.
// Guarantees: a checkpoint (last.pt, atomic) after every epoch and when stopped by a signal; a
// NaN/Inf loss stops the run with TrainingError before anything is written, so the last good
// checkpoint stays intact.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>

#include "pretext/core/progress.h"
#include "pretext/core/runtime.h"
#include "pretext/data/loader.h"
#include "pretext/tasks/task.h"
#include "pretext/train/monitor.h"
#include "pretext/train/optim.h"

namespace pretext {

struct TrainerOptions {
  int64_t epochs = 0;          // 0 = as many as budget_minutes allows
  int64_t max_steps = 0;       // stop after this many optimizer steps (0 = no limit)
  double budget_minutes = 0;   // wall-clock budget; with epochs = 0 it sets the schedule's length
  OptimizerOptions optimizer;
  double warmup_epochs = -1;   // linear warm-up; -1 = min(10 epochs, 10% of the run)
  double final_lr_fraction = 0.0;
  double clip_grad_norm = 0;   // 0 = no clipping
  std::filesystem::path out_dir;  // last.pt and metrics.jsonl go here
  bool resume = false;         // continue from out_dir/last.pt
  double progress_seconds = 10;   // a progress line at most this often
  int64_t log_every_steps = 10;   // a metrics record every this many steps
  // A NaN/Inf loss or gradient: "stop" ends the run with an error (the last checkpoint is the
  // last good state); "skip" drops that step's update, halves the learning rate from then on and
  // counts it (metrics: skipped_steps), and stops only after max_consecutive_skips in a row.
  std::string on_nonfinite = "stop";
  // Checkpoints: last.pt at every epoch's end and, within an epoch, once this many minutes have
  // passed since the last one (0 = epoch ends only), so a killed run loses at most that much.
  // keep_checkpoints > 0 also keeps that many earlier ones as checkpoints/step-<N>.pt; best.pt is
  // the checkpoint with the highest k-NN top-1 so far (where the monitor runs k-NN).
  double checkpoint_minutes = 10;
  int64_t keep_checkpoints = 0;
  int64_t max_consecutive_skips = 5;
  // Several ranks: batch norm over the global batch (models/conv_bn.h's SyncBatchNormScope)
  // instead of each rank's own samples.
  bool sync_batch_norm = false;

  void validate() const;  // ConfigError naming the option
  nlohmann::json to_json() const;
};

struct TrainResult {
  int64_t steps = 0;
  int64_t epochs = 0;  // epochs completed
  double seconds = 0;
  double images_per_second = 0;  // samples per second: images, or text windows
  double tokens_per_second = 0;  // text only: the windows' tokens ([PAD] not counted); 0 for images
  double final_loss = 0;  // mean over the last epoch's steps
  bool interrupted = false;
  std::filesystem::path checkpoint;
  double knn_top1 = NAN;        // the monitor's last k-NN top-1 (NAN without one)
  int64_t collapsed_steps = 0;  // logged steps whose representation looked collapsed
  int64_t skipped_steps = 0;    // --on-nonfinite skip: updates dropped for a NaN/Inf (whole run)
  double peak_memory_mib = 0;   // the process's peak resident memory at the end
  int64_t world_size = 1;        // data-parallel ranks (images_per_second counts all of them)
  double communication_seconds = 0;  // this rank's wait for gradient all-reduces after backward
};

class Trainer {
 public:
  // `config` is stored in every checkpoint (see checkpoint.h for its keys).
  Trainer(TaskPtr task, Loader& loader, TrainerOptions options, Runtime runtime, nlohmann::json config);
  // Online evaluation and health (optional): the monitor sees every step's embeddings and the
  // batch's labels, which the task itself never sees.
  void set_monitor(std::shared_ptr<Monitor> monitor) { monitor_ = std::move(monitor); }
  // Files every checkpoint carries (CheckpointState::assets), e.g. the tokenizer.
  void set_assets(std::map<std::string, std::string> assets) { assets_ = std::move(assets); }
  TrainResult fit();

 private:
  int64_t plan_total_steps(double seconds_per_step, double elapsed_seconds) const;

  TaskPtr task_;
  Loader& loader_;
  TrainerOptions options_;
  Runtime runtime_;
  nlohmann::json config_;
  std::map<std::string, std::string> assets_;
  std::shared_ptr<Monitor> monitor_;
};

}  // namespace pretext
