// Pretraining from a config: load the data (train/inputs.h: images or text; the tokenizer is
// trained here for text), withhold its labels from the task, build the task and its encoder by
// name, and train. The one call behind `pretext pretrain` and the first half of `pretext demo`.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "pretext/train/inputs.h"
#include "pretext/train/trainer.h"

namespace pretext {

struct PretrainConfig {
  std::string data = "fashion-mnist";  // a dataset name or a path
  InputOptions inputs;
  std::string task = "simclr";
  nlohmann::json task_options = nlohmann::json::object();
  EncoderConfig encoder;  // the data's fields (channels and size, or vocabulary and length) are filled in
  int64_t batch_size = 256;
  int64_t prefetch = 2;
  TrainerOptions trainer;
  MonitorOptions monitor;  // online probe and k-NN use the data's labels when it has them
  uint64_t seed = 0;
};

struct PretrainResult {
  TrainResult train;
  nlohmann::json config;  // as stored in the checkpoint
};

// Throws InputError/ConfigError naming what is wrong before any training starts.
PretrainResult run_pretraining(const PretrainConfig& config, const Runtime& runtime);

}  // namespace pretext
