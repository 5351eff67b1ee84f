// The momentum/predictor family: MoCo v2, MoCo v3, BYOL, SimSiam, and the momentum helpers.
// Each loss against a naive double-precision computation written from the paper's equation;
// the EMA and queue updates by hand; one step's gradients reach the online network only.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "pretext/tasks/byol.h"
#include "pretext/tasks/moco.h"
#include "pretext/tasks/momentum.h"
#include "pretext/tasks/simsiam.h"
#include "test_files.h"

namespace pretext {
namespace {

TaskContext tiny_context(nlohmann::json options = nlohmann::json::object()) {
  TaskContext context;
  context.encoder.name = "convnet";
  context.encoder.width = 8;
  context.encoder.in_channels = 1;
  context.encoder.image_size = 16;
  context.mean = {0.5};
  context.std = {0.25};
  context.seed = 1;
  context.options = std::move(options);
  return context;
}

using testing_files::tiny_batch;

double cosine(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::dot(a, b).item<double>() / (a.norm().item<double>() * b.norm().item<double>());
}

torch::Tensor unit(const torch::Tensor& x) { return x / x.norm(2, 1, true); }

// ---------------------------------------------------------------------------------------------
// Momentum helpers

TEST(TasksMomentum, CosineMomentumRampsFromBaseToOne) {
  EXPECT_DOUBLE_EQ(cosine_momentum(0.99, 0.0), 0.99);
  EXPECT_NEAR(cosine_momentum(0.99, 0.5), 0.995, 1e-12);  // 1 − 0.01·(cos(π/2) + 1)/2
  EXPECT_DOUBLE_EQ(cosine_momentum(0.99, 1.0), 1.0);
  EXPECT_NEAR(cosine_momentum(0.996, 0.25), 1 - 0.004 * (std::cos(M_PI / 4) + 1) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(cosine_momentum(0.99, -1.0), 0.99);  // progress is clamped to [0, 1]
  EXPECT_DOUBLE_EQ(cosine_momentum(0.99, 2.0), 1.0);
}

torch::nn::Sequential small_network() {
  return torch::nn::Sequential(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4), torch::nn::Linear(4, 2));
}

TEST(TasksMomentum, CopyAsFrozenCopiesEverythingAndStopsGradients) {
  torch::manual_seed(0);
  auto online = small_network();
  auto target = small_network();
  online->forward(torch::randn({8, 3}));  // moves the online BN running statistics
  copy_as_frozen(*target, *online);
  auto online_parameters = online->named_parameters();
  for (const auto& item : target->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), online_parameters[item.key()])) << item.key();
    EXPECT_FALSE(item.value().requires_grad()) << item.key();
    EXPECT_TRUE(online_parameters[item.key()].requires_grad()) << item.key();
  }
  auto online_buffers = online->named_buffers();
  for (const auto& item : target->named_buffers()) {
    EXPECT_TRUE(torch::equal(item.value(), online_buffers[item.key()])) << item.key();
  }
  // A copy is a separate tensor: changing the online network leaves the target.
  {
    torch::NoGradGuard no_grad;
    online_parameters["0.weight"].add_(1.0);
  }
  EXPECT_FALSE(torch::equal(target->named_parameters()["0.weight"], online_parameters["0.weight"]));

  auto other = torch::nn::Sequential(torch::nn::Linear(3, 5), torch::nn::BatchNorm1d(5), torch::nn::Linear(5, 2));
  EXPECT_THROW(copy_as_frozen(*other, *online), std::logic_error);
}

TEST(TasksMomentum, EmaUpdateMovesTheTargetByOneMinusMomentum) {
  auto online = small_network();
  auto target = small_network();
  copy_as_frozen(*target, *online);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : target->parameters()) p.fill_(1.0);
    for (auto& p : online->parameters()) p.fill_(3.0);
    online->named_buffers()["1.running_mean"].fill_(0.25);
  }
  ema_update(*target, *online, 0.9);
  // By hand: 0.9·1 + 0.1·3 = 1.2 for every parameter; the online network is unchanged.
  for (const auto& p : target->parameters()) EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 1.2)));
  for (const auto& p : online->parameters()) EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 3.0)));
  // Buffers (BN running statistics) are copied, not averaged.
  EXPECT_TRUE(torch::allclose(target->named_buffers()["1.running_mean"], torch::full({4}, 0.25)));
  for (const auto& p : target->parameters()) EXPECT_FALSE(p.requires_grad());
  // m = 1 freezes the target, m = 0 copies the online network.
  ema_update(*target, *online, 1.0);
  for (const auto& p : target->parameters()) EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 1.2)));
  ema_update(*target, *online, 0.0);
  for (const auto& p : target->parameters()) EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 3.0)));
}

// ---------------------------------------------------------------------------------------------
// Shared checks for a task with a momentum target

// Target parameter name → the online parameter it follows ("key_encoder.x" → "encoder.x").
std::string online_name(const std::string& target_name, const std::map<std::string, std::string>& prefixes) {
  for (const auto& [target_prefix, online_prefix] : prefixes) {
    if (target_name.rfind(target_prefix, 0) == 0) return online_prefix + target_name.substr(target_prefix.size());
  }
  return "";
}

// One step: a finite loss; every online parameter gets a gradient (every encoder parameter a
// non-zero one); target parameters neither require nor get one. Then an optimizer step and
// after_update(state): each target parameter must equal m·before + (1 − m)·online.
void check_step_and_momentum_update(PretextTask& task, const std::map<std::string, std::string>& prefixes,
                                    const TrainState& state, double expected_momentum) {
  auto output = task.step(tiny_batch(8));
  ASSERT_TRUE(std::isfinite(output.loss.item<double>()));
  ASSERT_TRUE(output.embedding.defined());
  ASSERT_TRUE(output.embedding_pair.defined());
  EXPECT_EQ(output.embedding.size(0), 8);
  EXPECT_EQ(output.embedding_pair.size(0), 8);
  EXPECT_FALSE(output.embedding.requires_grad());
  output.loss.backward();

  std::vector<torch::Tensor> trainable;
  int64_t targets = 0;
  for (const auto& item : task.named_parameters()) {
    const bool is_target = !online_name(item.key(), prefixes).empty();
    if (is_target) {
      ++targets;
      EXPECT_FALSE(item.value().requires_grad()) << item.key();
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
    } else {
      EXPECT_TRUE(item.value().requires_grad()) << item.key();
      ASSERT_TRUE(item.value().grad().defined()) << item.key();
      if (item.key().rfind("encoder.", 0) == 0) {
        EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0) << item.key();
      }
      trainable.push_back(item.value());
    }
  }
  EXPECT_GT(targets, 0);

  torch::optim::SGD optimizer(trainable, torch::optim::SGDOptions(0.5));
  optimizer.step();
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : task.named_parameters()) before[item.key()] = item.value().detach().clone();
  task.after_update(state);
  auto parameters = task.named_parameters();
  int64_t moved = 0;
  for (const auto& item : parameters) {
    const std::string source = online_name(item.key(), prefixes);
    if (source.empty()) continue;
    auto expected = before[item.key()] * expected_momentum + parameters[source].detach() * (1 - expected_momentum);
    EXPECT_TRUE(torch::allclose(item.value(), expected, 1e-5, 1e-6)) << item.key();
    moved += torch::equal(item.value(), before[item.key()]) ? 0 : 1;
  }
  EXPECT_GT(moved, 0);  // the optimizer step moved the online network, so the target followed
  // BN running statistics are copied from the online network.
  auto buffers = task.named_buffers();
  for (const auto& item : buffers) {
    const std::string source = online_name(item.key(), prefixes);
    if (!source.empty()) {
      EXPECT_TRUE(torch::equal(item.value(), buffers[source])) << item.key();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// MoCo v2

// MoCo eq. 1, one query at a time, in double precision.
double reference_infonce(const torch::Tensor& q_in, const torch::Tensor& k_in, const torch::Tensor& queue,
                         double temperature) {
  auto q = unit(q_in.to(torch::kDouble)), k = unit(k_in.to(torch::kDouble));
  auto negatives = queue.to(torch::kDouble);
  double total = 0;
  for (int64_t i = 0; i < q.size(0); ++i) {
    const double positive = std::exp(torch::dot(q[i], k[i]).item<double>() / temperature);
    double denominator = positive;
    for (int64_t j = 0; j < negatives.size(0); ++j) {
      denominator += std::exp(torch::dot(q[i], negatives[j]).item<double>() / temperature);
    }
    total += -std::log(positive / denominator);
  }
  return total / q.size(0);
}

TEST(TasksMoCo, InfoNceMatchesAHandComputedValue) {
  // One query (1,0); its key at 60° (cos 0.5, and unnormalised: length 2); two negatives at
  // cos 0 and cos −1. τ = 1: −log(e^0.5 / (e^0.5 + e^0 + e^−1)).
  auto q = torch::tensor({{1.0, 0.0}});
  auto k = torch::tensor({{1.0, std::sqrt(3.0)}});
  auto queue = torch::tensor({{0.0, 1.0}, {-1.0, 0.0}});
  auto [loss, accuracy] = moco_infonce_loss(q, k, queue, 1.0);
  const double by_hand = -std::log(std::exp(0.5) / (std::exp(0.5) + 1.0 + std::exp(-1.0)));
  EXPECT_NEAR(loss.item<double>(), by_hand, 1e-6);
  EXPECT_DOUBLE_EQ(accuracy.item<double>(), 1.0);
  // A negative closer than the positive: not counted as correct.
  auto [loss2, accuracy2] = moco_infonce_loss(q, k, torch::tensor({{0.9, std::sqrt(1 - 0.81)}}), 1.0);
  EXPECT_DOUBLE_EQ(accuracy2.item<double>(), 0.0);
}

TEST(TasksMoCo, InfoNceMatchesTheEquationOnRandomEmbeddings) {
  torch::manual_seed(5);
  auto q = torch::randn({5, 4}), k = torch::randn({5, 4});
  auto queue = unit(torch::randn({7, 4}));
  for (double temperature : {0.1, 0.2, 1.0}) {
    auto [loss, accuracy] = moco_infonce_loss(q, k, queue, temperature);
    EXPECT_NEAR(loss.item<double>(), reference_infonce(q, k, queue, temperature), 1e-4) << temperature;
  }
  // Gradients reach the queries only.
  auto queries = q.clone().requires_grad_(true), keys = k.clone().requires_grad_(true);
  auto negatives = queue.clone().requires_grad_(true);
  moco_infonce_loss(queries, keys, negatives, 0.2).first.backward();
  EXPECT_TRUE(queries.grad().defined());
  EXPECT_FALSE(keys.grad().defined());
  EXPECT_FALSE(negatives.grad().defined());
}

TEST(TasksMoCo, QueueIsARingBufferInFifoOrder) {
  auto queue = torch::zeros({5, 2});
  auto pointer = torch::zeros({1}, torch::kLong);
  auto rows = [](std::vector<double> values) {
    auto t = torch::tensor(values, torch::kDouble).to(torch::kFloat32).unsqueeze(1);
    return torch::cat({t, -t}, 1);
  };
  enqueue_keys(queue, pointer, rows({1, 2, 3}));
  EXPECT_EQ(pointer.item<int64_t>(), 3);
  EXPECT_TRUE(torch::equal(queue, rows({1, 2, 3, 0, 0})));
  // Wrap-around: 4 and 5 fill the end, 6 replaces the oldest (1).
  enqueue_keys(queue, pointer, rows({4, 5, 6}));
  EXPECT_EQ(pointer.item<int64_t>(), 1);
  EXPECT_TRUE(torch::equal(queue, rows({6, 2, 3, 4, 5})));
  // Read from the pointer on, the queue runs oldest to newest.
  auto fifo = torch::cat({queue.slice(0, 1), queue.slice(0, 0, 1)}, 0);
  EXPECT_TRUE(torch::equal(fifo, rows({2, 3, 4, 5, 6})));
  // More keys than room: only the newest 5 stay, still in FIFO order from the pointer.
  enqueue_keys(queue, pointer, rows({7, 8, 9, 10, 11, 12, 13}));
  EXPECT_EQ(pointer.item<int64_t>(), (1 + 7) % 5);
  const int64_t p = pointer.item<int64_t>();
  fifo = torch::cat({queue.slice(0, p), queue.slice(0, 0, p)}, 0);
  EXPECT_TRUE(torch::equal(fifo, rows({9, 10, 11, 12, 13})));
}

TEST(TasksMoCo, StepTrainsTheQueryNetworkOnlyAndTheKeysFollow) {
  torch::manual_seed(0);
  auto context = tiny_context({{"queue_size", 32}, {"bn_splits", 4}});
  MoCoTask task(context, MoCoOptions::from_json(context.options));
  EXPECT_EQ(task.options_json()["temperature"], 0.1);
  EXPECT_EQ(task.options_json()["symmetric"], false);
  check_step_and_momentum_update(task, {{"key_encoder.", "encoder."}, {"key_projector.", "projector."}},
                                 TrainState{5, 10, 0}, 0.99);  // constant m by default
  EXPECT_DOUBLE_EQ(task.momentum(), 0.99);
}

TEST(TasksMoCo, EnqueuesTheBatchKeysAfterTheLoss) {
  torch::manual_seed(0);
  auto context = tiny_context({{"queue_size", 20}, {"bn_splits", 3}});
  MoCoTask task(context, MoCoOptions::from_json(context.options));
  auto buffers = task.named_buffers(/*recurse=*/false);
  ASSERT_TRUE(buffers.contains("queue"));  // checkpoints carry the queue and its pointer
  ASSERT_TRUE(buffers.contains("queue_pointer"));
  auto initial = task.queue().clone();
  EXPECT_TRUE(torch::allclose(initial.norm(2, 1), torch::ones({20}), 1e-5));

  // The loss uses the queue as it was before the batch: the reference computation on the
  // initial queue matches it only if the keys went in afterwards.
  auto output = task.step(tiny_batch(8));
  EXPECT_EQ(task.queue_pointer(), 8);
  EXPECT_TRUE(torch::equal(task.queue().slice(0, 8), initial.slice(0, 8)));
  EXPECT_FALSE(torch::allclose(task.queue().slice(0, 0, 8), initial.slice(0, 0, 8)));
  EXPECT_TRUE(torch::allclose(task.queue().slice(0, 0, 8).norm(2, 1), torch::ones({8}), 1e-5));
  EXPECT_NO_THROW(output.loss.backward());  // the in-place enqueue left the graph intact
  task.step(tiny_batch(8));
  task.step(tiny_batch(8));
  EXPECT_EQ(task.queue_pointer(), 24 % 20);
}

TEST(TasksMoCo, SymmetricLossAveragesBothDirectionsAndEnqueuesBothKeySets) {
  torch::manual_seed(0);
  auto context = tiny_context({{"queue_size", 64}, {"symmetric", true}, {"bn_splits", 2}});
  MoCoTask task(context, MoCoOptions::from_json(context.options));
  auto output = task.step(tiny_batch(6));
  EXPECT_TRUE(std::isfinite(output.loss.item<double>()));
  EXPECT_EQ(task.queue_pointer(), 12);
  // Both views went through the query encoder: embedding_pair carries a gradient-free copy.
  EXPECT_FALSE(output.embedding_pair.requires_grad());
  EXPECT_FALSE(torch::allclose(output.embedding, output.embedding_pair));
}

TEST(TasksMoCo, OptionsAreChecked) {
  EXPECT_THROW(MoCoOptions::from_json({{"queue_sise", 10}}), ConfigError);
  EXPECT_THROW(MoCoOptions::from_json({{"queue_size", 0}}), ConfigError);
  EXPECT_THROW(MoCoOptions::from_json({{"momentum", 1.5}}), ConfigError);
  EXPECT_THROW(MoCoOptions::from_json({{"bn_splits", 0}}), ConfigError);
  EXPECT_THROW(MoCoOptions::from_json({{"augment", {{"blur", 0.0}}}}), ConfigError);
  auto options = MoCoOptions::from_json({{"augment", {{"size", 20}}}});
  EXPECT_EQ(options.augment.size, 20);
  EXPECT_DOUBLE_EQ(options.augment.brightness, 0.4);  // the other fields keep MoCo's defaults
  // Round trip: the written options read back to the same.
  EXPECT_EQ(MoCoOptions::from_json(options.to_json()).to_json(), options.to_json());
}

// ---------------------------------------------------------------------------------------------
// MoCo v3

// ctr(q, k) of MoCo v3's algorithm 1, one query at a time, in double precision.
double reference_mocov3(const torch::Tensor& q_in, const torch::Tensor& k_in, double temperature) {
  auto q = unit(q_in.to(torch::kDouble)), k = unit(k_in.to(torch::kDouble));
  double total = 0;
  for (int64_t i = 0; i < q.size(0); ++i) {
    double denominator = 0;
    for (int64_t j = 0; j < k.size(0); ++j) denominator += std::exp(torch::dot(q[i], k[j]).item<double>() / temperature);
    total += -std::log(std::exp(torch::dot(q[i], k[i]).item<double>() / temperature) / denominator);
  }
  return total / q.size(0) * 2 * temperature;
}

TEST(TasksMoCoV3, ContrastiveLossMatchesTheAlgorithm) {
  // By hand: q = (1,0), (0,1); k = q; τ = 0.5. Each row: −log(e^2 / (e^2 + e^0)), times 2τ = 1.
  auto eye = torch::eye(2);
  auto [loss, accuracy] = mocov3_contrastive_loss(eye, eye, 0.5);
  EXPECT_NEAR(loss.item<double>(), -std::log(std::exp(2.0) / (std::exp(2.0) + 1.0)), 1e-6);
  EXPECT_DOUBLE_EQ(accuracy.item<double>(), 1.0);

  torch::manual_seed(7);
  auto q = torch::randn({6, 5}), k = torch::randn({6, 5});
  for (double temperature : {0.2, 1.0}) {
    EXPECT_NEAR(mocov3_contrastive_loss(q, k, temperature).first.item<double>(), reference_mocov3(q, k, temperature),
                1e-4);
  }
  auto queries = q.clone().requires_grad_(true), keys = k.clone().requires_grad_(true);
  mocov3_contrastive_loss(queries, keys, 0.2).first.backward();
  EXPECT_TRUE(queries.grad().defined());
  EXPECT_FALSE(keys.grad().defined());
}

TEST(TasksMoCoV3, StepTrainsTheQueryNetworkOnlyAndTheKeysFollow) {
  torch::manual_seed(0);
  auto context = tiny_context({{"projector_hidden_dim", 64}, {"projector_out_dim", 16}, {"predictor_hidden_dim", 64}});
  MoCoV3Task task(context, MoCoV3Options::from_json(context.options));
  EXPECT_EQ(task.options_json()["projector_layers"], 3);
  EXPECT_EQ(task.options_json()["augment_view2"]["solarize_probability"], 0.2);
  // Cosine schedule at half the run: 1 − 0.01·(cos(π/2) + 1)/2 = 0.995.
  check_step_and_momentum_update(task, {{"key_encoder.", "encoder."}, {"key_projector.", "projector."}},
                                 TrainState{5, 10, 0}, 0.995);
  EXPECT_NEAR(task.momentum(), 0.995, 1e-12);
}

// ---------------------------------------------------------------------------------------------
// BYOL

TEST(TasksBYOL, LossIsTwoMinusTwoCosine) {
  // By hand: p ⟂ z gives 2, p ∥ z (any length) gives 0, opposite gives 4: mean 2.
  auto p = torch::tensor({{1.0, 0.0}, {1.0, 0.0}, {0.0, 3.0}});
  auto z = torch::tensor({{0.0, 1.0}, {2.0, 0.0}, {0.0, -1.0}});
  EXPECT_NEAR(byol_loss(p, z).item<double>(), 2.0, 1e-6);

  torch::manual_seed(2);
  auto a = torch::randn({6, 5}), b = torch::randn({6, 5});
  double reference = 0;
  for (int64_t i = 0; i < 6; ++i) reference += 2 - 2 * cosine(a[i].to(torch::kDouble), b[i].to(torch::kDouble));
  EXPECT_NEAR(byol_loss(a, b).item<double>(), reference / 6, 1e-5);
  // ‖p̄ − z̄‖² form of paper eq. 2.
  EXPECT_NEAR(byol_loss(a, b).item<double>(), (unit(a) - unit(b)).pow(2).sum(1).mean().item<double>(), 1e-5);

  auto prediction = a.clone().requires_grad_(true), target = b.clone().requires_grad_(true);
  byol_loss(prediction, target).backward();
  EXPECT_TRUE(prediction.grad().defined());
  EXPECT_FALSE(target.grad().defined());
}

TEST(TasksBYOL, StepTrainsTheOnlineNetworkOnlyAndTheTargetFollows) {
  torch::manual_seed(0);
  auto context = tiny_context({{"projector_hidden_dim", 64}, {"projector_out_dim", 16}, {"predictor_hidden_dim", 64}});
  BYOLTask task(context, BYOLOptions::from_json(context.options));
  // Symmetrized: two directions of 2 − 2·cos, so between 0 and 8.
  auto output = task.step(tiny_batch(8));
  EXPECT_GE(output.loss.item<double>(), 0.0);
  EXPECT_LE(output.loss.item<double>(), 8.0);
  check_step_and_momentum_update(task, {{"target_encoder.", "encoder."}, {"target_projector.", "projector."}},
                                 TrainState{3, 12, 0}, cosine_momentum(0.99, 0.25));
}

TEST(TasksBYOL, ViewsAreAsymmetricAndOverridable) {
  auto options = BYOLOptions::from_json(
      {{"augment", {{"size", 20}}}, {"augment_view2", {{"solarize_probability", 0.5}}}});
  EXPECT_EQ(options.augment.view1.size, 20);
  EXPECT_EQ(options.augment.view2.size, 20);
  EXPECT_DOUBLE_EQ(options.augment.view1.solarize_probability, 0.0);
  EXPECT_DOUBLE_EQ(options.augment.view2.solarize_probability, 0.5);
  EXPECT_EQ(BYOLOptions::from_json(options.to_json()).to_json(), options.to_json());
  EXPECT_THROW(BYOLOptions::from_json({{"augment_view3", nlohmann::json::object()}}), ConfigError);
  EXPECT_THROW(BYOLOptions::from_json({{"augment", 3}}), ConfigError);
  EXPECT_THROW(BYOLOptions::from_json({{"momentum", -0.1}}), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// SimSiam

TEST(TasksSimSiam, LossIsTheSymmetrizedNegativeCosine) {
  torch::manual_seed(4);
  auto p1 = torch::randn({5, 6}), p2 = torch::randn({5, 6}), z1 = torch::randn({5, 6}), z2 = torch::randn({5, 6});
  double reference = 0;
  for (int64_t i = 0; i < 5; ++i) {
    reference += -cosine(p1[i].to(torch::kDouble), z2[i].to(torch::kDouble)) / 2 -
                 cosine(p2[i].to(torch::kDouble), z1[i].to(torch::kDouble)) / 2;
  }
  EXPECT_NEAR(simsiam_loss(p1, p2, z1, z2).item<double>(), reference / 5, 1e-5);
  // By hand: p equal to the other view's z gives the minimum, −1.
  EXPECT_NEAR(simsiam_loss(z2, z1, z1, z2).item<double>(), -1.0, 1e-6);

  // The stop-gradient: z gets a gradient only when it is removed.
  for (bool stop_gradient : {true, false}) {
    auto q = p1.clone().requires_grad_(true), z = z2.clone().requires_grad_(true);
    simsiam_loss(q, q, z, z, stop_gradient).backward();
    EXPECT_TRUE(q.grad().defined());
    EXPECT_EQ(z.grad().defined(), !stop_gradient);
  }
}

TEST(TasksSimSiam, OutputStdIsZeroForAConstantOutput) {
  EXPECT_NEAR(normalized_output_std(torch::ones({8, 4}) * 3), 0.0, 1e-7);
  // ± the unit vectors e1 and e2 (D = 2), four each: every dimension takes 0 or ±1.
  auto spread = torch::tensor({{1.0, 0.0}, {-1.0, 0.0}, {0.0, 1.0}, {0.0, -1.0}}).repeat({2, 1});
  EXPECT_NEAR(normalized_output_std(spread), std::sqrt(4.0 / 7.0), 1e-6);  // unbiased std of {±1,0,0}×2
}

TEST(TasksSimSiam, StepGivesGradientsToEncoderProjectorAndPredictor) {
  torch::manual_seed(0);
  auto context = tiny_context({{"projector_hidden_dim", 64}, {"projector_out_dim", 32}});
  SimSiamTask task(context, SimSiamOptions::from_json(context.options));
  EXPECT_EQ(task.options_json()["predictor_hidden_dim"], 8);  // 32 / 4: the paper's bottleneck ratio
  auto output = task.step(tiny_batch(8));
  EXPECT_GE(output.loss.item<double>(), -1.0);
  EXPECT_LE(output.loss.item<double>(), 1.0);
  output.loss.backward();
  for (const auto& item : task.named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
  }
  EXPECT_EQ(output.stats[0].first, "cosine");
  EXPECT_EQ(output.stats[1].first, "output_std");
}

// SimSiam §4.1 / fig. 2: without the stop-gradient the loss reaches its minimum −1 and the
// ℓ2-normalised outputs collapse to a constant (per-dimension std → 0). The projector's output
// BN is switched off here: with it (the default) each output dimension keeps unit variance over
// the batch, which rules the constant solution out — in the same 60 steps that run only falls to
// a loss near −0.85 with the std halved, no constant.
struct SimSiamRun {
  double loss = 0;
  double output_std = 0;  // × √D: about 1 when spread, 0 when constant
};

SimSiamRun train_simsiam(bool stop_gradient, int steps) {
  torch::manual_seed(0);
  auto context = tiny_context({{"projector_hidden_dim", 64},
                               {"projector_out_dim", 64},
                               {"projector_output_batch_norm", false},
                               {"stop_gradient", stop_gradient}});
  SimSiamTask task(context, SimSiamOptions::from_json(context.options));
  Batch batch = tiny_batch(32);
  torch::optim::SGD optimizer(task.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  SimSiamRun run;
  for (int step = 0; step < steps; ++step) {
    auto output = task.step(batch);
    optimizer.zero_grad();
    output.loss.backward();
    optimizer.step();
    run.loss = output.loss.item<double>();
    run.output_std = output.stats[1].second * std::sqrt(64.0);
  }
  return run;
}

TEST(TasksSimSiam, WithoutTheStopGradientItCollapses) {
  const SimSiamRun without = train_simsiam(false, 60);
  EXPECT_LT(without.loss, -0.99);
  EXPECT_LT(without.output_std, 0.1);
  // The same run with the stop-gradient: neither the minimum loss nor a constant output
  // (measured: loss about −0.65, std about 0.73).
  const SimSiamRun with = train_simsiam(true, 60);
  EXPECT_GT(with.loss, -0.9);
  EXPECT_GT(with.output_std, 0.5);
}

}  // namespace
}  // namespace pretext
