// PretextTask: the self-made problem. What it represents: a way to make inputs and answers
// from unlabeled data (two views of one image, a rotation and its angle, …) and the loss that
// scores the network's answers. It owns the encoder as a submodule ("encoder") and whatever
// else the method needs (projector, predictor, momentum encoder, queue).
// Requires: batches from a Loader (raw uint8 images for image tasks).
// Guarantees: step() returns a scalar loss with a graph to the task's parameters, and named
// statistics; all randomness goes through generator(), which checkpoints save and restore.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pretext/augment/image.h"
#include "pretext/core/process_group.h"
#include "pretext/core/registry.h"
#include "pretext/data/batch.h"
#include "pretext/models/encoder.h"

namespace pretext {

// Where training is, for tasks whose updates follow a schedule (momentum encoders, centres).
struct TrainState {
  int64_t step = 0;         // optimizer steps taken so far (after this update)
  int64_t total_steps = 1;  // planned for the run
  int64_t epoch = 0;
  double progress() const { return total_steps > 0 ? static_cast<double>(step) / total_steps : 1.0; }
};

// What a task factory gets: the encoder to build, the task's own options, the data's shape
// and normalisation, the device and a seed.
struct TaskContext {
  EncoderConfig encoder;
  nlohmann::json options = nlohmann::json::object();  // the task's options (unknown keys are errors)
  std::vector<double> mean;                           // per-channel normalisation of the data
  std::vector<double> std;
  torch::Device device = torch::kCPU;
  uint64_t seed = 0;
  // The data-parallel ranks: a task whose loss compares samples (negatives, batch statistics)
  // computes it over the global batch with all_gather_with_grad (core/process_group.h).
  ProcessGroupPtr group = single_process_group();
  // The run's preprocessing (Preprocessor::to_json): audio tasks read its log-mel front end,
  // video tasks its clip length, so that pretraining and evaluation prepare inputs alike.
  nlohmann::json preprocessing = nlohmann::json::object();
};

class PretextTask : public torch::nn::Module {
 public:
  struct Output {
    torch::Tensor loss;
    std::vector<std::pair<std::string, double>> stats;
    // The encoder's representation [B, dim] of the batch's first view, detached; and of the
    // second view of the same images where the method has one. The Trainer's monitors read them
    // (representation health, the online linear classifier); they may be left undefined.
    torch::Tensor embedding;
    torch::Tensor embedding_pair;
    // The head's output for the first view — the vectors the loss compares (projection,
    // prediction, prototype scores), detached. A method can collapse there while the encoder's
    // embedding still varies (SimSiam without stop-gradient: the head turns constant and the encoder
    // stops receiving gradient), so the health monitor watches it too. May be left undefined.
    torch::Tensor projection;
  };

  PretextTask(const std::string& name, uint64_t seed);

  // Makes this batch's inputs and targets and returns the loss.
  virtual Output step(const Batch& batch) = 0;
  // Called after every optimizer update (momentum/EMA, queues, centres).
  virtual void after_update(const TrainState& state) {}
  virtual EncoderPtr encoder() const = 0;
  // The options actually in force (defaults filled in), stored in checkpoints.
  virtual nlohmann::json options_json() const = 0;

  torch::Generator& generator() { return generator_; }
  // The data-parallel ranks this task trains with (make_task sets them from TaskContext::group).
  const ProcessGroupPtr& process_group() const { return group_; }
  void set_process_group(ProcessGroupPtr group) { group_ = std::move(group); }

 protected:
  // Moves an image tensor to channels-last when the encoder prefers it.
  torch::Tensor prepare_for_encoder(const torch::Tensor& x) const;
  // Every rank's rows of `x` in rank order, with gradient: a loss computed on the result is the
  // loss of the global batch (negatives, batch statistics). `x` itself with one rank.
  torch::Tensor gather_global(const torch::Tensor& x) const { return all_gather_with_grad(x, group_); }

 private:
  torch::Generator generator_;
  ProcessGroupPtr group_ = single_process_group();
};

// Fills what the task's augmentation options leave open from the context — output size = the
// encoder's image size, mean/std = the data's — and validates them.
ImageAugmentOptions fit_augment_to_data(ImageAugmentOptions options, const TaskContext& context);

using TaskPtr = std::shared_ptr<PretextTask>;
using TaskFactory = std::function<TaskPtr(const TaskContext&)>;

// The tasks known by name; built-ins (simclr, rotation) are registered on first use.
Registry<TaskFactory>& task_registry();
// Throws ConfigError for an unknown name (listing the known ones) or bad options.
TaskPtr make_task(const std::string& name, const TaskContext& context);

// Registers a user's task at static-initialisation time:
//   static pretext::TaskRegistrar jigsaw("jigsaw", make_jigsaw, "solve 2×2 jigsaw puzzles");
struct TaskRegistrar {
  TaskRegistrar(const std::string& name, TaskFactory factory, const std::string& description);
};

}  // namespace pretext
