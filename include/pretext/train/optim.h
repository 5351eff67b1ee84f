// Optimizers and the learning-rate schedule.
// make_optimizer() builds SGD (momentum), LARS or AdamW over a model's parameters, with biases and
// normalisation parameters (1-D tensors) in a group without weight decay — and, for LARS,
// without trust-ratio adaptation — as SimCLR and BYOL do.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

namespace pretext {

struct OptimizerOptions {
  std::string name = "lars";  // sgd | lars | adamw
  double lr = 0.0;            // peak learning rate; 0 = base_lr × batch_size / 256
  double base_lr = 0.3;       // SimCLR: 0.3 × batch/256 with LARS
  double weight_decay = 1e-6;
  double momentum = 0.9;
  double lars_trust = 0.001;  // η in You et al. 2017, eq. 6
  double beta1 = 0.9, beta2 = 0.999;

  void validate() const;  // ConfigError naming the field
  nlohmann::json to_json() const;
  // The peak learning rate for a batch size (lr when set, else the linear scaling rule).
  double peak_lr(int64_t batch_size) const;
};

// An optimizer plus the LARS pre-step when asked for. step() applies both.
class Optimizer {
 public:
  Optimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named_parameters, const OptimizerOptions& options,
            double initial_lr);
  void zero_grad();
  void step();
  void set_lr(double lr);
  double lr() const { return lr_; }
  torch::optim::Optimizer& torch_optimizer() { return *optimizer_; }

 private:
  OptimizerOptions options_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> adapted_;  // parameters LARS rescales (weights, not biases/norms)
  double lr_ = 0.0;
};

// Linear warm-up then cosine decay to final_fraction × peak (Loshchilov & Hutter 2017; SimCLR).
struct Schedule {
  double peak_lr = 0.1;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double final_fraction = 0.0;
  double lr_at(int64_t step) const;
};

// Scales all gradients so that their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm);

}  // namespace pretext
