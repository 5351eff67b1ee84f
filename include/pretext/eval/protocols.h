// Downstream protocols: how a pretrained encoder is judged on a task with few labels.
//   knn      — frozen features, cosine k-NN with temperature-weighted votes (Wu et al. 2018)
//   linear   — frozen features (computed once), a linear classifier trained on top
//   finetune — the encoder plus a 1–2 layer head trained end to end, the encoder at a lower lr
//   scratch  — the same network, labels and augmentation as finetune, from random weights:
//              the baseline that self-supervision must beat
// Same seeds → same numbers (on the same machine and thread count).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "pretext/augment/preprocess.h"
#include "pretext/core/runtime.h"
#include "pretext/data/dataset.h"
#include "pretext/eval/metrics.h"
#include "pretext/models/encoder.h"

namespace pretext {

// Features of every sample of `dataset` from a frozen encoder (eval mode, no augmentation):
// float32 [N, dim] on the CPU, in dataset order.
torch::Tensor extract_features(Encoder& encoder, const Dataset& dataset, const Preprocessor& preprocessor,
                               const Runtime& runtime, int64_t batch_size = 512);

// A 2-D map of a dataset's frozen features, for the report: the first two principal components
// of up to `max_points` samples taken evenly through the set. Returns {"method": "pca",
// "explained": [share of variance of each axis], "points": [[x, y, label], …]}.
nlohmann::json embedding_map(Encoder& encoder, const DatasetPtr& dataset, const Preprocessor& preprocessor,
                             const Runtime& runtime, int64_t max_points = 2000);

// Defaults as DINO's k-NN evaluation (Caron et al. 2021): k = 20, τ = 0.07. InstDisc's k = 200
// smooths over too many neighbours on small-image data: 80.4% vs 84.5% top-1 on one Fashion-MNIST
// SimCLR checkpoint here.
struct KnnOptions {
  int64_t k = 20;             // neighbours (clamped to the number of labelled samples)
  double temperature = 0.07;  // votes weighted by exp(cosine / temperature)
  void validate() const;
};
// Predicted classes int64 [M] for query features given labelled features (cosine similarity).
torch::Tensor knn_predict(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                          const torch::Tensor& query_features, int64_t num_classes, const KnnOptions& options);

struct LinearProbeOptions {
  int64_t epochs = 100;
  int64_t batch_size = 256;
  double lr = 1e-3;           // AdamW on standardised features
  double weight_decay = 5e-4;
  uint64_t seed = 0;
  void validate() const;
};
// A linear classifier on standardised features: logits = weight · (f − mean) / std + bias.
struct LinearProbe {
  torch::Tensor mean, std;      // [1, dim]
  torch::Tensor weight, bias;   // [classes, dim], [classes]
  torch::Tensor predict(const torch::Tensor& features) const;
};
LinearProbe train_linear_probe(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                               int64_t num_classes, const LinearProbeOptions& options);
// Trains a linear classifier on (features, labels) and returns predictions for the queries.
torch::Tensor linear_probe_predict(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                                   const torch::Tensor& query_features, int64_t num_classes,
                                   const LinearProbeOptions& options);

struct FinetuneOptions {
  int64_t epochs = 20;
  int64_t min_steps = 300;      // at least this many steps, however few the labels
  int64_t max_steps = 0;        // at most (0 = no cap)
  int64_t batch_size = 128;
  double lr = 1e-3;             // head learning rate (AdamW), cosine-decayed
  double encoder_lr_scale = 0.1;  // the encoder's lr = lr × this (1 for the scratch baseline)
  double weight_decay = 5e-4;
  int64_t head_layers = 1;      // 1 = Linear; 2 = Linear-BN-ReLU-Linear
  int64_t head_hidden_dim = 512;
  uint64_t seed = 0;
  void validate() const;
};
// Trains `encoder` (in place) with a new head on the labelled set, with the preprocessor's
// label-preserving augmentation, and returns predictions for the test set. The caller passes a pretrained encoder (finetune) or a fresh one (scratch).
// With `initial_head` (a linear probe on the same encoder's frozen features) and a 1-layer head,
// fine-tuning starts from that probe — LP-FT (Kumar et al. 2022): a random head's first large
// gradients would otherwise disturb the pretrained features before the head is any good.
torch::Tensor finetune_predict(Encoder& encoder, const Dataset& labelled, const Dataset& test,
                               int64_t num_classes, const Preprocessor& preprocessor,
                               const FinetuneOptions& options, const Runtime& runtime,
                               const LinearProbe* initial_head = nullptr);

}  // namespace pretext
