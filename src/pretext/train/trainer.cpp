#include "pretext/train/trainer.h"

#include <chrono>
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/jsonl.h"
#include "pretext/core/log.h"
#include "pretext/data/text_batch.h"
#include "pretext/models/conv_bn.h"
#include "pretext/train/checkpoint.h"
#include "pretext/train/distributed.h"

namespace pretext {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// `to` becomes another name for the checkpoint `from` (a hard link, or a copy where the file
// system has none), replacing any file of that name in one rename. Failing only warns: the run's
// own checkpoint is written.
void link_checkpoint(const fs::path& from, const fs::path& to) {
  std::error_code error;
  fs::create_directories(to.parent_path(), error);
  fs::path temporary = to;
  temporary += ".tmp";
  fs::remove(temporary, error);
  error.clear();
  fs::create_hard_link(from, temporary, error);
  if (error) {
    error.clear();
    fs::copy_file(from, temporary, fs::copy_options::overwrite_existing, error);
  }
  if (!error) fs::rename(temporary, to, error);
  if (error) {
    fs::remove(temporary, error);
    log::warn("could not keep ", to.string(), ": ", error.message());
  }
}

// Removes all but the `keep` highest-numbered step-<N>.pt files of `folder`.
void prune_checkpoints(const fs::path& folder, int64_t keep) {
  std::vector<std::pair<int64_t, fs::path>> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("step-", 0) != 0 || entry.path().extension() != ".pt") continue;
    try {
      found.emplace_back(std::stoll(name.substr(5)), entry.path());
    } catch (const std::exception&) {
      // not one of ours
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = static_cast<size_t>(keep); i < found.size(); ++i) fs::remove(found[i].second, error);
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Steps timed to estimate the schedule's length in budget mode (after two warm-up steps whose
// time includes one-off allocations).
constexpr int64_t kCalibrationSkip = 2;
// Steps (counted from the run's start) after which the budget's step count is planned again,
// and then every kReplanEvery steps until 90% of the run, since the machine's speed drifts.
constexpr int64_t kReplanAt[] = {12, 62, 212};
constexpr int64_t kReplanEvery = 200;

}  // namespace

void TrainerOptions::validate() const {
  PRETEXT_CHECK(epochs >= 0, ConfigError, "--epochs must be >= 0, got ", epochs);
  PRETEXT_CHECK(max_steps >= 0, ConfigError, "--max-steps must be >= 0, got ", max_steps);
  PRETEXT_CHECK(budget_minutes >= 0, ConfigError, "--budget-minutes must be >= 0, got ", budget_minutes);
  PRETEXT_CHECK(epochs > 0 || max_steps > 0 || budget_minutes > 0, ConfigError,
                "training needs a length: give --epochs, --max-steps or --budget-minutes");
  PRETEXT_CHECK(on_nonfinite == "stop" || on_nonfinite == "skip", ConfigError,
                "--on-nonfinite must be stop or skip, got '", on_nonfinite, "'");
  PRETEXT_CHECK(max_consecutive_skips >= 1, ConfigError, "max_consecutive_skips must be >= 1, got ",
                max_consecutive_skips);
  PRETEXT_CHECK(checkpoint_minutes >= 0, ConfigError, "--checkpoint-minutes must be >= 0, got ", checkpoint_minutes);
  PRETEXT_CHECK(keep_checkpoints >= 0, ConfigError, "--keep-checkpoints must be >= 0, got ", keep_checkpoints);
  PRETEXT_CHECK(log_every_steps >= 1, ConfigError, "--log-every must be >= 1, got ", log_every_steps);
  PRETEXT_CHECK(clip_grad_norm >= 0, ConfigError, "--clip-grad-norm must be >= 0, got ", clip_grad_norm);
  PRETEXT_CHECK(warmup_epochs >= 0 || warmup_epochs == -1, ConfigError, "--warmup-epochs must be >= 0 (or -1 for auto)");
  PRETEXT_CHECK(!out_dir.empty(), ConfigError, "--out: an output folder is required");
  optimizer.validate();
}

nlohmann::json TrainerOptions::to_json() const {
  return {{"epochs", epochs},
          {"max_steps", max_steps},
          {"budget_minutes", budget_minutes},
          {"optimizer", optimizer.to_json()},
          {"warmup_epochs", warmup_epochs},
          {"final_lr_fraction", final_lr_fraction},
          {"clip_grad_norm", clip_grad_norm},
          {"on_nonfinite", on_nonfinite},
          {"sync_batch_norm", sync_batch_norm}};
}

Trainer::Trainer(TaskPtr task, Loader& loader, TrainerOptions options, Runtime runtime, nlohmann::json config)
    : task_(std::move(task)),
      loader_(loader),
      options_(std::move(options)),
      runtime_(std::move(runtime)),
      config_(std::move(config)) {
  options_.validate();
}

int64_t Trainer::plan_total_steps(double seconds_per_step, double elapsed_seconds) const {
  const int64_t per_epoch = loader_.batches_per_epoch();
  int64_t total = 0;
  if (options_.epochs > 0) {
    total = options_.epochs * per_epoch;
  } else if (options_.budget_minutes > 0 && seconds_per_step > 0) {
    const double left = options_.budget_minutes * 60.0 - elapsed_seconds;
    total = static_cast<int64_t>(std::max(1.0, left / seconds_per_step));
  }
  if (options_.max_steps > 0) total = total > 0 ? std::min(total, options_.max_steps) : options_.max_steps;
  return total;
}

TrainResult Trainer::fit() {
  const std::filesystem::path checkpoint_path = options_.out_dir / "last.pt";
  const int64_t per_epoch = loader_.batches_per_epoch();
  // The configured batch, not samples / batches: with drop_last that rounds up (4,000 samples in
  // 31 batches of 128 gave 129, and a peak LR 0.8% high).
  const int64_t batch_size = loader_.batch_size();
  // Data-parallel: every rank runs this loop on its shard; rank 0 ("lead") alone writes files and
  // progress lines. Decisions that depend on a rank's own view (a NaN loss, a signal, the clock)
  // are agreed through a collective, so that all ranks take the same steps.
  const ProcessGroupPtr group = runtime_.group ? runtime_.group : single_process_group();
  const int64_t world = group->world_size();
  const bool lead = group->rank() == 0;
  std::vector<std::pair<std::string, torch::Tensor>> named;
  // Momentum targets (MoCo's key encoder, BYOL's target, DINO's teacher) are parameters that
  // do not require gradients: they follow the online network in after_update(), not the optimizer.
  for (const auto& item : task_->named_parameters()) {
    if (item.value().requires_grad()) named.emplace_back(item.key(), item.value());
  }
  std::vector<torch::Tensor> parameters;
  for (const auto& item : named) parameters.push_back(item.second);

  Schedule schedule;
  schedule.peak_lr = options_.optimizer.peak_lr(batch_size * world);  // the global batch
  schedule.final_fraction = options_.final_lr_fraction;
  Optimizer optimizer(named, options_.optimizer, schedule.peak_lr);

  CheckpointState state;
  state.config = config_;
  state.config["train"] = options_.to_json();
  state.assets = assets_;
  state.world_size = world;
  if (options_.resume) {
    PRETEXT_CHECK(std::filesystem::exists(checkpoint_path), InputError, "--resume: no checkpoint at ",
                  checkpoint_path.string());
    CheckpointState saved = read_checkpoint_state(checkpoint_path);
    PRETEXT_CHECK(saved.config.value("task", "") == config_.value("task", ""), InputError, checkpoint_path.string(),
                  ": --resume: the checkpoint was written by task '", saved.config.value("task", ""), "', not '",
                  config_.value("task", ""), "'");
    if (saved.config.contains("encoder") && config_.contains("encoder") && saved.config["encoder"] != config_["encoder"]) {
      throw InputError(checkpoint_path.string() + ": --resume: the checkpoint was written for encoder " +
                       saved.config["encoder"].dump() + ", but this run asks for " + config_["encoder"].dump());
    }
    load_checkpoint(checkpoint_path, *task_, &optimizer);
    state.step = saved.step;
    state.epoch = saved.epoch;
    state.total_steps = saved.total_steps;
    state.finished = saved.finished;
    state.skipped_steps = saved.skipped_steps;
    state.lr_scale = saved.lr_scale;
    state.best_knn_top1 = saved.best_knn_top1;
    state.epoch_step = saved.epoch_step >= 0 ? saved.epoch_step : std::max<int64_t>(0, saved.step - saved.epoch * per_epoch);
    if (saved.world_size != world) {
      // Another world size: the same samples seen, counted in this run's (larger or smaller) steps.
      const double scale = static_cast<double>(saved.world_size) / static_cast<double>(world);
      state.step = std::llround(saved.step * scale);
      state.total_steps = std::llround(saved.total_steps * scale);
      state.epoch_step = std::min<int64_t>(per_epoch, static_cast<int64_t>(state.epoch_step * scale));
      log::info("resuming a ", saved.world_size, "-rank run on ", world, " rank(s): step ", saved.step, " → ",
                state.step, ", planned ", saved.total_steps, " → ", state.total_steps);
    }
    // An explicit length wins over the saved plan, so that `--resume --epochs 20` extends a
    // finished 10-epoch run; a budget-planned run keeps the length it planned.
    const int64_t requested = options_.epochs > 0 || options_.budget_minutes == 0 ? plan_total_steps(0, 0) : 0;
    if (requested > 0) {
      state.total_steps = requested;
      state.finished = state.step >= requested;
    }
    log::info("resuming from ", checkpoint_path.string(), " at step ", state.step, " (epoch ", state.epoch, ")");
  }

  int64_t total_steps = state.total_steps > 0 ? state.total_steps : plan_total_steps(0, 0);
  auto warmup_for = [&](int64_t total) {
    if (options_.warmup_epochs >= 0) return static_cast<int64_t>(std::llround(options_.warmup_epochs * per_epoch));
    return std::min<int64_t>(10 * per_epoch, total / 10);
  };
  schedule.total_steps = std::max<int64_t>(1, total_steps);
  schedule.warmup_steps = total_steps > 0 ? warmup_for(total_steps) : 10 * per_epoch;

  // Every rank starts from rank 0's weights (and buffers: queues, running statistics), and draws
  // its own augmentations.
  broadcast_module(*task_, *group);
  if (!lead) {
    task_->generator().set_current_seed(config_.value("seed", uint64_t{0}) + 0x9E3779B97F4A7C15ULL * group->rank() +
                                        static_cast<uint64_t>(state.step));
  }
  GradientReducer reducer(parameters, group);
  std::optional<SyncBatchNormScope> sync_batch_norm;
  if (options_.sync_batch_norm && world > 1) sync_batch_norm.emplace(group);

  // Written only once the run is known to be sound (a resumed checkpoint fits), so that a
  // refused run leaves the folder as it was.
  std::optional<JsonLinesWriter> metrics_file;
  if (lead) {
    write_file_atomic(options_.out_dir / "config.json", state.config.dump(2) + "\n");
    metrics_file.emplace(options_.out_dir / "metrics.jsonl", options_.resume);
  }
  auto write_metrics = [&](const nlohmann::json& record) {
    if (metrics_file) metrics_file->write(record);
  };
  TrainResult result;
  result.checkpoint = checkpoint_path;
  if (state.finished) {
    log::info("the checkpoint's run is already finished; nothing to train");
    result.steps = state.step;
    result.epochs = state.epoch;
    return result;
  }

  if (lead) log::info("pretraining: task ", config_.value("task", "?"), ", ", loader_.dataset().size(), " samples, batch ",
            batch_size * world, world > 1 ? " (" + std::to_string(world) + " ranks × " + std::to_string(batch_size) + ")" : std::string(), ", ", per_epoch, " steps/epoch, optimizer ", options_.optimizer.name, " peak lr ",
            schedule.peak_lr, ", ", runtime_.describe());

  task_->train();
  const auto start = Clock::now();
  auto last_progress = start;
  // On a terminal, a bar below the progress lines (which stay, every progress_seconds).
  Progress bar("pretraining", 0, "steps", 0);
  int64_t images = 0;
  int64_t tokens = 0;  // text batches only: their non-[PAD] ids
  int64_t step = state.step;
  const int64_t first_step = step;
  const bool planned_from_checkpoint = state.total_steps > 0;
  double calibration_start = 0;
  bool stop = false;
  double epoch_loss_sum = 0;
  int64_t epoch_loss_count = 0;
  int64_t consecutive_skips = 0;

  // What a failed run leaves: the checkpoint on disk is the last one written whole.
  auto kept_checkpoint = [&] {
    return std::filesystem::exists(checkpoint_path)
               ? "the last good checkpoint, " + checkpoint_path.string() + ", is unchanged"
               : std::string("no checkpoint was written yet");
  };
  auto last_save = Clock::now();
  int64_t epoch_step = 0;  // batches taken in the epoch in progress
  auto save = [&](bool finished, double knn_top1) {
    if (!lead) return;
    state.step = step;
    state.epoch_step = epoch_step >= per_epoch ? 0 : epoch_step;  // a finished epoch: the next starts at 0
    state.total_steps = total_steps;
    state.finished = finished;
    const bool best = knn_top1 > state.best_knn_top1;
    if (best) state.best_knn_top1 = knn_top1;
    try {
      save_checkpoint(checkpoint_path, *task_, &optimizer, state);
    } catch (const IoError& error) {
      throw IoError(std::string(error.what()) + " (at step " + std::to_string(step) + "); " + kept_checkpoint());
    }
    last_save = Clock::now();
    // Copies are hard links to the file just written: last.pt's next write renames a new file
    // over the name, and the linked copy keeps these bytes.
    if (best) link_checkpoint(checkpoint_path, options_.out_dir / "best.pt");
    if (options_.keep_checkpoints > 0) {
      link_checkpoint(checkpoint_path, options_.out_dir / "checkpoints" / ("step-" + std::to_string(step) + ".pt"));
      prune_checkpoints(options_.out_dir / "checkpoints", options_.keep_checkpoints);
    }
  };

  // A resumed run starts inside its epoch; the epochs after it start at their beginning.
  int64_t resume_skip = std::clamp<int64_t>(state.epoch_step, 0, per_epoch);
  for (int64_t epoch = state.epoch; !stop; ++epoch) {
    const int64_t skip = resume_skip;
    resume_skip = 0;
    epoch_step = skip;
    loader_.start_epoch(epoch, skip);
    epoch_loss_sum = 0;
    epoch_loss_count = 0;
    const auto epoch_start = Clock::now();
    while (auto batch = loader_.next()) {
      Batch on_device = batch->to(runtime_.device);
      // Labels go to the monitor only: the task sees every sample as unlabeled.
      const torch::Tensor labels = on_device.label;
      if (labels.defined()) on_device.label = torch::full_like(labels, -1);
      PretextTask::Output output;
      {
        AutocastGuard autocast(runtime_.device, runtime_.bf16);
        output = task_->step(on_device);
      }
      double loss = output.loss.item<double>();
      const double elapsed_before = seconds_since(start);
      bool signal_stop = stop_requested();
      bool budget_stop = options_.budget_minutes > 0 && elapsed_before > options_.budget_minutes * 60.0 * 1.02;
      if (world > 1) {
        // One small all-reduce: the mean loss (a NaN anywhere makes it NaN everywhere, so every
        // rank skips the same step) and any rank's wish to stop.
        torch::Tensor agreed = torch::tensor({loss, signal_stop ? 1.0 : 0.0, budget_stop ? 1.0 : 0.0}, torch::kDouble);
        group->all_reduce_sum(agreed);
        const double* sums = agreed.data_ptr<double>();
        loss = sums[0] / static_cast<double>(world);
        signal_stop = sums[1] > 0;
        budget_stop = sums[2] > 0;
      }
      // A NaN/Inf in the loss, or in the gradients of a finite loss, gets no update.
      std::string nonfinite;
      double grad_norm = 0;
      optimizer.zero_grad();
      if (!std::isfinite(loss)) {
        nonfinite = "the loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite");
      } else {
        reducer.prepare();
        output.loss.backward();
        reducer.finish();
        grad_norm = clip_grad_norm(parameters, options_.clip_grad_norm);
        if (!std::isfinite(grad_norm)) nonfinite = "the gradients became " + std::string(std::isnan(grad_norm) ? "NaN" : "infinite");
      }
      if (!nonfinite.empty()) {
        ++consecutive_skips;
        const std::string where = nonfinite + " at step " + std::to_string(step + 1) + " (epoch " + std::to_string(epoch + 1) + ")";
        if (options_.on_nonfinite == "stop" || consecutive_skips >= options_.max_consecutive_skips) {
          const std::string run_of = options_.on_nonfinite == "skip"
                                         ? " (" + std::to_string(consecutive_skips) + " steps in a row)" : "";
          throw TrainingError(where + run_of + "; " + kept_checkpoint() + ". Try a lower --lr/--base-lr, --clip-grad-norm 1.0" +
                              (options_.on_nonfinite == "stop" ? ", or --on-nonfinite skip." : "."));
        }
        ++state.skipped_steps;
        state.lr_scale *= 0.5;
        log::warn(where, ": step skipped, learning rate halved (", state.skipped_steps, " skipped so far)");
      } else {
        consecutive_skips = 0;
        optimizer.set_lr(schedule.lr_at(step) * state.lr_scale);
        optimizer.step();
      }
      ++step;
      ++epoch_step;
      images += batch->size() * world;
      if (batch->input.scalar_type() == torch::kLong) tokens += batch->input.ne(text::kPad).sum().item<int64_t>() * world;
      if (nonfinite.empty()) {
        epoch_loss_sum += loss;
        ++epoch_loss_count;
        task_->after_update(TrainState{step, total_steps, epoch});
      }

      // Budget mode: once a few steps are timed, fix the schedule's length to what fits; plan
      // again after longer windows, since the first steps run slower (allocations, caches).
      const int64_t taken = step - first_step;
      if (options_.epochs == 0 && options_.budget_minutes > 0 && !planned_from_checkpoint) {
        if (taken == kCalibrationSkip) calibration_start = seconds_since(start);
        const bool replan = std::find(std::begin(kReplanAt), std::end(kReplanAt), taken) != std::end(kReplanAt) ||
                            (taken > kReplanAt[2] && taken % kReplanEvery == 0 && step < total_steps * 9 / 10);
        if (replan) {
          const double per_step = (seconds_since(start) - calibration_start) / (taken - kCalibrationSkip);
          total_steps = std::max(step + 1, step + plan_total_steps(per_step, seconds_since(start)));
          if (world > 1) {  // rank 0's plan, so that every rank stops at the same step
            torch::Tensor planned = torch::tensor({total_steps}, torch::kLong);
            group->broadcast(planned, 0);
            total_steps = planned.item<int64_t>();
          }
          state.total_steps = total_steps;
          schedule.total_steps = total_steps;
          schedule.warmup_steps = warmup_for(total_steps);
          if (taken <= kReplanAt[2] && lead) log::info("budget ", options_.budget_minutes, " min at ", std::fixed, std::setprecision(0), per_step * 1000,
                    " ms/step → ", total_steps, " steps (", std::setprecision(1),
                    static_cast<double>(total_steps) / per_epoch, " epochs)");
        }
      }

      const bool logged = nonfinite.empty() && (step % options_.log_every_steps == 0 || step == total_steps);
      Stats monitored;
      if (monitor_ && nonfinite.empty()) monitored = monitor_->observe(step, output.embedding, output.embedding_pair, output.projection, labels, logged);
      const double elapsed = seconds_since(start);
      const double rate = images / std::max(elapsed, 1e-9);
      const double token_rate = tokens / std::max(elapsed, 1e-9);
      if (logged) {
        nlohmann::json record{{"step", step},       {"epoch", epoch + 1}, {"loss", loss},
                              {"lr", optimizer.lr()}, {"images_per_second", rate}, {"elapsed_s", elapsed}};
        if (tokens > 0) record["tokens_per_second"] = token_rate;
        if (options_.clip_grad_norm > 0) record["grad_norm"] = grad_norm;
        if (options_.on_nonfinite == "skip") record["skipped_steps"] = state.skipped_steps;
        for (const auto& [name, value] : output.stats) record[name] = value;
        for (const auto& [name, value] : monitored) record[name] = value;
        write_metrics(record);
      }
      if (lead && (std::chrono::duration<double>(Clock::now() - last_progress).count() >= options_.progress_seconds ||
                   step == first_step + 1)) {
        last_progress = Clock::now();
        const int64_t planned = total_steps > 0 ? total_steps : 0;
        const double eta = planned > 0 ? (planned - step) * elapsed / std::max<int64_t>(1, taken) : NAN;
        std::ostringstream line;
        line << "epoch " << epoch + 1 << " step " << step;
        if (planned > 0) line << "/" << planned;
        line << " loss " << std::fixed << std::setprecision(4) << loss << " lr " << std::setprecision(4)
             << optimizer.lr();
        for (const auto& [name, value] : output.stats) line << " " << name << " " << std::setprecision(3) << value;
        if (monitor_) {
          for (const auto& [name, value] : monitor_->latest()) {
            if (name == "online_linear_acc" || name == "knn_top1" || name == "effective_rank") {
              line << " " << name << " " << std::setprecision(3) << value;
            }
          }
        }
        line << " | " << std::setprecision(0) << rate;
        if (tokens > 0) {
          line << " seq/s, " << token_rate << " tokens/s";
        } else {
          line << " img/s";
        }
        line << " | ETA " << format_duration(eta);
        log::info(line.str());
      }
      if (lead && bar.due()) {
        bar.set_total(total_steps > 0 ? total_steps - first_step : 0);
        std::ostringstream detail;
        detail << "(epoch " << epoch + 1 << ", step " << step << ") loss " << std::fixed << std::setprecision(4) << loss;
        bar.update(step - first_step, detail.str());
      }

      if ((total_steps > 0 && step >= total_steps) || (options_.max_steps > 0 && step >= options_.max_steps)) {
        stop = true;
        break;
      }
      if (budget_stop) {
        if (lead) log::warn("the time budget (", options_.budget_minutes, " min) is spent; stopping at step ", step);
        stop = true;
        break;
      }
      if (signal_stop) {
        if (lead) log::warn("stop requested: saving a checkpoint at step ", step);
        result.interrupted = true;
        stop = true;
        break;
      }
      // Within a long epoch, a checkpoint every checkpoint_minutes (the epoch's end writes one anyway).
      if (options_.checkpoint_minutes > 0 && epoch_step < per_epoch &&
          std::chrono::duration<double>(Clock::now() - last_save).count() >= options_.checkpoint_minutes * 60.0) {
        state.epoch = epoch;
        save(false, -1.0);
      }
    }
    const bool epoch_complete = epoch_step >= per_epoch;
    state.epoch = epoch_complete ? epoch + 1 : epoch;
    // k-NN on schedule, and once more when training ends, so every run reports where it got to.
    const bool finishing = stop && !result.interrupted;
    Stats knn;
    double knn_top1 = -1;
    if (monitor_ && ((epoch_complete && monitor_->knn_due(epoch + 1)) || finishing)) {
      knn = monitor_->knn(*task_->encoder());  // extract_features restores the training mode
      for (const auto& [name, value] : knn) {
        if (name == "knn_top1") result.knn_top1 = knn_top1 = value;
        if (lead) log::info("epoch ", epoch + 1, " step ", step, ": k-NN top-1 ", std::fixed, std::setprecision(2),
                  100 * value, "%");
      }
    }
    if (epoch_complete) {
      result.epochs = epoch + 1;
      nlohmann::json record{{"event", "epoch"},
                            {"epoch", epoch + 1},
                            {"step", step},
                            {"loss", epoch_loss_count > 0 ? epoch_loss_sum / epoch_loss_count : NAN},
                            {"seconds", seconds_since(epoch_start)}};
      for (const auto& [name, value] : knn) record[name] = value;
      write_metrics(record);
    } else if (!knn.empty()) {
      nlohmann::json record{{"event", "final"}, {"epoch", epoch + 1}, {"step", step}};
      for (const auto& [name, value] : knn) record[name] = value;
      write_metrics(record);
    }
    save(stop && !result.interrupted, knn_top1);
  }
  result.steps = step;
  result.seconds = seconds_since(start);
  result.images_per_second = images / std::max(result.seconds, 1e-9);
  result.tokens_per_second = tokens / std::max(result.seconds, 1e-9);
  result.final_loss = epoch_loss_count > 0 ? epoch_loss_sum / epoch_loss_count : NAN;
  if (monitor_) {
    result.collapsed_steps = monitor_->collapsed_steps();
    if (result.collapsed_steps > 0) {
      log::warn("the representation looked collapsed at ", result.collapsed_steps,
                " logged steps (see 'collapsed', 'std_ratio' and 'effective_rank' in metrics.jsonl)");
    }
  }
  result.skipped_steps = state.skipped_steps;
  if (result.skipped_steps > 0) {
    log::warn(result.skipped_steps, " steps were skipped for a NaN/Inf loss or gradient; the learning rate ended at ",
              state.lr_scale, " of the schedule's");
  }
  result.peak_memory_mib = peak_memory_mib();
  result.world_size = world;
  result.communication_seconds = reducer.communication_seconds();
  if (world > 1) {
    // Every rank says what it holds: equal CRCs show the ranks stayed in step.
    log::info("rank ", group->rank(), " of ", world, ": parameters crc32 ", std::hex, std::setw(8), std::setfill('0'),
              weights_crc32(*task_, /*with_buffers=*/false), std::dec, std::setfill(' '), "; waited ", std::fixed, std::setprecision(1),
              result.communication_seconds, " s for gradient all-reduces (",
              std::setprecision(0), 100 * result.communication_seconds / std::max(result.seconds, 1e-9), "% of the run)");
  }
  if (!lead) return result;
  log::info("pretraining done: ", step, " steps in ", format_duration(result.seconds), ", ", std::fixed,
            std::setprecision(0), result.images_per_second,
            tokens > 0 ? " seq/s (" + std::to_string(std::llround(result.tokens_per_second)) + " tokens/s)" : " img/s",
            ", peak memory ", result.peak_memory_mib,
            " MiB, last loss ", std::setprecision(4), result.final_loss, "; checkpoint ", checkpoint_path.string());
  write_metrics({{"event", "done"},
                 {"step", step},
                 {"seconds", result.seconds},
                 {"images_per_second", result.images_per_second},
                 {"tokens_per_second", result.tokens_per_second},
                 {"peak_memory_mib", result.peak_memory_mib},
                 {"knn_top1", std::isnan(result.knn_top1) ? nlohmann::json(nullptr) : nlohmann::json(result.knn_top1)},
                 {"collapsed_steps", result.collapsed_steps},
                 {"skipped_steps", result.skipped_steps}});
  return result;
}

}  // namespace pretext
