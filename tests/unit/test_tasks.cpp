#include <gtest/gtest.h>

#include <cmath>

#include "pretext/tasks/rotation.h"
#include "pretext/tasks/simclr.h"
#include "test_files.h"

namespace pretext {
namespace {

// NT-Xent written out as in SimCLR eq. 1, one anchor at a time, in double precision.
double reference_nt_xent(const torch::Tensor& z1, const torch::Tensor& z2, double temperature) {
  auto z = torch::cat({z1, z2}).to(torch::kDouble);
  z = z / z.norm(2, 1, true);
  const int64_t n = z.size(0), half = n / 2;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t positive = i < half ? i + half : i - half;
    double denominator = 0;
    for (int64_t k = 0; k < n; ++k) {
      if (k != i) denominator += std::exp(torch::dot(z[i], z[k]).item<double>() / temperature);
    }
    total += -std::log(std::exp(torch::dot(z[i], z[positive]).item<double>() / temperature) / denominator);
  }
  return total / n;
}

TEST(TasksSimCLR, NtXentMatchesAHandComputedValue) {
  // Two pairs of 2-D unit vectors: the positives are 60° apart, the negatives 90° and 150°.
  // By hand: with τ = 1, anchor a1 sees exp(cos 60°)=e^0.5 against e^0 + e^cos150°…
  auto z1 = torch::tensor({{1.0, 0.0}, {0.0, 1.0}});
  auto z2 = torch::tensor({{0.5, std::sqrt(3.0) / 2}, {-std::sqrt(3.0) / 2, 0.5}});
  const double e = std::exp(1.0);
  // a1=(1,0): sims to b1 0.5, a2 0, b2 -0.866. a2=(0,1): b2 0.5, a1 0, b1 0.866.
  // b1: a1 0.5, a2 0.866, b2 0. b2: a2 0.5, a1 -0.866, b1 0.
  const double c = std::sqrt(3.0) / 2;
  auto term = [&](double positive, double other1, double other2) {
    return -std::log(std::pow(e, positive) / (std::pow(e, positive) + std::pow(e, other1) + std::pow(e, other2)));
  };
  const double by_hand = (term(0.5, 0.0, -c) + term(0.5, 0.0, c) + term(0.5, c, 0.0) + term(0.5, -c, 0.0)) / 4;
  auto [loss, accuracy] = nt_xent_loss(z1, z2, 1.0);
  EXPECT_NEAR(loss.item<double>(), by_hand, 1e-6);
  EXPECT_NEAR(accuracy.item<double>(), 0.5, 1e-6);  // a2 and b1 prefer a 0.866 negative
}

TEST(TasksSimCLR, NtXentMatchesTheEquationOnRandomEmbeddings) {
  torch::manual_seed(3);
  auto z1 = torch::randn({6, 5});
  auto z2 = torch::randn({6, 5});
  for (double temperature : {0.1, 0.5}) {
    auto [loss, accuracy] = nt_xent_loss(z1, z2, temperature);
    EXPECT_NEAR(loss.item<double>(), reference_nt_xent(z1, z2, temperature), 1e-4) << "temperature " << temperature;
  }
  // Identical views of well separated points: the loss falls towards its floor and every
  // positive is found.
  auto separated = torch::eye(4) * 10;
  auto [loss, accuracy] = nt_xent_loss(separated, separated, 0.1);
  EXPECT_DOUBLE_EQ(accuracy.item<double>(), 1.0);
  EXPECT_LT(loss.item<double>(), 0.01);
}

TaskContext tiny_context() {
  TaskContext context;
  context.encoder.name = "convnet";
  context.encoder.width = 8;
  context.encoder.in_channels = 1;
  context.encoder.image_size = 16;
  context.mean = {0.5};
  context.std = {0.25};
  context.seed = 1;
  return context;
}

using testing_files::tiny_batch;

TEST(TasksSimCLR, StepGivesAFiniteLossWithGradientsForEncoderAndProjector) {
  torch::manual_seed(0);
  auto task = make_task("simclr", tiny_context());
  auto output = task->step(tiny_batch(8));
  EXPECT_TRUE(std::isfinite(output.loss.item<double>()));
  // 2B = 16 candidates: a random network's loss is near log(15).
  EXPECT_NEAR(output.loss.item<double>(), std::log(15.0), 1.5);
  output.loss.backward();
  int64_t with_grad = 0, total = 0;
  for (const auto& parameter : task->parameters()) {
    ++total;
    with_grad += parameter.grad().defined() && parameter.grad().abs().sum().item<double>() > 0 ? 1 : 0;
  }
  EXPECT_EQ(with_grad, total);
  EXPECT_EQ(task->options_json()["temperature"], 0.2);
}

TEST(TasksSimCLR, OptionsAreCheckedByName) {
  auto context = tiny_context();
  context.options = {{"temprature", 0.1}};
  EXPECT_THROW(make_task("simclr", context), ConfigError);
  context.options = {{"temperature", -1.0}};
  EXPECT_THROW(make_task("simclr", context), ConfigError);
  context.options = {{"temperature", 0.1}, {"augment", {{"blur_probability", 0.0}}}};
  auto task = make_task("simclr", context);
  EXPECT_EQ(task->options_json()["augment"]["blur_probability"], 0.0);
}

TEST(TasksRotation, PredictsFourRotationsOfEveryImage) {
  torch::manual_seed(0);
  auto task = make_task("rotation", tiny_context());
  auto output = task->step(tiny_batch(6));
  // A 4-way classifier at initialisation: loss near log 4.
  EXPECT_NEAR(output.loss.item<double>(), std::log(4.0), 0.7);
  ASSERT_EQ(output.stats.size(), 1u);
  EXPECT_EQ(output.stats[0].first, "rotation_acc");
}

TEST(TasksRotation, LearnsToTellRotationsApartOnAFixedPattern) {
  // An asymmetric pattern is easy to orient: a few steps must push accuracy to 100%.
  torch::manual_seed(0);
  auto context = tiny_context();
  context.options = {{"augment", {{"crop", false}, {"flip_probability", 0.0}}}};
  auto task = make_task("rotation", context);
  Batch batch = tiny_batch(8);
  batch.input.zero_();
  batch.input.slice(1, 0, 4).slice(2, 0, 10).fill_(255);  // a bar in the top-left
  torch::optim::Adam optimizer(task->parameters(), torch::optim::AdamOptions(1e-2));
  double accuracy = 0;
  for (int step = 0; step < 40; ++step) {
    auto output = task->step(batch);
    optimizer.zero_grad();
    output.loss.backward();
    optimizer.step();
    accuracy = output.stats[0].second;
  }
  EXPECT_EQ(accuracy, 1.0);
}

TEST(TasksRegistry, UnknownTaskNamesTheKnownOnes) {
  try {
    make_task("simclrr", tiny_context());
    FAIL() << "no throw";
  } catch (const ConfigError& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("simclrr"), std::string::npos);
    EXPECT_NE(message.find("rotation"), std::string::npos);
  }
}

class ConstantTask : public PretextTask {
 public:
  explicit ConstantTask(const TaskContext& context) : PretextTask("ConstantTask", context.seed) {
    encoder_ = register_module("encoder", make_encoder(context.encoder));
  }
  Output step(const Batch& batch) override {
    Output output;
    output.loss = encoder_->forward(torch::zeros({2, 1, 16, 16})).sum() * 0;
    return output;
  }
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return nlohmann::json::object(); }

 private:
  EncoderPtr encoder_;
};

TEST(TasksRegistry, AUserTaskRegistersByName) {
  static TaskRegistrar registrar(
      "constant-test-task", [](const TaskContext& context) { return std::make_shared<ConstantTask>(context); },
      "a test task");
  EXPECT_TRUE(task_registry().contains("constant-test-task"));
  auto task = make_task("constant-test-task", tiny_context());
  EXPECT_EQ(task->step(tiny_batch(2)).loss.item<double>(), 0.0);
}

}  // namespace
}  // namespace pretext
