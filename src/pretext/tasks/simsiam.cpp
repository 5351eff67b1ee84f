#include "pretext/tasks/simsiam.h"

#include "pretext/core/options.h"
#include "pretext/tasks/byol.h"

namespace pretext {

namespace F = torch::nn::functional;

ImageAugmentOptions SimSiamOptions::default_augment() {
  ImageAugmentOptions augment;
  augment.crop_scale = {0.2, 1.0};
  augment.jitter_probability = 0.8;
  augment.brightness = 0.4;
  augment.contrast = 0.4;
  augment.saturation = 0.4;
  augment.hue = 0.1;
  augment.grayscale_probability = 0.2;
  augment.blur_probability = 0.0;
  return augment;
}

SimSiamOptions SimSiamOptions::from_json(const nlohmann::json& values) {
  SimSiamOptions options;
  OptionReader reader(values, "task simsiam");
  nlohmann::json augment = nlohmann::json::object();
  reader.read("projector_layers", options.projector_layers)
      .read("projector_hidden_dim", options.projector_hidden_dim)
      .read("projector_out_dim", options.projector_out_dim)
      .read("projector_output_batch_norm", options.projector_output_batch_norm)
      .read("predictor_hidden_dim", options.predictor_hidden_dim)
      .read("stop_gradient", options.stop_gradient)
      .read("augment", augment);
  reader.finish();
  options.augment = override_augment_options(options.augment, augment, "task simsiam: augment");
  PRETEXT_CHECK(options.projector_layers >= 1, ConfigError, "task simsiam: projector_layers must be >= 1, got ",
                options.projector_layers);
  PRETEXT_CHECK(options.projector_hidden_dim > 0 && options.projector_out_dim > 0, ConfigError,
                "task simsiam: projector_hidden_dim and projector_out_dim must be > 0, got ",
                options.projector_hidden_dim, ", ", options.projector_out_dim);
  PRETEXT_CHECK(options.predictor_hidden_dim >= 0 && options.resolved_predictor_hidden_dim() > 0, ConfigError,
                "task simsiam: predictor_hidden_dim must be > 0 (or 0 = projector_out_dim / 4 ≥ 1), got ",
                options.predictor_hidden_dim);
  return options;
}

nlohmann::json SimSiamOptions::to_json() const {
  return {{"projector_layers", projector_layers},
          {"projector_hidden_dim", projector_hidden_dim},
          {"projector_out_dim", projector_out_dim},
          {"projector_output_batch_norm", projector_output_batch_norm},
          {"predictor_hidden_dim", resolved_predictor_hidden_dim()},
          {"stop_gradient", stop_gradient},
          {"augment", augment.to_json()}};
}

int64_t SimSiamOptions::resolved_predictor_hidden_dim() const {
  return predictor_hidden_dim > 0 ? predictor_hidden_dim : projector_out_dim / 4;
}

torch::Tensor simsiam_loss(const torch::Tensor& p1, const torch::Tensor& p2, const torch::Tensor& z1,
                           const torch::Tensor& z2, bool stop_gradient) {
  auto D = [stop_gradient](const torch::Tensor& p, const torch::Tensor& z) {
    auto target = stop_gradient ? z.detach() : z;
    return -F::cosine_similarity(p.to(torch::kFloat32), target.to(torch::kFloat32),
                                 F::CosineSimilarityFuncOptions().dim(1))
                .mean();
  };
  return D(p1, z2) / 2 + D(p2, z1) / 2;
}

double normalized_output_std(const torch::Tensor& z) {
  auto unit = F::normalize(z.detach().to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  return unit.std(0).mean().item<double>();
}

SimSiamTask::SimSiamTask(const TaskContext& context, SimSiamOptions options)
    : PretextTask("SimSiamTask", context.seed),
      options_(std::move(options)),
      augment_(fit_augment_to_data(options_.augment, context)) {
  options_.augment = augment_.options();
  options_.predictor_hidden_dim = options_.resolved_predictor_hidden_dim();
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  MLPOptions projector;
  projector.in_dim = encoder_->dim();
  projector.hidden_dim = options_.projector_hidden_dim;
  projector.out_dim = options_.projector_out_dim;
  projector.layers = options_.projector_layers;
  projector.last_batch_norm = options_.projector_output_batch_norm;
  // Linear layers followed by BN need no bias (the official code's bias=False).
  projector.bias = !options_.projector_output_batch_norm;
  projector_ = register_module("projector", MLP(projector));
  MLPOptions predictor;
  predictor.in_dim = options_.projector_out_dim;
  predictor.hidden_dim = options_.predictor_hidden_dim;
  predictor.out_dim = options_.projector_out_dim;
  predictor.layers = 2;
  predictor_ = register_module("predictor", MLP(predictor));
}

PretextTask::Output SimSiamTask::step(const Batch& batch) {
  const int64_t size = batch.size();
  // Both views in one pass (BatchNorm statistics over the 2B views, as our SimCLR).
  auto views = torch::cat({augment_(batch.input, generator()), augment_(batch.input, generator())}, 0);
  auto h = encoder_->forward(prepare_for_encoder(views));
  auto z = projector_->forward(h);
  auto p = predictor_->forward(z);
  auto z1 = z.slice(0, 0, size), z2 = z.slice(0, size);
  auto loss = simsiam_loss(p.slice(0, 0, size), p.slice(0, size), z1, z2, options_.stop_gradient);
  h = h.detach();
  return {loss,
          {{"cosine", -loss.item<double>()}, {"output_std", normalized_output_std(z1)}},
          h.slice(0, 0, size),
          h.slice(0, size),
          p.slice(0, 0, size).detach()};
}

}  // namespace pretext
