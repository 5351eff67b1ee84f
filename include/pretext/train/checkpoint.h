// Checkpoints: self-describing and atomic. A checkpoint holds the config that built the run
// (task, its options, encoder, data normalisation), the task's weights (encoder included),
// the optimizer's state, the task's random-generator state and where training stood — enough
// for `--resume` to continue and for `evaluate` to need nothing but the file and labelled data.
// Written to a temporary file, flushed and renamed, so a crash leaves the previous one intact.
// A header line carries the archive's length and CRC-32: a truncated or altered file is refused
// with an error naming it, before any of it is loaded.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>

#include "pretext/models/encoder.h"
#include "pretext/tasks/task.h"
#include "pretext/train/optim.h"

namespace pretext {

constexpr int64_t kCheckpointFormatVersion = 1;

struct CheckpointState {
  nlohmann::json config;  // keys: task, task_options, encoder, preprocessing, data, train
  // Named binary files the run's inputs need, e.g. "tokenizer" (a SentencePiece model), so that
  // `evaluate` needs nothing but the checkpoint.
  std::map<std::string, std::string> assets;
  int64_t step = 0;            // optimizer steps taken
  int64_t epoch = 0;           // epoch in progress (or the next one, when epoch_done)
  int64_t total_steps = 0;     // planned at the time of writing
  bool finished = false;       // the run reached its end
  // --on-nonfinite skip: steps skipped for a NaN/Inf loss or gradient so far, and the factor
  // (halved at each skip) on the schedule's learning rate. Checkpoints without them read 0 and 1.
  int64_t skipped_steps = 0;
  double lr_scale = 1.0;
  double best_knn_top1 = -1;  // the monitor's best k-NN top-1 so far (best.pt's); -1 = none yet
  // The data-parallel ranks that wrote it, and the batches taken in the epoch in progress (-1 in
  // checkpoints written before: step - epoch × steps per epoch), so that --resume with another
  // world size can convert its steps.
  int64_t world_size = 1;
  int64_t epoch_step = -1;
};

// Throws IoError when the file cannot be written.
void save_checkpoint(const std::filesystem::path& path, PretextTask& task, Optimizer* optimizer,
                     const CheckpointState& state);

// Reads only the state and config. Throws InputError naming the file when it is missing, is not a
// pretext checkpoint, is truncated or fails its checksum, or has an unsupported format version.
CheckpointState read_checkpoint_state(const std::filesystem::path& path);

// Restores the task's weights, generator and (if given) the optimizer's state for --resume.
// Throws InputError naming the file and the mismatch (another task or encoder).
CheckpointState load_checkpoint(const std::filesystem::path& path, PretextTask& task, Optimizer* optimizer);

// Rebuilds the checkpoint's encoder and loads its weights; `state` receives the config.
// `overrides` (a JSON merge patch on the encoder config) may change what does not touch the
// weights, such as a text encoder's pooling. Throws InputError naming the file when it holds no
// encoder of that configuration.
EncoderPtr load_encoder(const std::filesystem::path& path, CheckpointState* state = nullptr,
                        const nlohmann::json& overrides = nlohmann::json::object());

// CRC-32 of a module's parameters and buffers (names, shapes and values, in registration order):
// equal for bit-identical weights. `pretext inspect` prints it for a checkpoint's encoder.
// Without buffers it covers what the ranks of a data-parallel run share (each rank's batch-norm
// running statistics follow its own batches; rank 0's are the ones checkpointed).
uint32_t weights_crc32(const torch::nn::Module& module, bool with_buffers = true);

}  // namespace pretext
