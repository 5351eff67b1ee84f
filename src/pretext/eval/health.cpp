#include "pretext/eval/health.h"

#include <cmath>

#include "pretext/core/error.h"

namespace pretext {

namespace F = torch::nn::functional;

bool RepresentationHealth::collapsed(const CollapseThresholds& thresholds) const {
  return std_ratio < thresholds.std_ratio || effective_rank < thresholds.effective_rank;
}

std::vector<std::pair<std::string, double>> RepresentationHealth::stats() const {
  std::vector<std::pair<std::string, double>> out{
      {"std_ratio", std_ratio}, {"effective_rank", effective_rank}, {"uniformity", uniformity}};
  if (!std::isnan(alignment)) out.emplace_back("alignment", alignment);
  return out;
}

RepresentationHealth representation_health(const torch::Tensor& embedding, const torch::Tensor& pair) {
  PRETEXT_CHECK(embedding.dim() == 2 && embedding.size(0) >= 2, InputError,
                "representation health needs a [B ≥ 2, D] batch, got ", embedding.sizes());
  torch::NoGradGuard no_grad;
  auto z = embedding.detach().to(torch::kCPU, torch::kDouble);
  const double dim = static_cast<double>(z.size(1));
  auto unit = F::normalize(z, F::NormalizeFuncOptions().dim(1));
  RepresentationHealth health;
  health.std_ratio = unit.std(0).mean().item<double>() * std::sqrt(dim);

  auto singular = std::get<1>(torch::svd(z, /*some=*/true, /*compute_uv=*/false));
  auto p = singular / singular.sum().clamp_min(1e-12) + 1e-12;
  health.effective_rank = std::exp(-(p * p.log()).sum().item<double>());

  // Pairwise squared distances of unit vectors: ‖a − b‖² = 2 − 2·a·b.
  const int64_t n = unit.size(0);
  auto distances = (2 - 2 * torch::matmul(unit, unit.t())).clamp_min(0);
  auto off_diagonal = ~torch::eye(n, torch::kBool);
  health.uniformity = torch::exp(-2 * distances.masked_select(off_diagonal)).mean().log().item<double>();
  if (pair.defined()) {
    PRETEXT_CHECK(pair.sizes() == embedding.sizes(), InputError, "representation health: the pair's shape ",
                  pair.sizes(), " differs from the embedding's ", embedding.sizes());
    auto other = F::normalize(pair.detach().to(torch::kCPU, torch::kDouble), F::NormalizeFuncOptions().dim(1));
    health.alignment = (unit - other).pow(2).sum(1).mean().item<double>();
  }
  return health;
}

}  // namespace pretext
