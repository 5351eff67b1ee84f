#include "pretext/tasks/dino.h"

#include <algorithm>
#include <string>

#include "pretext/core/options.h"
#include "pretext/core/runtime.h"
#include "pretext/tasks/momentum.h"

namespace pretext {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

// The official head's initialisation: truncated normal (std 0.02) weights, zero biases.
constexpr double kHeadInitStd = 0.02;

MultiCropOptions fit_multicrop_to_data(MultiCropOptions options, const TaskContext& context) {
  if (options.global_size == 0) options.global_size = context.encoder.image_size;
  if (options.mean.empty()) options.mean = context.mean;
  if (options.std.empty()) options.std = context.std;
  options.validate();
  return options;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Options

DINOOptions DINOOptions::from_json(const nlohmann::json& values) {
  DINOOptions options;
  OptionReader reader(values, "task dino");
  nlohmann::json multicrop = options.multicrop.to_json();
  nlohmann::json overrides = nlohmann::json::object();
  reader.read("head_hidden_dim", options.head_hidden_dim)
      .read("head_bottleneck_dim", options.head_bottleneck_dim)
      .read("head_layers", options.head_layers)
      .read("head_batch_norm", options.head_batch_norm)
      .read("prototypes", options.prototypes)
      .read("norm_last_layer", options.norm_last_layer)
      .read("freeze_last_layer_epochs", options.freeze_last_layer_epochs)
      .read("student_temperature", options.student_temperature)
      .read("teacher_temperature", options.teacher_temperature)
      .read("teacher_temperature_start", options.teacher_temperature_start)
      .read("teacher_temperature_warmup", options.teacher_temperature_warmup)
      .read("teacher_momentum", options.teacher_momentum)
      .read("centre_momentum", options.centre_momentum)
      .read("multicrop", overrides);
  reader.finish();
  PRETEXT_CHECK(overrides.is_object(), ConfigError, "task dino: multicrop must be an object, got ", overrides.dump());
  multicrop.update(overrides);
  options.multicrop = MultiCropOptions::from_json(multicrop, "task dino: multicrop");

  PRETEXT_CHECK(options.head_hidden_dim > 0 && options.head_bottleneck_dim > 0 && options.prototypes > 0, ConfigError,
                "task dino: head_hidden_dim, head_bottleneck_dim and prototypes must be > 0, got ",
                options.head_hidden_dim, ", ", options.head_bottleneck_dim, ", ", options.prototypes);
  PRETEXT_CHECK(options.head_layers >= 1, ConfigError, "task dino: head_layers must be >= 1, got ",
                options.head_layers);
  PRETEXT_CHECK(options.freeze_last_layer_epochs >= 0, ConfigError,
                "task dino: freeze_last_layer_epochs must be >= 0, got ", options.freeze_last_layer_epochs);
  PRETEXT_CHECK(options.student_temperature > 0 && options.teacher_temperature > 0 &&
                    options.teacher_temperature_start > 0,
                ConfigError, "task dino: temperatures must be > 0, got student_temperature ",
                options.student_temperature, ", teacher_temperature ", options.teacher_temperature,
                ", teacher_temperature_start ", options.teacher_temperature_start);
  PRETEXT_CHECK(options.teacher_temperature_warmup >= 0 && options.teacher_temperature_warmup <= 1, ConfigError,
                "task dino: teacher_temperature_warmup is a fraction of the run in [0,1], got ",
                options.teacher_temperature_warmup);
  PRETEXT_CHECK(options.teacher_momentum >= 0 && options.teacher_momentum <= 1, ConfigError,
                "task dino: teacher_momentum must be in [0,1], got ", options.teacher_momentum);
  PRETEXT_CHECK(options.centre_momentum >= 0 && options.centre_momentum < 1, ConfigError,
                "task dino: centre_momentum must be in [0,1), got ", options.centre_momentum);
  PRETEXT_CHECK(options.multicrop.global_crops >= 2 || options.multicrop.local_crops >= 1, ConfigError,
                "task dino: the loss needs a pair of different crops: 2 global crops, or 1 global and local ones");
  return options;
}

nlohmann::json DINOOptions::to_json() const {
  return {{"head_hidden_dim", head_hidden_dim},
          {"head_bottleneck_dim", head_bottleneck_dim},
          {"head_layers", head_layers},
          {"head_batch_norm", head_batch_norm},
          {"prototypes", prototypes},
          {"norm_last_layer", norm_last_layer},
          {"freeze_last_layer_epochs", freeze_last_layer_epochs},
          {"student_temperature", student_temperature},
          {"teacher_temperature", teacher_temperature},
          {"teacher_temperature_start", teacher_temperature_start},
          {"teacher_temperature_warmup", teacher_temperature_warmup},
          {"teacher_momentum", teacher_momentum},
          {"centre_momentum", centre_momentum},
          {"multicrop", multicrop.to_json()}};
}

double DINOOptions::teacher_temperature_at(double progress) const {
  const double p = std::clamp(progress, 0.0, 1.0);
  if (teacher_temperature_warmup <= 0 || p >= teacher_temperature_warmup) return teacher_temperature;
  return teacher_temperature_start + (teacher_temperature - teacher_temperature_start) * p / teacher_temperature_warmup;
}

// ---------------------------------------------------------------------------------------------
// Head

DINOHeadImpl::DINOHeadImpl(int64_t in_dim, const DINOOptions& options) {
  mlp_ = nn::Sequential();
  int64_t features = in_dim;
  for (int64_t layer = 1; layer <= options.head_layers; ++layer) {
    const std::string suffix = std::to_string(layer);
    const bool last = layer == options.head_layers;
    const int64_t out = last ? options.head_bottleneck_dim : options.head_hidden_dim;
    nn::Linear linear(nn::LinearOptions(features, out));
    nn::init::normal_(linear->weight, 0.0, kHeadInitStd);  // ±2 std truncation changes nothing here
    nn::init::zeros_(linear->bias);
    mlp_->push_back("linear" + suffix, linear);
    if (!last) {
      if (options.head_batch_norm) mlp_->push_back("bn" + suffix, nn::BatchNorm1d(out));
      mlp_->push_back("gelu" + suffix, nn::GELU());
    }
    features = out;
  }
  register_module("mlp", mlp_);
  // V as nn.Linear initialises it (only its rows' directions matter); g = 1 as the official head.
  nn::Linear prototypes(nn::LinearOptions(options.head_bottleneck_dim, options.prototypes).bias(false));
  prototype_directions_ = register_parameter("prototype_directions", prototypes->weight.detach().clone());
  if (!options.norm_last_layer) {
    prototype_norms_ = register_parameter("prototype_norms", torch::ones({options.prototypes, 1}));
  }
}

torch::Tensor DINOHeadImpl::forward(const torch::Tensor& x, bool freeze_prototypes) {
  torch::Tensor bottleneck = mlp_->forward(x);
  Float32Region float32;
  bottleneck = F::normalize(bottleneck.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  torch::Tensor directions = freeze_prototypes ? prototype_directions_.detach() : prototype_directions_;
  torch::Tensor weight = F::normalize(directions, F::NormalizeFuncOptions().dim(1));
  if (prototype_norms_.defined()) weight = weight * (freeze_prototypes ? prototype_norms_.detach() : prototype_norms_);
  return torch::matmul(bottleneck, weight.t());
}

// ---------------------------------------------------------------------------------------------
// Loss

std::pair<torch::Tensor, torch::Tensor> dino_loss(const std::vector<torch::Tensor>& student_logits,
                                                  const std::vector<torch::Tensor>& teacher_logits,
                                                  const torch::Tensor& centre, double student_temperature,
                                                  double teacher_temperature) {
  PRETEXT_CHECK(!teacher_logits.empty() && student_logits.size() >= teacher_logits.size(), InputError,
                "dino_loss: expected at least as many student crops as teacher crops, got ", student_logits.size(),
                " and ", teacher_logits.size());
  Float32Region float32;
  const torch::Tensor c = centre.detach().to(torch::kFloat32).reshape({1, -1});
  std::vector<torch::Tensor> student_log_probs;
  for (const auto& s : student_logits) {
    student_log_probs.push_back(torch::log_softmax(s.to(torch::kFloat32) / student_temperature, 1));
  }
  torch::Tensor total = torch::zeros({}, student_log_probs[0].options());
  torch::Tensor entropy = torch::zeros({}, student_log_probs[0].options());
  int64_t pairs = 0;
  for (size_t i = 0; i < teacher_logits.size(); ++i) {
    torch::Tensor t = (teacher_logits[i].detach().to(torch::kFloat32) - c) / teacher_temperature;
    torch::Tensor p = torch::softmax(t, 1);
    entropy = entropy - (p * torch::log_softmax(t, 1)).sum(1).mean();
    for (size_t v = 0; v < student_log_probs.size(); ++v) {
      if (v == i) continue;  // never the same crop (paper eq. 3: x' ≠ x)
      total = total - (p * student_log_probs[v]).sum(1).mean();
      ++pairs;
    }
  }
  PRETEXT_CHECK(pairs > 0, InputError, "dino_loss: no pair of different crops");
  return {total / static_cast<double>(pairs), (entropy / static_cast<double>(teacher_logits.size())).detach()};
}

torch::Tensor updated_centre(const torch::Tensor& centre, const torch::Tensor& teacher_logits, double momentum) {
  torch::NoGradGuard no_grad;
  torch::Tensor batch_mean = teacher_logits.detach().to(torch::kFloat32).mean(0).reshape(centre.sizes());
  return centre * momentum + batch_mean.to(centre.dtype()) * (1.0 - momentum);
}

// ---------------------------------------------------------------------------------------------
// Task

DINOTask::DINOTask(const TaskContext& context, DINOOptions options)
    : PretextTask("DINOTask", context.seed),
      options_(std::move(options)),
      multicrop_(fit_multicrop_to_data(options_.multicrop, context)) {
  options_.multicrop = multicrop_.options();
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  head_ = register_module("head", DINOHead(encoder_->dim(), options_));
  // The teacher starts as a copy of the student (paper §3.1) and is never trained by gradients.
  teacher_encoder_ = register_module("teacher_encoder", make_encoder(context.encoder));
  teacher_head_ = register_module("teacher_head", DINOHead(encoder_->dim(), options_));
  copy_as_frozen(*teacher_encoder_, *encoder_);
  copy_as_frozen(*teacher_head_, *head_);
  centre_ = register_buffer("centre", torch::zeros({options_.prototypes}));
  // Step 0 of 1 planned: progress 0 until the first after_update brings the real plan.
  train_state_ = register_buffer("train_state", torch::tensor({int64_t{0}, int64_t{1}, int64_t{0}}, torch::kLong));
}

TrainState DINOTask::train_state() const {
  torch::Tensor state = train_state_.cpu();
  TrainState out;
  out.step = state[0].item<int64_t>();
  out.total_steps = state[1].item<int64_t>();
  out.epoch = state[2].item<int64_t>();
  return out;
}

PretextTask::Output DINOTask::step(const Batch& batch) {
  const int64_t size = batch.size();
  const int64_t global_crops = options_.multicrop.global_crops;
  const TrainState state = train_state();
  const double teacher_temperature = options_.teacher_temperature_at(state.progress());
  const bool freeze_prototypes = state.epoch < options_.freeze_last_layer_epochs;

  std::vector<torch::Tensor> crops = multicrop_(batch.input, generator());
  std::vector<torch::Tensor> global_views(crops.begin(), crops.begin() + global_crops);
  std::vector<torch::Tensor> local_views(crops.begin() + global_crops, crops.end());
  torch::Tensor globals = torch::cat(global_views, 0);

  // The student sees every crop: one encoder pass per resolution (BatchNorm statistics per
  // resolution, as the official code groups crops of one size), one head pass over all.
  torch::Tensor h_global = encoder_->forward(prepare_for_encoder(globals));
  torch::Tensor h = h_global;
  if (!local_views.empty()) {
    h = torch::cat({h_global, encoder_->forward(prepare_for_encoder(torch::cat(local_views, 0)))}, 0);
  }
  std::vector<torch::Tensor> student = head_->forward(h, freeze_prototypes).chunk(options_.multicrop.crops(), 0);

  // The teacher sees only the global crops.
  torch::Tensor teacher_out;
  {
    torch::NoGradGuard no_grad;
    teacher_out = teacher_head_->forward(teacher_encoder_->forward(prepare_for_encoder(globals)));
  }
  std::vector<torch::Tensor> teacher = teacher_out.chunk(global_crops, 0);
  auto [loss, entropy] =
      dino_loss(student, teacher, centre_, options_.student_temperature, teacher_temperature);
  // The centre follows the global batch's mean teacher output (all-reduced, as in DINO).
  pending_centre_ = all_reduce_mean(teacher_out.detach().to(torch::kFloat32).mean(0), *process_group());

  h_global = h_global.detach();
  Output output{loss,
                {{"teacher_temperature", teacher_temperature}, {"teacher_entropy", entropy.item<double>()}},
                h_global.slice(0, 0, size),
                {},
                student.front().detach()};
  if (global_crops >= 2) output.embedding_pair = h_global.slice(0, size, 2 * size);
  return output;
}

void DINOTask::after_update(const TrainState& state) {
  torch::NoGradGuard no_grad;
  train_state_.copy_(torch::tensor({state.step, state.total_steps, state.epoch}, torch::kLong));
  const double momentum = cosine_momentum(options_.teacher_momentum, state.progress());
  ema_update(*teacher_encoder_, *encoder_, momentum);
  ema_update(*teacher_head_, *head_, momentum);
  if (pending_centre_.defined()) {
    centre_.copy_(updated_centre(centre_, pending_centre_.unsqueeze(0), options_.centre_momentum));
    pending_centre_ = torch::Tensor();
  }
}

}  // namespace pretext
