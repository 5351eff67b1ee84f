// MoCo, momentum contrast, in two versions.
//
// MoCo v2 (He et al. 2020, "Momentum Contrast for Unsupervised Visual Representation Learning";
// Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning"): a query encoder +
// 2-layer MLP projector, a key encoder + projector that follow it as a momentum (EMA) copy, and
// a queue of the last K keys as negatives. InfoNCE (MoCo eq. 1) pulls a query towards the key of
// another view of its image and away from the queue; after the loss the batch's keys are
// enqueued, the oldest dequeued.
//
// MoCo v3 (Chen, Xie & He 2021, "An Empirical Study of Training Self-Supervised Vision
// Transformers"): no queue. Query encoder + 3-layer projector + 2-layer predictor; a momentum
// key encoder + projector; a symmetrized contrastive loss with the batch's other keys as
// negatives, ctr(q1, k2) + ctr(q2, k1), each scaled by 2τ (the paper's algorithm 1).
//
// Requires: uint8 images. Guarantees: the key networks' parameters never require gradients;
// after after_update() they moved towards the query networks by (1 − m) (stat "momentum");
// the queue and its pointer are buffers, so checkpoints carry them.
#pragma once

#include <utility>

#include "pretext/augment/image.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/byol.h"
#include "pretext/tasks/task.h"

namespace pretext {

// ---------------------------------------------------------------------------------------------
// MoCo v2

struct MoCoOptions {
  // The defaults are the official MoCo CIFAR-10 demo's (facebookresearch/moco, colab notebook
  // moco_cifar10_demo): the recipe the authors give for small images.
  double temperature = 0.1;   // τ: demo moco_t 0.1 (MoCo v2 on ImageNet: 0.2)
  int64_t queue_size = 4096;  // K: demo moco_k 4096 (its notes: accuracy saturates at 4096)
  double momentum = 0.99;     // m: demo moco_m 0.99 (ImageNet: 0.999)
  // MoCo keeps m constant; true ramps it from `momentum` to 1 with BYOL's cosine schedule.
  bool momentum_cosine = false;
  // false: the papers' loss — view 1 is the query, view 2 the key. true: also view 2 as the
  // query against view 1's key, the two losses averaged (solo-learn's MoCo v2+ and the demo's
  // option); it costs twice the compute per step and, per the demo's notes, behaves like twice
  // the epochs. The default keeps the papers' loss and the cost of a step.
  bool symmetric = false;
  // Shuffle-BN (MoCo §3.3): with BatchNorm, a query and its positive key normalised with the
  // same batch statistics let the model find the positive from those statistics instead of the
  // image ("cheating": the pretext accuracy rises while the features stay poor). With one
  // device we do what the demo's SplitBatchNorm does: the batch is cut into bn_splits parts
  // that each go through the encoder alone (as on bn_splits devices), and the keys' batch is
  // shuffled first, so a query and its key are normalised with different subsets.
  // Demo: bn_splits 8. 1 = one part (no protection; only for encoders without BatchNorm).
  int64_t bn_splits = 8;
  // Projector: Linear → ReLU → Linear, no BatchNorm (MoCo v2 §2: 2048-d hidden for ResNet-50's
  // 2048-d features, 128-d output). 0 = the encoder's dim.
  int64_t projector_hidden_dim = 0;
  int64_t projector_out_dim = 128;
  // The demo's CIFAR augmentation: crop area 0.08–1, flip, colour jitter (0.4, 0.4, 0.4, 0.1)
  // with p 0.8, greyscale p 0.2, no blur (MoCo v2's blur is for 224-pixel images).
  ImageAugmentOptions augment = default_augment();

  static ImageAugmentOptions default_augment();
  // Keys = the field names; "augment" overrides single fields of its defaults.
  static MoCoOptions from_json(const nlohmann::json& values);  // throws ConfigError
  nlohmann::json to_json() const;
};

// InfoNCE with a queue (MoCo eq. 1): for each query q_i [B,D] the positive key k_i [B,D] against
// the negatives `queue` [K,D]: −log exp(q·k₊/τ) / (exp(q·k₊/τ) + Σ_j exp(q·n_j/τ)), averaged
// over the batch. q and k are l2-normalised here; the queue is used as given (it holds
// normalised keys); keys and queue get no gradient. float32. Returns {loss, accuracy: how often
// the positive scores above every negative}.
std::pair<torch::Tensor, torch::Tensor> moco_infonce_loss(const torch::Tensor& queries, const torch::Tensor& keys,
                                                          const torch::Tensor& queue, double temperature);

// The queue update (MoCo algorithm 1, enqueue + dequeue): writes `keys` [N,D] into the ring
// buffer `queue` [K,D] from position pointer[0] on, wrapping around, and advances the pointer by
// N mod K, so the oldest entries are replaced first (FIFO). With N > K only the last K keys
// stay. In place, no gradient.
void enqueue_keys(torch::Tensor& queue, torch::Tensor& pointer, const torch::Tensor& keys);

class MoCoTask : public PretextTask {
 public:
  MoCoTask(const TaskContext& context, MoCoOptions options);
  // Stats: contrastive_acc (positive above all negatives), momentum. Output.embedding_pair is
  // the key encoder's representation of view 2 when not symmetric (the step computes no
  // query-encoder pass on view 2 then; the key encoder is the query encoder's moving average).
  Output step(const Batch& batch) override;
  void after_update(const TrainState& state) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

  const EncoderPtr& key_encoder() const { return key_encoder_; }
  const MLP& projector() const { return projector_; }
  const MLP& key_projector() const { return key_projector_; }
  const torch::Tensor& queue() const { return queue_; }
  int64_t queue_pointer() const { return queue_pointer_.item<int64_t>(); }
  double momentum() const { return momentum_; }

 private:
  MoCoOptions options_;
  ImageAugment augment_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
  EncoderPtr key_encoder_;
  MLP key_projector_{nullptr};
  torch::Tensor queue_;          // buffer float [K, D], l2-normalised keys
  torch::Tensor queue_pointer_;  // buffer int64 [1]: where the next key goes
  double momentum_;
};

// ---------------------------------------------------------------------------------------------
// MoCo v3

struct MoCoV3Options {
  // τ = 0.2: the paper's ViT setting (§4, the official CONFIG.md ViT recipes) and solo-learn's
  // CIFAR mocov3.yaml (the official ResNet-50 recipe uses 1.0).
  double temperature = 0.2;
  // m, cosine-ramped to 1 (paper §4 and the official --moco-m-cos recipes; base 0.99 as the
  // paper's and solo-learn's CIFAR base_tau).
  double momentum = 0.99;
  bool momentum_cosine = true;
  // Projector: 3 layers (paper §4 "the projection head is a 3-layer MLP"; the official ResNet
  // code uses 2), predictor 2 layers; 4096 hidden, 256 out; every hidden layer Linear → BN →
  // ReLU, no biases; BN without affine on the projector's output (official _build_mlp).
  int64_t projector_layers = 3;
  int64_t projector_hidden_dim = 4096;
  int64_t projector_out_dim = 256;
  int64_t predictor_hidden_dim = 4096;
  // The official code ends the predictor with BN for ViTs but not for ResNets; our default
  // encoders are convolutional.
  bool predictor_last_batch_norm = false;
  // BYOL's asymmetric views (the paper follows BYOL's augmentation), small-image strength.
  ViewPairAugmentOptions augment = ViewPairAugmentOptions::byol_defaults();

  // Keys = the field names; "augment", "augment_view1", "augment_view2" as for BYOL.
  static MoCoV3Options from_json(const nlohmann::json& values);  // throws ConfigError
  nlohmann::json to_json() const;
};

// MoCo v3's ctr(q, k) (paper algorithm 1): q, k [B,D] l2-normalised here; logits q·kᵀ/τ, the
// positive on the diagonal, the other keys of the batch as negatives; cross-entropy averaged
// over the batch, times 2τ. k gets no gradient. float32. Returns {loss, accuracy}.
std::pair<torch::Tensor, torch::Tensor> mocov3_contrastive_loss(const torch::Tensor& queries,
                                                                const torch::Tensor& keys, double temperature);

class MoCoV3Task : public PretextTask {
 public:
  MoCoV3Task(const TaskContext& context, MoCoV3Options options);
  // Loss ctr(q1, k2) + ctr(q2, k1). Stats: contrastive_acc (both directions), momentum.
  Output step(const Batch& batch) override;
  void after_update(const TrainState& state) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

  const EncoderPtr& key_encoder() const { return key_encoder_; }
  const MLP& projector() const { return projector_; }
  const MLP& key_projector() const { return key_projector_; }
  double momentum() const { return momentum_; }

 private:
  MoCoV3Options options_;
  ImageAugment augment1_;
  ImageAugment augment2_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
  MLP predictor_{nullptr};
  EncoderPtr key_encoder_;
  MLP key_projector_{nullptr};
  double momentum_;
};

}  // namespace pretext
