#include "pretext/tasks/vicreg.h"

#include "pretext/augment/multicrop.h"
#include "pretext/core/options.h"
#include "pretext/core/runtime.h"

namespace pretext {

ImageAugmentOptions VICRegOptions::default_augment(int64_t view) { return asymmetric_view_augment(view); }

VICRegOptions VICRegOptions::from_json(const nlohmann::json& values) {
  VICRegOptions options;
  OptionReader reader(values, "task vicreg");
  nlohmann::json augment1 = nlohmann::json::object(), augment2 = nlohmann::json::object();
  reader.read("projector_hidden_dim", options.projector_hidden_dim)
      .read("projector_out_dim", options.projector_out_dim)
      .read("projector_layers", options.projector_layers)
      .read("invariance_weight", options.invariance_weight)
      .read("variance_weight", options.variance_weight)
      .read("covariance_weight", options.covariance_weight)
      .read("variance_target", options.variance_target)
      .read("variance_epsilon", options.variance_epsilon)
      .read("augment1", augment1)
      .read("augment2", augment2);
  reader.finish();
  options.augment1 = augment_with_overrides(options.augment1, augment1, "task vicreg: augment1");
  options.augment2 = augment_with_overrides(options.augment2, augment2, "task vicreg: augment2");
  PRETEXT_CHECK(options.projector_hidden_dim > 0 && options.projector_out_dim > 0, ConfigError,
                "task vicreg: projector_hidden_dim and projector_out_dim must be > 0, got ",
                options.projector_hidden_dim, " and ", options.projector_out_dim);
  PRETEXT_CHECK(options.projector_layers >= 1, ConfigError, "task vicreg: projector_layers must be >= 1, got ",
                options.projector_layers);
  PRETEXT_CHECK(options.invariance_weight >= 0 && options.variance_weight >= 0 && options.covariance_weight >= 0,
                ConfigError, "task vicreg: the weights must be >= 0, got invariance_weight ", options.invariance_weight,
                ", variance_weight ", options.variance_weight, ", covariance_weight ", options.covariance_weight);
  PRETEXT_CHECK(options.variance_target > 0, ConfigError, "task vicreg: variance_target must be > 0, got ",
                options.variance_target);
  PRETEXT_CHECK(options.variance_epsilon > 0, ConfigError, "task vicreg: variance_epsilon must be > 0, got ",
                options.variance_epsilon);
  return options;
}

nlohmann::json VICRegOptions::to_json() const {
  return {{"projector_hidden_dim", projector_hidden_dim},
          {"projector_out_dim", projector_out_dim},
          {"projector_layers", projector_layers},
          {"invariance_weight", invariance_weight},
          {"variance_weight", variance_weight},
          {"covariance_weight", covariance_weight},
          {"variance_target", variance_target},
          {"variance_epsilon", variance_epsilon},
          {"augment1", augment1.to_json()},
          {"augment2", augment2.to_json()}};
}

VICRegLoss vicreg_loss(const torch::Tensor& z1, const torch::Tensor& z2, const VICRegOptions& options) {
  PRETEXT_CHECK(z1.dim() == 2 && z1.sizes() == z2.sizes(), InputError,
                "vicreg_loss: expected two [N, D] embeddings of one shape, got ", z1.sizes(), " and ", z2.sizes());
  PRETEXT_CHECK(z1.size(0) >= 2, InputError, "vicreg_loss: the variance needs a batch of at least 2, got ", z1.size(0));
  // Float32 with autocast off: the covariance product would otherwise run in bf16.
  Float32Region float32;
  const torch::Tensor a = z1.to(torch::kFloat32), b = z2.to(torch::kFloat32);
  const int64_t samples = a.size(0), dims = a.size(1);

  torch::Tensor invariance = torch::nn::functional::mse_loss(a, b);  // eq. 5, averaged over D too

  auto variance_of = [&](const torch::Tensor& z) {  // eq. 1–2
    torch::Tensor std = (z.var(0, /*unbiased=*/true) + options.variance_epsilon).sqrt();
    return torch::relu(options.variance_target - std).mean();
  };
  auto covariance_of = [&](const torch::Tensor& z) {  // eq. 3–4
    torch::Tensor centred = z - z.mean(0, /*keepdim=*/true);
    torch::Tensor covariance = torch::matmul(centred.t(), centred) / static_cast<double>(samples - 1);
    return (covariance.square().sum() - covariance.diagonal().square().sum()) / static_cast<double>(dims);
  };
  torch::Tensor variance = variance_of(a) + variance_of(b);
  torch::Tensor covariance = covariance_of(a) + covariance_of(b);
  torch::Tensor loss = options.invariance_weight * invariance + options.variance_weight * variance +
                       options.covariance_weight * covariance;  // eq. 6
  return {loss, invariance.detach(), variance.detach(), covariance.detach()};
}

VICRegTask::VICRegTask(const TaskContext& context, VICRegOptions options)
    : PretextTask("VICRegTask", context.seed),
      options_(std::move(options)),
      augment1_(fit_augment_to_data(options_.augment1, context)),
      augment2_(fit_augment_to_data(options_.augment2, context)) {
  options_.augment1 = augment1_.options();
  options_.augment2 = augment2_.options();
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  projector_ = register_module("projector", MLP(MLPOptions{encoder_->dim(), options_.projector_hidden_dim,
                                                             options_.projector_out_dim, options_.projector_layers}));
}

PretextTask::Output VICRegTask::step(const Batch& batch) {
  const int64_t size = batch.size();
  PRETEXT_CHECK(size >= 2, InputError, "vicreg: the variance term needs batches of at least 2, got ", size);
  // Each view through the encoder and projector on its own, as the authors' code does: every
  // BatchNorm then normalises over one view's B samples, like the loss's own statistics.
  auto h1 = encoder_->forward(prepare_for_encoder(augment1_(batch.input, generator())));
  auto h2 = encoder_->forward(prepare_for_encoder(augment2_(batch.input, generator())));
  auto z1 = projector_->forward(h1);
  auto z2 = projector_->forward(h2);
  // Variance and covariance over the global batch (every rank's samples).
  auto terms = vicreg_loss(gather_global(z1), gather_global(z2), options_);
  return {terms.loss,
          {{"invariance", terms.invariance.item<double>()},
           {"variance", terms.variance.item<double>()},
           {"covariance", terms.covariance.item<double>()}},
          h1.detach(),
          h2.detach(),
          z1.detach()};
}

}  // namespace pretext
