#include "pretext/tasks/barlow_twins.h"

#include "pretext/augment/multicrop.h"
#include "pretext/core/options.h"
#include "pretext/core/runtime.h"

namespace pretext {

namespace {

// BatchNorm1d's ε, as the authors' code standardises the embeddings with a BatchNorm1d.
constexpr double kStandardiseEpsilon = 1e-5;

}  // namespace

ImageAugmentOptions BarlowTwinsOptions::default_augment(int64_t view) { return asymmetric_view_augment(view); }

BarlowTwinsOptions BarlowTwinsOptions::from_json(const nlohmann::json& values) {
  BarlowTwinsOptions options;
  OptionReader reader(values, "task barlow-twins");
  nlohmann::json augment1 = nlohmann::json::object(), augment2 = nlohmann::json::object();
  reader.read("projector_hidden_dim", options.projector_hidden_dim)
      .read("projector_out_dim", options.projector_out_dim)
      .read("projector_layers", options.projector_layers)
      .read("redundancy_weight", options.redundancy_weight)
      .read("loss_scale", options.loss_scale)
      .read("augment1", augment1)
      .read("augment2", augment2);
  reader.finish();
  options.augment1 = augment_with_overrides(options.augment1, augment1, "task barlow-twins: augment1");
  options.augment2 = augment_with_overrides(options.augment2, augment2, "task barlow-twins: augment2");
  PRETEXT_CHECK(options.projector_hidden_dim > 0 && options.projector_out_dim > 0, ConfigError,
                "task barlow-twins: projector_hidden_dim and projector_out_dim must be > 0, got ",
                options.projector_hidden_dim, " and ", options.projector_out_dim);
  PRETEXT_CHECK(options.projector_layers >= 1, ConfigError, "task barlow-twins: projector_layers must be >= 1, got ",
                options.projector_layers);
  PRETEXT_CHECK(options.redundancy_weight >= 0, ConfigError, "task barlow-twins: redundancy_weight must be >= 0, got ",
                options.redundancy_weight);
  PRETEXT_CHECK(options.loss_scale > 0, ConfigError, "task barlow-twins: loss_scale must be > 0, got ",
                options.loss_scale);
  return options;
}

nlohmann::json BarlowTwinsOptions::to_json() const {
  return {{"projector_hidden_dim", projector_hidden_dim},
          {"projector_out_dim", projector_out_dim},
          {"projector_layers", projector_layers},
          {"redundancy_weight", redundancy_weight},
          {"loss_scale", loss_scale},
          {"augment1", augment1.to_json()},
          {"augment2", augment2.to_json()}};
}

torch::Tensor barlow_cross_correlation(const torch::Tensor& z1, const torch::Tensor& z2) {
  PRETEXT_CHECK(z1.dim() == 2 && z1.sizes() == z2.sizes(), InputError,
                "barlow_cross_correlation: expected two [N, D] embeddings of one shape, got ", z1.sizes(), " and ",
                z2.sizes());
  PRETEXT_CHECK(z1.size(0) >= 2, InputError, "barlow_cross_correlation: needs a batch of at least 2, got ", z1.size(0));
  // Float32 with autocast off (as autocast's own kernels exclude it): under bf16 autocast the
  // product would run in bf16, whose 8-bit mantissa is coarse next to the small off-diagonal
  // correlations that the redundancy term sums by the million.
  Float32Region float32;
  auto standardise = [](const torch::Tensor& z) {
    torch::Tensor x = z.to(torch::kFloat32);
    torch::Tensor centred = x - x.mean(0, /*keepdim=*/true);
    return centred / (centred.square().mean(0, /*keepdim=*/true) + kStandardiseEpsilon).sqrt();
  };
  return torch::matmul(standardise(z1).t(), standardise(z2)) / static_cast<double>(z1.size(0));
}

BarlowTwinsLoss barlow_twins_loss(const torch::Tensor& z1, const torch::Tensor& z2, double redundancy_weight,
                                  double loss_scale) {
  torch::Tensor c = barlow_cross_correlation(z1, z2);  // float32
  torch::Tensor diagonal = c.diagonal();
  // Eq. 1: Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij²; the off-diagonal sum as the whole minus the diagonal.
  torch::Tensor on_diagonal = (1 - diagonal).square().sum();
  torch::Tensor off_diagonal = c.square().sum() - diagonal.square().sum();
  torch::Tensor loss = (on_diagonal + redundancy_weight * off_diagonal) * loss_scale;
  return {loss, on_diagonal.detach(), off_diagonal.detach()};
}

BarlowTwinsTask::BarlowTwinsTask(const TaskContext& context, BarlowTwinsOptions options)
    : PretextTask("BarlowTwinsTask", context.seed),
      options_(std::move(options)),
      augment1_(fit_augment_to_data(options_.augment1, context)),
      augment2_(fit_augment_to_data(options_.augment2, context)) {
  options_.augment1 = augment1_.options();
  options_.augment2 = augment2_.options();
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  projector_ = register_module("projector", MLP(MLPOptions{encoder_->dim(), options_.projector_hidden_dim,
                                                             options_.projector_out_dim, options_.projector_layers}));
}

PretextTask::Output BarlowTwinsTask::step(const Batch& batch) {
  const int64_t size = batch.size();
  PRETEXT_CHECK(size >= 2, InputError, "barlow-twins: the cross-correlation needs batches of at least 2, got ", size);
  // Each view through the encoder and projector on its own, as the authors' code does: every
  // BatchNorm then normalises over one view's B samples, like the loss's own statistics.
  auto h1 = encoder_->forward(prepare_for_encoder(augment1_(batch.input, generator())));
  auto h2 = encoder_->forward(prepare_for_encoder(augment2_(batch.input, generator())));
  auto z1 = projector_->forward(h1);
  auto z2 = projector_->forward(h2);
  // The cross-correlation over the global batch (every rank's samples).
  auto terms = barlow_twins_loss(gather_global(z1), gather_global(z2), options_.redundancy_weight, options_.loss_scale);
  return {terms.loss,
          {{"on_diagonal", terms.on_diagonal.item<double>()}, {"off_diagonal", terms.off_diagonal.item<double>()}},
          h1.detach(),
          h2.detach(),
          z1.detach()};
}

}  // namespace pretext
