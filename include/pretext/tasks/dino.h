// DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers"):
// self-distillation with no labels. A student network (encoder + DINO head) sees every crop of
// a multi-crop set; a teacher — an EMA of the student, not trained by gradients — sees only the
// global crops; the student learns to predict the teacher's sharpened, centred distribution over
// K prototypes for every pair of different crops. Centring and sharpening together keep the
// teacher from collapsing (to one prototype, or to the uniform distribution).
#pragma once

#include <vector>

#include "pretext/augment/multicrop.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct DINOOptions {
  // Head (paper §3.1 and appendix): a 3-layer MLP (hidden 2048, GELU, no BatchNorm), a 256-d
  // bottleneck, l2 normalisation, then a weight-normalised linear layer to K prototypes.
  int64_t head_hidden_dim = 2048;
  int64_t head_bottleneck_dim = 256;
  int64_t head_layers = 3;
  bool head_batch_norm = false;  // the official code's use_bn_in_head default (off for ViTs)
  // K: 65536 on ImageNet; 4096 as solo-learn's CIFAR recipe, in proportion to small data sets
  // and CPU budgets (the prototype layer is D_bottleneck × K per crop).
  int64_t prototypes = 4096;
  // The prototype layer's weight norm fixed at 1 (official norm_last_layer = true): each logit
  // is a cosine similarity, which keeps training stable. false = the norms are trained too.
  bool norm_last_layer = true;
  // The prototype layer gets no gradient during the first epoch(s) (paper appendix: "freezing
  // the last layer during the first epoch" helps stability). 0 = never frozen.
  int64_t freeze_last_layer_epochs = 1;

  double student_temperature = 0.1;  // τ_s (paper §3.1)
  // τ_t, linearly warmed up from teacher_temperature_start to teacher_temperature over the first
  // teacher_temperature_warmup of the run (the paper: 0.04 → 0.07 over 30 epochs; 0.1 = 30 of
  // its 300-epoch schedule, as a fraction because our runs are measured in steps, not epochs).
  double teacher_temperature = 0.07;
  double teacher_temperature_start = 0.04;
  double teacher_temperature_warmup = 0.1;
  // Teacher EMA momentum λ, cosine-scheduled from this to 1 (paper §3.1: 0.996 → 1).
  double teacher_momentum = 0.996;
  // Centre c ← m·c + (1 − m)·mean of the teacher's outputs over the batch (paper eq. 4, m = 0.9).
  double centre_momentum = 0.9;

  MultiCropOptions multicrop;  // 2 global + 6 local crops; sizes and normalisation from the data

  // Keys = the field names; a "multicrop" object overrides single fields of its defaults.
  static DINOOptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
  // τ_t at a point of the run (progress in [0, 1]).
  double teacher_temperature_at(double progress) const;
};

// The projection head: MLP → l2-normalise → weight-normalised linear layer to K logits.
class DINOHeadImpl : public torch::nn::Module {
 public:
  explicit DINOHeadImpl(int64_t in_dim, const DINOOptions& options);
  // x [N, in_dim] → logits [N, K]. With freeze_prototypes the prototype layer gets no gradient.
  // The prototype layer runs in float32 with autocast off (its cosines are divided by τ_t ≈ 0.04).
  torch::Tensor forward(const torch::Tensor& x, bool freeze_prototypes = false);

 private:
  torch::nn::Sequential mlp_{nullptr};
  torch::Tensor prototype_directions_;  // V [K, bottleneck]: W = g · V / ‖V‖ row-wise
  torch::Tensor prototype_norms_;       // g [K, 1]; undefined when norm_last_layer (g ≡ 1)
};
TORCH_MODULE(DINOHead);

// The DINO loss (paper Algorithm 1 / eq. 3): for every teacher crop t (global crops, index i)
// and student crop s (index v ≠ i; globals first, so index i is the same crop), the
// cross-entropy H(P_t, P_s) = −Σ_k P_t,k log P_s,k averaged over the batch, with
// P_t = softmax((t − centre)/τ_t) (no gradient) and log P_s = log_softmax(s/τ_s); averaged over
// all such pairs. Returns {loss, mean entropy of P_t (detached)}. float32, autocast off.
std::pair<torch::Tensor, torch::Tensor> dino_loss(const std::vector<torch::Tensor>& student_logits,
                                                  const std::vector<torch::Tensor>& teacher_logits,
                                                  const torch::Tensor& centre, double student_temperature,
                                                  double teacher_temperature);

// Paper eq. 4: momentum·centre + (1 − momentum)·(mean of teacher_logits [N, K] over N).
torch::Tensor updated_centre(const torch::Tensor& centre, const torch::Tensor& teacher_logits, double momentum);

class DINOTask : public PretextTask {
 public:
  DINOTask(const TaskContext& context, DINOOptions options);
  // Stats: teacher_temperature, teacher_entropy (→ 0 when the teacher collapses to one
  // prototype, → log K when to the uniform distribution).
  Output step(const Batch& batch) override;
  // Teacher EMA (cosine momentum) and the centre update, after each optimizer step.
  void after_update(const TrainState& state) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

  const torch::Tensor& centre() const { return centre_; }
  const EncoderPtr& teacher_encoder() const { return teacher_encoder_; }
  const DINOHead& head() const { return head_; }
  const DINOHead& teacher_head() const { return teacher_head_; }
  // The TrainState of the last after_update (step 0 before any), kept in checkpoints.
  TrainState train_state() const;

 private:
  DINOOptions options_;
  MultiCrop multicrop_;
  EncoderPtr encoder_;
  DINOHead head_{nullptr};
  EncoderPtr teacher_encoder_;
  DINOHead teacher_head_{nullptr};
  torch::Tensor centre_;           // buffer [K]
  torch::Tensor train_state_;      // buffer int64 [3]: step, total_steps, epoch
  torch::Tensor pending_centre_;   // the last step's teacher batch mean, applied in after_update
};

}  // namespace pretext
