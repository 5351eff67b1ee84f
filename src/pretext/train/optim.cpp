#include "pretext/train/optim.h"

#include <cmath>

#include "pretext/core/error.h"

namespace pretext {

void OptimizerOptions::validate() const {
  PRETEXT_CHECK(name == "sgd" || name == "lars" || name == "adamw", ConfigError, "--optimizer: unknown value '", name,
                "' (expected sgd, lars or adamw)");
  PRETEXT_CHECK(lr >= 0 && std::isfinite(lr), ConfigError, "--lr must be >= 0, got ", lr);
  PRETEXT_CHECK(base_lr > 0 && std::isfinite(base_lr), ConfigError, "--base-lr must be > 0, got ", base_lr);
  PRETEXT_CHECK(weight_decay >= 0, ConfigError, "--weight-decay must be >= 0, got ", weight_decay);
  PRETEXT_CHECK(momentum >= 0 && momentum < 1, ConfigError, "--momentum must be in [0,1), got ", momentum);
  PRETEXT_CHECK(beta1 >= 0 && beta1 < 1, ConfigError, "AdamW beta1 must be in [0,1), got ", beta1);
  PRETEXT_CHECK(beta2 >= 0 && beta2 < 1, ConfigError, "--adam-beta2 must be in [0,1), got ", beta2);
  PRETEXT_CHECK(lars_trust > 0, ConfigError, "lars_trust must be > 0, got ", lars_trust);
}

nlohmann::json OptimizerOptions::to_json() const {
  return {{"name", name},         {"lr", lr},           {"base_lr", base_lr}, {"weight_decay", weight_decay},
          {"momentum", momentum}, {"lars_trust", lars_trust}, {"beta1", beta1},     {"beta2", beta2}};
}

double OptimizerOptions::peak_lr(int64_t batch_size) const {
  return lr > 0 ? lr : base_lr * static_cast<double>(batch_size) / 256.0;
}

Optimizer::Optimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named_parameters,
                     const OptimizerOptions& options, double initial_lr)
    : options_(options), lr_(initial_lr) {
  options_.validate();
  std::vector<torch::Tensor> decayed, plain;
  for (const auto& [name, parameter] : named_parameters) {
    if (!parameter.requires_grad()) continue;
    (parameter.dim() > 1 ? decayed : plain).push_back(parameter);
  }
  adapted_ = decayed;
  if (options_.name == "adamw") {
    auto with_decay = std::make_unique<torch::optim::AdamWOptions>(initial_lr);
    with_decay->betas({options_.beta1, options_.beta2}).weight_decay(options_.weight_decay);
    auto without_decay = std::make_unique<torch::optim::AdamWOptions>(*with_decay);
    without_decay->weight_decay(0.0);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decayed, std::move(with_decay));
    groups.emplace_back(plain, std::move(without_decay));
    optimizer_ = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(initial_lr));
  } else {
    // LARS is SGD with momentum on a gradient that the pre-step has already rescaled and to which
    // it has added the weight decay (You et al. 2017, Algorithm 1), so SGD itself gets none for
    // the adapted group.
    const bool lars = options_.name == "lars";
    auto with_decay = std::make_unique<torch::optim::SGDOptions>(initial_lr);
    with_decay->momentum(options_.momentum).weight_decay(lars ? 0.0 : options_.weight_decay);
    auto without_decay = std::make_unique<torch::optim::SGDOptions>(*with_decay);
    without_decay->weight_decay(0.0);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decayed, std::move(with_decay));
    groups.emplace_back(plain, std::move(without_decay));
    optimizer_ = std::make_unique<torch::optim::SGD>(std::move(groups), torch::optim::SGDOptions(initial_lr));
  }
}

void Optimizer::zero_grad() {
  // LibTorch 2.x sets gradients to None by default, 1.13 zeroes them: both are fine here, since
  // step() skips parameters whose gradient is undefined.
  optimizer_->zero_grad();
}

void Optimizer::step() {
  if (options_.name == "lars") {
    torch::NoGradGuard no_grad;
    for (auto& parameter : adapted_) {
      if (!parameter.grad().defined()) continue;
      auto grad = parameter.grad();
      if (options_.weight_decay > 0) grad.add_(parameter, options_.weight_decay);
      auto weight_norm = parameter.norm();
      auto grad_norm = grad.norm();
      auto trust = options_.lars_trust * weight_norm / grad_norm;
      // A zero weight or gradient norm means no adaptation (ratio 1), as in the reference code.
      trust = torch::where((weight_norm > 0) & (grad_norm > 0), trust, torch::ones_like(trust));
      grad.mul_(trust);
    }
  }
  optimizer_->step();
}

void Optimizer::set_lr(double lr) {
  lr_ = lr;
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

double Schedule::lr_at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return peak_lr * static_cast<double>(step + 1) / warmup_steps;
  const int64_t decay_steps = std::max<int64_t>(1, total_steps - warmup_steps);
  const double progress = std::min(1.0, static_cast<double>(step - warmup_steps) / decay_steps);
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return peak_lr * (final_fraction + (1.0 - final_fraction) * cosine);
}

double clip_grad_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> norms;
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) norms.push_back(parameter.grad().norm().to(torch::kFloat64));
  }
  if (norms.empty()) return 0.0;
  const double total = torch::stack(norms).norm().item<double>();
  if (max_norm > 0 && total > max_norm) {
    const double scale = max_norm / (total + 1e-6);
    for (const auto& parameter : parameters) {
      if (parameter.grad().defined()) parameter.grad().mul_(scale);
    }
  }
  return total;
}

}  // namespace pretext
