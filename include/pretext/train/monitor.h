// Online monitoring while a pretext task trains: how good is the representation right now?
//   - representation health of every logged step's embeddings (see eval/health.h), with a
//     warning when it collapses;
//   - an online linear classifier trained on the side on detached embeddings, where the data has
//     labels (the labels reach only this classifier, never the pretext loss);
//   - k-NN top-1 every N epochs: a labelled bank and held-out queries through the frozen encoder.
// Requires: embeddings from PretextTask::Output. Guarantees: nothing here changes the task's
// parameters or its random streams; monitoring costs a few percent of a step.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pretext/core/runtime.h"
#include "pretext/data/dataset.h"
#include "pretext/eval/health.h"
#include "pretext/eval/protocols.h"
#include "pretext/models/encoder.h"

namespace pretext {

using Stats = std::vector<std::pair<std::string, double>>;

struct MonitorOptions {
  bool online_probe = true;        // the online linear classifier, when labels exist
  double online_probe_lr = 1e-3;   // Adam on batch-normalised embeddings
  int64_t knn_every_epochs = 1;    // 0 = never; also measured when training stops
  int64_t knn_bank_size = 5000;    // labelled training samples the queries vote from
  int64_t knn_queries = 1000;      // test samples (or held-out training samples)
  CollapseThresholds collapse;

  void validate() const;  // ConfigError naming the option
  nlohmann::json to_json() const;
};

// The labelled data the k-NN monitor uses; both empty = no k-NN.
struct KnnMonitorData {
  DatasetPtr bank;
  DatasetPtr queries;
  PreprocessorPtr preprocessor;
};

// Picks a seeded bank from `train` and queries from `test` (or, without a test set, from the
// rest of `train`). Returns empty data when `train` has no labels.
KnnMonitorData make_knn_monitor_data(const DatasetPtr& train, const DatasetPtr& test, const MonitorOptions& options,
                                     PreprocessorPtr preprocessor, uint64_t seed);

class Monitor {
 public:
  // num_classes = 0 turns the online classifier off.
  Monitor(MonitorOptions options, int64_t num_classes, KnnMonitorData knn, Runtime runtime);

  // Every step: trains the online classifier on (embedding, labels) where labels ≥ 0. With
  // `measure` (a logged step), also returns health stats (of the embedding, and as head_* of the
  // task's projection when given) and the classifier's accuracy over the steps since the last
  // measure, and warns (rate-limited) when either collapsed.
  Stats observe(int64_t step, const torch::Tensor& embedding, const torch::Tensor& embedding_pair,
                const torch::Tensor& projection, const torch::Tensor& labels, bool measure);
  // k-NN top-1 of `encoder` now, when k-NN data was given (else empty stats).
  Stats knn(Encoder& encoder);
  bool knn_due(int64_t epochs_done) const;
  // The last measured values (for the progress line).
  const Stats& latest() const { return latest_; }
  int64_t collapsed_steps() const { return collapsed_steps_; }

 private:
  MonitorOptions options_;
  int64_t num_classes_;
  KnnMonitorData knn_data_;
  Runtime runtime_;
  torch::nn::Sequential probe_{nullptr};
  std::unique_ptr<torch::optim::Adam> probe_optimizer_;
  double correct_ = 0;
  double seen_ = 0;
  Stats latest_;
  int64_t collapsed_steps_ = 0;
  int64_t last_warning_step_ = -1;
};

}  // namespace pretext
