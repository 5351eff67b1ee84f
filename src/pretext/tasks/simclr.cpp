#include "pretext/tasks/simclr.h"

#include "pretext/core/options.h"
#include "pretext/core/runtime.h"

namespace pretext {

void ContrastiveOptions::read(OptionReader& reader) {
  reader.read("temperature", temperature)
      .read("projector_hidden_dim", projector_hidden_dim)
      .read("projector_out_dim", projector_out_dim)
      .read("projector_layers", projector_layers);
}

void ContrastiveOptions::validate(const std::string& task) const {
  PRETEXT_CHECK(temperature > 0, ConfigError, "task ", task, ": temperature must be > 0, got ", temperature);
  PRETEXT_CHECK(projector_out_dim > 0 && projector_hidden_dim >= 0 && projector_layers >= 1, ConfigError, "task ",
                task, ": projector_out_dim must be > 0, projector_hidden_dim >= 0 and projector_layers >= 1");
}

nlohmann::json ContrastiveOptions::to_json() const {
  return {{"temperature", temperature},
          {"projector_hidden_dim", projector_hidden_dim},
          {"projector_out_dim", projector_out_dim},
          {"projector_layers", projector_layers}};
}

MLP ContrastiveOptions::make_projector(int64_t encoder_dim) const {
  MLPOptions projector;
  projector.in_dim = encoder_dim;
  projector.hidden_dim = projector_hidden_dim > 0 ? projector_hidden_dim : encoder_dim;
  projector.out_dim = projector_out_dim;
  projector.layers = projector_layers;
  return MLP(projector);
}

SimCLROptions SimCLROptions::from_json(const nlohmann::json& values) {
  SimCLROptions options;
  OptionReader reader(values, "task simclr");
  nlohmann::json augment = nlohmann::json::object();
  options.read(reader);
  reader.read("augment", augment);
  reader.finish();
  options.augment = ImageAugmentOptions::from_json(augment, "task simclr: augment");
  options.validate("simclr");
  return options;
}

nlohmann::json SimCLROptions::to_json() const {
  nlohmann::json values = ContrastiveOptions::to_json();
  values["augment"] = augment.to_json();
  return values;
}

std::pair<torch::Tensor, torch::Tensor> nt_xent_loss(const torch::Tensor& z1, const torch::Tensor& z2,
                                                     double temperature) {
  const int64_t batch = z1.size(0);
  // The similarity logits are computed in float32 even under bf16 autocast: with a temperature
  // of 0.1–0.5 the logits reach ±10, where bf16's 8-bit mantissa costs the softmax real accuracy.
  Float32Region float32;
  auto z = torch::cat({z1, z2}, 0).to(torch::kFloat32);
  z = torch::nn::functional::normalize(z, torch::nn::functional::NormalizeFuncOptions().dim(1));
  auto logits = torch::matmul(z, z.t()) / temperature;
  // An anchor is never its own candidate (SimCLR eq. 1: the indicator k ≠ i).
  auto self = torch::eye(2 * batch, torch::TensorOptions().dtype(torch::kBool).device(z.device()));
  logits = logits.masked_fill(self, -std::numeric_limits<float>::infinity());
  auto arange = torch::arange(batch, torch::TensorOptions().dtype(torch::kLong).device(z.device()));
  auto targets = torch::cat({arange + batch, arange});
  auto loss = torch::nn::functional::cross_entropy(logits, targets);
  auto accuracy = (logits.argmax(1) == targets).to(torch::kFloat32).mean();
  return {loss, accuracy.detach()};
}

PretextTask::Output two_view_contrastive_output(const PretextTask& task, const torch::Tensor& h, const torch::Tensor& z,
                                                double temperature) {
  const int64_t size = z.size(0) / 2;
  // Negatives from every rank: the loss of the global batch, as on one process.
  const auto& group = task.process_group();
  auto [loss, accuracy] = nt_xent_loss(all_gather_with_grad(z.slice(0, 0, size), group),
                                       all_gather_with_grad(z.slice(0, size), group), temperature);
  auto embeddings = h.detach();
  return {loss, {{"contrastive_acc", accuracy.item<double>()}}, embeddings.slice(0, 0, size),
          embeddings.slice(0, size), z.slice(0, 0, size).detach()};
}

SimCLRTask::SimCLRTask(const TaskContext& context, SimCLROptions options)
    : PretextTask("SimCLRTask", context.seed),
      options_(std::move(options)),
      augment_(fit_augment_to_data(options_.augment, context)) {
  options_.augment = augment_.options();
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  projector_ = register_module("projector", options_.make_projector(encoder_->dim()));
}

PretextTask::Output SimCLRTask::step(const Batch& batch) {
  // Both views go through the encoder as one batch: one pass, and BatchNorm sees 2B samples.
  auto views = torch::cat({augment_(batch.input, generator()), augment_(batch.input, generator())}, 0);
  auto h = encoder_->forward(prepare_for_encoder(views));
  return two_view_contrastive_output(*this, h, projector_->forward(h), options_.temperature);
}

}  // namespace pretext
