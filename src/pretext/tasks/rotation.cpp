#include "pretext/tasks/rotation.h"

#include "pretext/core/options.h"

namespace pretext {

ImageAugmentOptions RotationOptions::default_augment() {
  return crop_and_flip_only(0.5);
}

RotationOptions RotationOptions::from_json(const nlohmann::json& values) {
  RotationOptions options;
  OptionReader reader(values, "task rotation");
  nlohmann::json augment = options.augment.to_json();
  nlohmann::json overrides = nlohmann::json::object();
  reader.read("all_rotations", options.all_rotations)
      .read("head_hidden_dim", options.head_hidden_dim)
      .read("augment", overrides);
  reader.finish();
  PRETEXT_CHECK(overrides.is_object(), ConfigError, "task rotation: augment must be an object");
  augment.update(overrides);
  options.augment = ImageAugmentOptions::from_json(augment, "task rotation: augment");
  PRETEXT_CHECK(options.head_hidden_dim >= 0, ConfigError, "task rotation: head_hidden_dim must be >= 0");
  return options;
}

nlohmann::json RotationOptions::to_json() const {
  return {{"all_rotations", all_rotations}, {"head_hidden_dim", head_hidden_dim}, {"augment", augment.to_json()}};
}

RotationTask::RotationTask(const TaskContext& context, RotationOptions options)
    : PretextTask("RotationTask", context.seed),
      options_(std::move(options)),
      augment_(fit_augment_to_data(options_.augment, context)) {
  options_.augment = augment_.options();
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  MLPOptions head;
  head.in_dim = encoder_->dim();
  head.hidden_dim = options_.head_hidden_dim;
  head.out_dim = 4;
  head.layers = options_.head_hidden_dim > 0 ? 2 : 1;
  head_ = register_module("head", MLP(head));
}

PretextTask::Output RotationTask::step(const Batch& batch) {
  auto views = augment_(batch.input, generator());
  const int64_t size = views.size(0);
  torch::Tensor turns;
  if (options_.all_rotations) {
    views = views.repeat({4, 1, 1, 1});
    turns = torch::arange(4, torch::kLong).repeat_interleave(size);
  } else {
    turns = torch::randint(0, 4, {size}, generator(), torch::kLong);
  }
  turns = turns.to(views.device());
  auto rotated = rotate_quarter_turns(views, turns);
  auto h = encoder_->forward(prepare_for_encoder(rotated));
  auto logits = head_->forward(h).to(torch::kFloat32);
  auto loss = torch::nn::functional::cross_entropy(logits, turns);
  auto accuracy = (logits.argmax(1) == turns).to(torch::kFloat32).mean();
  // The monitors' representation is of the batch as given (the first `size` rows: with
  // all_rotations those are the upright copies, otherwise one random rotation each).
  return {loss, {{"rotation_acc", accuracy.item<double>()}}, h.slice(0, 0, size).detach(), {}, {}};
}

}  // namespace pretext
