#include "pretext/tasks/moco.h"

#include <algorithm>

#include "pretext/core/options.h"
#include "pretext/core/runtime.h"
#include "pretext/tasks/momentum.h"

namespace pretext {

namespace F = torch::nn::functional;

namespace {

torch::Tensor unit_rows(const torch::Tensor& x) {
  return F::normalize(x.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MoCo v2: options and loss

ImageAugmentOptions MoCoOptions::default_augment() {
  ImageAugmentOptions augment;
  augment.crop_scale = {0.08, 1.0};
  augment.jitter_probability = 0.8;
  augment.brightness = 0.4;
  augment.contrast = 0.4;
  augment.saturation = 0.4;
  augment.hue = 0.1;
  augment.grayscale_probability = 0.2;
  augment.blur_probability = 0.0;
  return augment;
}

MoCoOptions MoCoOptions::from_json(const nlohmann::json& values) {
  MoCoOptions options;
  OptionReader reader(values, "task moco");
  nlohmann::json augment = nlohmann::json::object();
  reader.read("temperature", options.temperature)
      .read("queue_size", options.queue_size)
      .read("momentum", options.momentum)
      .read("momentum_cosine", options.momentum_cosine)
      .read("symmetric", options.symmetric)
      .read("bn_splits", options.bn_splits)
      .read("projector_hidden_dim", options.projector_hidden_dim)
      .read("projector_out_dim", options.projector_out_dim)
      .read("augment", augment);
  reader.finish();
  options.augment = override_augment_options(options.augment, augment, "task moco: augment");
  PRETEXT_CHECK(options.temperature > 0, ConfigError, "task moco: temperature must be > 0, got ", options.temperature);
  PRETEXT_CHECK(options.queue_size > 0, ConfigError, "task moco: queue_size must be > 0, got ", options.queue_size);
  PRETEXT_CHECK(options.momentum >= 0 && options.momentum <= 1, ConfigError, "task moco: momentum must be in [0,1], got ",
                options.momentum);
  PRETEXT_CHECK(options.bn_splits >= 1, ConfigError, "task moco: bn_splits must be >= 1, got ", options.bn_splits);
  PRETEXT_CHECK(options.projector_hidden_dim >= 0 && options.projector_out_dim > 0, ConfigError,
                "task moco: projector_hidden_dim must be >= 0 (0 = the encoder's dim) and projector_out_dim > 0, got ",
                options.projector_hidden_dim, ", ", options.projector_out_dim);
  return options;
}

nlohmann::json MoCoOptions::to_json() const {
  return {{"temperature", temperature},
          {"queue_size", queue_size},
          {"momentum", momentum},
          {"momentum_cosine", momentum_cosine},
          {"symmetric", symmetric},
          {"bn_splits", bn_splits},
          {"projector_hidden_dim", projector_hidden_dim},
          {"projector_out_dim", projector_out_dim},
          {"augment", augment.to_json()}};
}

std::pair<torch::Tensor, torch::Tensor> moco_infonce_loss(const torch::Tensor& queries, const torch::Tensor& keys,
                                                          const torch::Tensor& queue, double temperature) {
  Float32Region float32;  // logits of ±1/τ in float32 under bf16 autocast, as SimCLR's
  auto q = unit_rows(queries);
  auto k = unit_rows(keys.detach());
  auto positive = (q * k).sum(1, /*keepdim=*/true);                        // [B, 1]
  auto negative = torch::matmul(q, queue.detach().to(torch::kFloat32).t());  // [B, K]
  // The positive is class 0 of a (1 + K)-way classification (MoCo algorithm 1).
  auto logits = torch::cat({positive, negative}, 1) / temperature;
  auto targets = torch::zeros({q.size(0)}, torch::TensorOptions().dtype(torch::kLong).device(q.device()));
  auto loss = F::cross_entropy(logits, targets);
  auto accuracy = (logits.argmax(1) == 0).to(torch::kFloat32).mean();
  return {loss, accuracy.detach()};
}

void enqueue_keys(torch::Tensor& queue, torch::Tensor& pointer, const torch::Tensor& keys) {
  torch::NoGradGuard no_grad;
  const int64_t capacity = queue.size(0);
  const int64_t count = keys.size(0);
  const int64_t start = pointer.item<int64_t>();
  torch::Tensor newest = keys.detach().to(queue.dtype());
  const int64_t kept = std::min(count, capacity);
  // With more keys than room, the first count − K would be overwritten within this same call.
  if (count > capacity) newest = newest.slice(0, count - capacity);
  const int64_t first = (start + count - kept) % capacity;
  auto positions =
      (torch::arange(kept, torch::TensorOptions().dtype(torch::kLong).device(queue.device())) + first) % capacity;
  queue.index_copy_(0, positions, newest);
  pointer.fill_((start + count) % capacity);
}

// ---------------------------------------------------------------------------------------------
// MoCo v2: task

MoCoTask::MoCoTask(const TaskContext& context, MoCoOptions options)
    : PretextTask("MoCoTask", context.seed),
      options_(std::move(options)),
      augment_(fit_augment_to_data(options_.augment, context)),
      momentum_(options_.momentum) {
  options_.augment = augment_.options();
  encoder_ = register_module("encoder", make_encoder(context.encoder));
  MLPOptions projector;
  projector.in_dim = encoder_->dim();
  projector.hidden_dim = options_.projector_hidden_dim > 0 ? options_.projector_hidden_dim : encoder_->dim();
  projector.out_dim = options_.projector_out_dim;
  projector.layers = 2;
  projector.batch_norm = false;
  projector_ = register_module("projector", MLP(projector));
  // The key encoder starts as a copy of the query encoder (MoCo algorithm 1: f_k.params = f_q.params).
  key_encoder_ = register_module("key_encoder", make_encoder(context.encoder));
  key_projector_ = register_module("key_projector", MLP(projector));
  copy_as_frozen(*key_encoder_, *encoder_);
  copy_as_frozen(*key_projector_, *projector_);
  // The queue starts as random unit vectors (as the official code), drawn from the task's
  // generator so that a seed fixes it.
  auto queue = torch::randn({options_.queue_size, options_.projector_out_dim}, generator(),
                            torch::TensorOptions().dtype(torch::kFloat32));
  queue_ = register_buffer("queue", unit_rows(queue));
  queue_pointer_ = register_buffer("queue_pointer", torch::zeros({1}, torch::kLong));
}

PretextTask::Output MoCoTask::step(const Batch& batch) {
  const int64_t size = batch.size();
  const int64_t splits = std::min(options_.bn_splits, size);
  // Each part of the batch through encoder and projector alone: BatchNorm statistics per part.
  auto in_parts = [&](Encoder& encoder, MLP& projector, const torch::Tensor& x) {
    std::vector<torch::Tensor> h, z;
    for (const auto& part : x.tensor_split(splits, 0)) {
      h.push_back(encoder.forward(prepare_for_encoder(part)));
      z.push_back(projector->forward(h.back()));
    }
    return std::make_pair(torch::cat(h, 0), torch::cat(z, 0));
  };
  // Shuffle-BN for the keys: shuffle, encode in parts, unshuffle.
  auto keys_of = [&](const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    auto order = torch::randperm(size, generator(), torch::TensorOptions().dtype(torch::kLong)).to(x.device());
    auto [h, z] = in_parts(*key_encoder_, key_projector_, x.index_select(0, order));
    auto restore = torch::argsort(order);
    return std::make_pair(h.index_select(0, restore), unit_rows(z.index_select(0, restore)));
  };

  auto view1 = augment_(batch.input, generator());
  auto view2 = augment_(batch.input, generator());
  // The negatives as they were before this batch: the queue is updated in place below, and the
  // loss's graph must not see that write.
  torch::Tensor negatives = queue_.clone();

  auto [h1, q1] = in_parts(*encoder_, projector_, view1);
  auto [key_h2, k2] = keys_of(view2);
  auto [loss, accuracy] = moco_infonce_loss(q1, k2, negatives, options_.temperature);
  torch::Tensor pair = key_h2;
  torch::Tensor enqueued = k2;
  if (options_.symmetric) {
    auto [h2, q2] = in_parts(*encoder_, projector_, view2);
    auto [key_h1, k1] = keys_of(view1);
    auto [loss2, accuracy2] = moco_infonce_loss(q2, k1, negatives, options_.temperature);
    loss = (loss + loss2) / 2;
    accuracy = (accuracy + accuracy2) / 2;
    pair = h2;
    enqueued = torch::cat({k2, k1}, 0);
  }
  // Every rank's keys join the queue, in rank order, so the queues stay identical.
  enqueue_keys(queue_, queue_pointer_, process_group()->all_gather(enqueued));
  return {loss,
          {{"contrastive_acc", accuracy.item<double>()}, {"momentum", momentum_}},
          h1.detach(),
          pair.detach(),
          q1.detach()};
}

void MoCoTask::after_update(const TrainState& state) {
  momentum_ = options_.momentum_cosine ? cosine_momentum(options_.momentum, state.progress()) : options_.momentum;
  ema_update(*key_encoder_, *encoder_, momentum_);
  ema_update(*key_projector_, *projector_, momentum_);
}

// ---------------------------------------------------------------------------------------------
// MoCo v3

MoCoV3Options MoCoV3Options::from_json(const nlohmann::json& values) {
  MoCoV3Options options;
  OptionReader reader(values, "task mocov3");
  nlohmann::json both = nlohmann::json::object(), view1 = nlohmann::json::object(), view2 = nlohmann::json::object();
  reader.read("temperature", options.temperature)
      .read("momentum", options.momentum)
      .read("momentum_cosine", options.momentum_cosine)
      .read("projector_layers", options.projector_layers)
      .read("projector_hidden_dim", options.projector_hidden_dim)
      .read("projector_out_dim", options.projector_out_dim)
      .read("predictor_hidden_dim", options.predictor_hidden_dim)
      .read("predictor_last_batch_norm", options.predictor_last_batch_norm)
      .read("augment", both)
      .read("augment_view1", view1)
      .read("augment_view2", view2);
  reader.finish();
  options.augment = ViewPairAugmentOptions::from_json(options.augment, both, view1, view2, "task mocov3");
  PRETEXT_CHECK(options.temperature > 0, ConfigError, "task mocov3: temperature must be > 0, got ",
                options.temperature);
  PRETEXT_CHECK(options.momentum >= 0 && options.momentum <= 1, ConfigError,
                "task mocov3: momentum must be in [0,1], got ", options.momentum);
  PRETEXT_CHECK(options.projector_layers >= 1, ConfigError, "task mocov3: projector_layers must be >= 1, got ",
                options.projector_layers);
  PRETEXT_CHECK(options.projector_hidden_dim > 0 && options.projector_out_dim > 0 && options.predictor_hidden_dim > 0,
                ConfigError,
                "task mocov3: projector_hidden_dim, projector_out_dim and predictor_hidden_dim must be > 0, got ",
                options.projector_hidden_dim, ", ", options.projector_out_dim, ", ", options.predictor_hidden_dim);
  return options;
}

nlohmann::json MoCoV3Options::to_json() const {
  return {{"temperature", temperature},
          {"momentum", momentum},
          {"momentum_cosine", momentum_cosine},
          {"projector_layers", projector_layers},
          {"projector_hidden_dim", projector_hidden_dim},
          {"projector_out_dim", projector_out_dim},
          {"predictor_hidden_dim", predictor_hidden_dim},
          {"predictor_last_batch_norm", predictor_last_batch_norm},
          {"augment_view1", augment.view1.to_json()},
          {"augment_view2", augment.view2.to_json()}};
}

std::pair<torch::Tensor, torch::Tensor> mocov3_contrastive_loss(const torch::Tensor& queries,
                                                                const torch::Tensor& keys, double temperature) {
  Float32Region float32;
  auto q = unit_rows(queries);
  auto k = unit_rows(keys.detach());
  auto logits = torch::matmul(q, k.t()) / temperature;
  auto targets = torch::arange(q.size(0), torch::TensorOptions().dtype(torch::kLong).device(q.device()));
  // The 2τ factor (algorithm 1) makes the gradient's scale independent of τ.
  auto loss = F::cross_entropy(logits, targets) * (2 * temperature);
  auto accuracy = (logits.argmax(1) == targets).to(torch::kFloat32).mean();
  return {loss, accuracy.detach()};
}

MoCoV3Task::MoCoV3Task(const TaskContext& context, MoCoV3Options options)
    : PretextTask("MoCoV3Task", context.seed),
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
  projector.layers = options_.projector_layers;
  projector.last_batch_norm = true;
  projector.bias = false;
  projector_ = register_module("projector", MLP(projector));
  MLPOptions predictor = projector;
  predictor.in_dim = options_.projector_out_dim;
  predictor.hidden_dim = options_.predictor_hidden_dim;
  predictor.layers = 2;
  predictor.last_batch_norm = options_.predictor_last_batch_norm;
  predictor_ = register_module("predictor", MLP(predictor));
  key_encoder_ = register_module("key_encoder", make_encoder(context.encoder));
  key_projector_ = register_module("key_projector", MLP(projector));
  copy_as_frozen(*key_encoder_, *encoder_);
  copy_as_frozen(*key_projector_, *projector_);
}

PretextTask::Output MoCoV3Task::step(const Batch& batch) {
  const int64_t size = batch.size();
  // Both views in one pass. The negatives are the batch's own keys, normalised with the same
  // statistics as the positive, so BatchNorm leaks nothing that tells them apart (no Shuffle-BN
  // needed, as in the paper, which uses synchronised BN across devices).
  auto views = prepare_for_encoder(
      torch::cat({augment1_(batch.input, generator()), augment2_(batch.input, generator())}, 0));
  auto h = encoder_->forward(views);
  auto q = predictor_->forward(projector_->forward(h));
  torch::Tensor k;
  {
    torch::NoGradGuard no_grad;
    k = key_projector_->forward(key_encoder_->forward(views));
  }
  // Keys from every rank are the negatives (the paper gathers them across devices); the queries
  // are gathered with their gradient, so each rank computes the global batch's loss.
  ProcessGroup& group = *process_group();
  auto [loss12, accuracy12] = mocov3_contrastive_loss(gather_global(q.slice(0, 0, size)),
                                                      group.all_gather(k.slice(0, size)), options_.temperature);
  auto [loss21, accuracy21] = mocov3_contrastive_loss(gather_global(q.slice(0, size)),
                                                      group.all_gather(k.slice(0, 0, size)), options_.temperature);
  auto loss = loss12 + loss21;
  const double accuracy = (accuracy12.item<double>() + accuracy21.item<double>()) / 2;
  h = h.detach();
  return {loss, {{"contrastive_acc", accuracy}, {"momentum", momentum_}}, h.slice(0, 0, size), h.slice(0, size),
          q.slice(0, 0, size).detach()};
}

void MoCoV3Task::after_update(const TrainState& state) {
  momentum_ = options_.momentum_cosine ? cosine_momentum(options_.momentum, state.progress()) : options_.momentum;
  ema_update(*key_encoder_, *encoder_, momentum_);
  ema_update(*key_projector_, *projector_, momentum_);
}

}  // namespace pretext
