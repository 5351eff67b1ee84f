#include "pretext/tasks/byol.h"

#include "pretext/core/options.h"
#include "pretext/tasks/momentum.h"

namespace pretext {

namespace F = torch::nn::functional;

ImageAugmentOptions override_augment_options(const ImageAugmentOptions& defaults, const nlohmann::json& overrides,
                                             const std::string& where) {
  PRETEXT_CHECK(overrides.is_object(), ConfigError, where, " must be an object of augmentation options, got ",
                overrides.dump());
  nlohmann::json values = defaults.to_json();
  values.update(overrides);
  return ImageAugmentOptions::from_json(values, where);
}

ViewPairAugmentOptions ViewPairAugmentOptions::byol_defaults() {
  ViewPairAugmentOptions views;
  for (ImageAugmentOptions* view : {&views.view1, &views.view2}) {
    view->crop_scale = {0.08, 1.0};
    view->jitter_probability = 0.8;
    view->brightness = 0.4;
    view->contrast = 0.4;
    view->saturation = 0.2;
    view->hue = 0.1;
    view->grayscale_probability = 0.2;
    view->blur_probability = 0.0;
  }
  views.view1.solarize_probability = 0.0;
  views.view2.solarize_probability = 0.2;
  return views;
}

ViewPairAugmentOptions ViewPairAugmentOptions::from_json(const ViewPairAugmentOptions& defaults,
                                                         const nlohmann::json& both, const nlohmann::json& view1,
                                                         const nlohmann::json& view2, const std::string& where) {
  ViewPairAugmentOptions views;
  views.view1 = override_augment_options(defaults.view1, both, where + ": augment");
  views.view2 = override_augment_options(defaults.view2, both, where + ": augment");
  views.view1 = override_augment_options(views.view1, view1, where + ": augment_view1");
  views.view2 = override_augment_options(views.view2, view2, where + ": augment_view2");
  return views;
}

BYOLOptions BYOLOptions::from_json(const nlohmann::json& values) {
  BYOLOptions options;
  OptionReader reader(values, "task byol");
  nlohmann::json both = nlohmann::json::object(), view1 = nlohmann::json::object(), view2 = nlohmann::json::object();
  reader.read("projector_hidden_dim", options.projector_hidden_dim)
      .read("projector_out_dim", options.projector_out_dim)
      .read("predictor_hidden_dim", options.predictor_hidden_dim)
      .read("momentum", options.momentum)
      .read("momentum_cosine", options.momentum_cosine)
      .read("augment", both)
      .read("augment_view1", view1)
      .read("augment_view2", view2);
  reader.finish();
  options.augment = ViewPairAugmentOptions::from_json(options.augment, both, view1, view2, "task byol");
  PRETEXT_CHECK(options.projector_hidden_dim > 0 && options.projector_out_dim > 0 && options.predictor_hidden_dim > 0,
                ConfigError, "task byol: projector_hidden_dim, projector_out_dim and predictor_hidden_dim must be > 0, got ",
                options.projector_hidden_dim, ", ", options.projector_out_dim, ", ", options.predictor_hidden_dim);
  PRETEXT_CHECK(options.momentum >= 0 && options.momentum <= 1, ConfigError,
                "task byol: momentum must be in [0,1], got ", options.momentum);
  return options;
}

nlohmann::json BYOLOptions::to_json() const {
  return {{"projector_hidden_dim", projector_hidden_dim},
          {"projector_out_dim", projector_out_dim},
          {"predictor_hidden_dim", predictor_hidden_dim},
          {"momentum", momentum},
          {"momentum_cosine", momentum_cosine},
          {"augment_view1", augment.view1.to_json()},
          {"augment_view2", augment.view2.to_json()}};
}

torch::Tensor byol_loss(const torch::Tensor& prediction, const torch::Tensor& target_projection) {
  // float32: under bf16 autocast a cosine near 1 loses most of its digits, and 2 − 2·cos is
  // exactly the small difference the loss is made of.
  auto p = F::normalize(prediction.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  auto z = F::normalize(target_projection.detach().to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  return (2.0 - 2.0 * (p * z).sum(1)).mean();
}

BYOLTask::BYOLTask(const TaskContext& context, BYOLOptions options)
    : PretextTask("BYOLTask", context.seed),
      options_(std::move(options)),
      augment1_(fit_augment_to_data(options_.augment.view1, context)),
      augment2_(fit_augment_to_data(options_.augment.view2, context)),
      momentum_(options_.momentum) {
  options_.augment.view1 = augment1_.options();
  options_.augment.view2 = augment2_.options();
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  MLPOptions projector;
  projector.in_dim = encoder_->dim();
  projector.hidden_dim = options_.projector_hidden_dim;
  projector.out_dim = options_.projector_out_dim;
  projector.layers = 2;
  projector_ = register_module("projector", MLP(projector));
  MLPOptions predictor = projector;
  predictor.in_dim = options_.projector_out_dim;
  predictor.hidden_dim = options_.predictor_hidden_dim;
  predictor_ = register_module("predictor", MLP(predictor));
  // The target starts as a copy of the online encoder and projector (paper §3.2); no predictor.
  target_encoder_ = register_module("target_encoder", make_encoder(context.encoder));
  target_projector_ = register_module("target_projector", MLP(projector));
  copy_as_frozen(*target_encoder_, *encoder_);
  copy_as_frozen(*target_projector_, *projector_);
}

PretextTask::Output BYOLTask::step(const Batch& batch) {
  const int64_t size = batch.size();
  // Both views in one pass (BatchNorm statistics over the 2B views, as our SimCLR).
  auto views = prepare_for_encoder(
      torch::cat({augment1_(batch.input, generator()), augment2_(batch.input, generator())}, 0));
  auto h = encoder_->forward(views);
  auto p = predictor_->forward(projector_->forward(h));
  torch::Tensor z;
  {
    torch::NoGradGuard no_grad;
    z = target_projector_->forward(target_encoder_->forward(views));
  }
  auto loss = byol_loss(p.slice(0, 0, size), z.slice(0, size)) + byol_loss(p.slice(0, size), z.slice(0, 0, size));
  // Each direction is 2 − 2·mean cos, so the mean cosine over both is 1 − loss/4.
  const double cosine = 1.0 - loss.item<double>() / 4.0;
  h = h.detach();
  return {loss, {{"cosine", cosine}, {"momentum", momentum_}}, h.slice(0, 0, size), h.slice(0, size),
          p.slice(0, 0, size).detach()};
}

void BYOLTask::after_update(const TrainState& state) {
  momentum_ = options_.momentum_cosine ? cosine_momentum(options_.momentum, state.progress()) : options_.momentum;
  ema_update(*target_encoder_, *encoder_, momentum_);
  ema_update(*target_projector_, *projector_, momentum_);
}

}  // namespace pretext
