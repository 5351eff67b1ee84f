#include "pretext/tasks/momentum.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace pretext {
namespace {

// The two modules' tensors (parameters, or buffers) paired by name.
template <typename Get>
void for_each_pair(torch::nn::Module& to, const torch::nn::Module& from, Get get,
                   const std::function<void(torch::Tensor&, const torch::Tensor&)>& apply) {
  auto targets = get(to);
  auto sources = get(const_cast<torch::nn::Module&>(from));
  if (targets.size() != sources.size()) {
    throw std::logic_error("momentum target: " + std::to_string(targets.size()) + " tensors, online network has " +
                           std::to_string(sources.size()));
  }
  for (const auto& item : sources) {
    torch::Tensor* target = targets.find(item.key());
    if (target == nullptr || target->sizes() != item.value().sizes()) {
      throw std::logic_error("momentum target: no tensor matching '" + item.key() + "'");
    }
    apply(*target, item.value());
  }
}

auto parameters_of = [](torch::nn::Module& module) { return module.named_parameters(true); };
auto buffers_of = [](torch::nn::Module& module) { return module.named_buffers(true); };

}  // namespace

double cosine_momentum(double base, double progress) {
  const double p = std::clamp(progress, 0.0, 1.0);
  return 1.0 - (1.0 - base) * (std::cos(M_PI * p) + 1.0) / 2.0;
}

void copy_as_frozen(torch::nn::Module& to, const torch::nn::Module& from) {
  torch::NoGradGuard no_grad;
  for_each_pair(to, from, parameters_of, [](torch::Tensor& target, const torch::Tensor& source) {
    target.copy_(source);
    target.set_requires_grad(false);
  });
  for_each_pair(to, from, buffers_of, [](torch::Tensor& target, const torch::Tensor& source) { target.copy_(source); });
}

void ema_update(torch::nn::Module& target, const torch::nn::Module& online, double momentum) {
  torch::NoGradGuard no_grad;
  for_each_pair(target, online, parameters_of, [momentum](torch::Tensor& t, const torch::Tensor& s) {
    t.mul_(momentum).add_(s.detach(), 1.0 - momentum);
  });
  for_each_pair(target, online, buffers_of, [](torch::Tensor& t, const torch::Tensor& s) { t.copy_(s); });
}

}  // namespace pretext
