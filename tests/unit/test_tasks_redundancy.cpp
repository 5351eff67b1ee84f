#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "pretext/core/runtime.h"
#include "pretext/tasks/barlow_twins.h"
#include "pretext/tasks/dino.h"
#include "pretext/tasks/momentum.h"
#include "pretext/tasks/vicreg.h"
#include "test_files.h"

namespace pretext {
namespace {

using Matrix = std::vector<std::vector<double>>;

Matrix to_matrix(const torch::Tensor& tensor) {
  torch::Tensor t = tensor.to(torch::kDouble).contiguous();
  Matrix out(t.size(0), std::vector<double>(t.size(1)));
  for (int64_t i = 0; i < t.size(0); ++i) {
    for (int64_t j = 0; j < t.size(1); ++j) out[i][j] = t[i][j].item<double>();
  }
  return out;
}

// Per-column mean and variance (biased: divide by n, or unbiased: n − 1) of a [n, d] matrix.
std::vector<double> column_means(const Matrix& z) {
  std::vector<double> means(z[0].size(), 0.0);
  for (const auto& row : z) {
    for (size_t j = 0; j < row.size(); ++j) means[j] += row[j] / z.size();
  }
  return means;
}

std::vector<double> column_variances(const Matrix& z, bool unbiased) {
  auto means = column_means(z);
  std::vector<double> variances(means.size(), 0.0);
  for (const auto& row : z) {
    for (size_t j = 0; j < row.size(); ++j) variances[j] += (row[j] - means[j]) * (row[j] - means[j]);
  }
  for (auto& value : variances) value /= unbiased ? z.size() - 1 : z.size();
  return variances;
}

// Barlow Twins eq. 1–2, entry by entry, in double precision (ε = 1e-5 as BatchNorm1d).
double reference_barlow(const torch::Tensor& z1_tensor, const torch::Tensor& z2_tensor, double lambda) {
  Matrix z1 = to_matrix(z1_tensor), z2 = to_matrix(z2_tensor);
  const size_t n = z1.size(), d = z1[0].size();
  auto m1 = column_means(z1), m2 = column_means(z2);
  auto v1 = column_variances(z1, false), v2 = column_variances(z2, false);
  double loss = 0;
  for (size_t i = 0; i < d; ++i) {
    for (size_t j = 0; j < d; ++j) {
      double c = 0;
      for (size_t b = 0; b < n; ++b) {
        c += (z1[b][i] - m1[i]) / std::sqrt(v1[i] + 1e-5) * (z2[b][j] - m2[j]) / std::sqrt(v2[j] + 1e-5);
      }
      c /= n;
      loss += i == j ? (1 - c) * (1 - c) : lambda * c * c;
    }
  }
  return loss;
}

// Orthogonal, zero-mean ±1 columns (three columns of a 4×4 Hadamard matrix): perfectly
// decorrelated dimensions with biased variance 1.
torch::Tensor decorrelated_embeddings() {
  return torch::tensor({{1.0, 1.0, 1.0}, {1.0, -1.0, -1.0}, {-1.0, 1.0, -1.0}, {-1.0, -1.0, 1.0}});
}

TEST(TasksBarlowTwins, LossMatchesANaiveLoopOnRandomEmbeddings) {
  torch::manual_seed(5);
  auto z1 = torch::randn({6, 4}) * 2 + 1;
  auto z2 = z1 * 0.5 + torch::randn({6, 4});
  for (double lambda : {0.0051, 0.5}) {
    auto terms = barlow_twins_loss(z1, z2, lambda);
    EXPECT_NEAR(terms.loss.item<double>(), reference_barlow(z1, z2, lambda), 1e-4) << "lambda " << lambda;
    EXPECT_NEAR(terms.on_diagonal.item<double>() + lambda * terms.off_diagonal.item<double>(),
                terms.loss.item<double>(), 1e-5);
  }
  auto scaled = barlow_twins_loss(z1, z2, 0.5, 0.1);
  EXPECT_NEAR(scaled.loss.item<double>(), 0.1 * reference_barlow(z1, z2, 0.5), 1e-5);
}

TEST(TasksBarlowTwins, HandCheckedCases) {
  auto z = decorrelated_embeddings();
  // Identical, perfectly decorrelated embeddings: C = I (up to ε), loss 0.
  auto same = barlow_twins_loss(z, z, 0.0051);
  EXPECT_NEAR(same.loss.item<double>(), 0.0, 1e-8);
  // Per-dimension standardisation: shifting and scaling a dimension changes nothing.
  auto rescaled = barlow_twins_loss(z * torch::tensor({3.0, 0.5, 7.0}) + 2, z, 0.0051);
  EXPECT_NEAR(rescaled.loss.item<double>(), 0.0, 1e-8);
  // Opposite views: C = −I, so Σ (1 − (−1))² = 4·D = 12 and no redundancy.
  auto opposite = barlow_twins_loss(z, -z, 0.0051);
  EXPECT_NEAR(opposite.on_diagonal.item<double>(), 12.0, 1e-3);
  EXPECT_NEAR(opposite.off_diagonal.item<double>(), 0.0, 1e-8);
  // Two copies of one dimension: C_01 = C_10 = 1 are redundancy, the diagonal is fine.
  auto redundant = torch::stack({z.select(1, 0), z.select(1, 0)}, 1);
  auto copies = barlow_twins_loss(redundant, redundant, 0.5);
  EXPECT_NEAR(copies.off_diagonal.item<double>(), 2.0, 1e-3);
  EXPECT_NEAR(copies.loss.item<double>(), 0.5 * 2.0, 1e-3);
}

TEST(TasksBarlowTwins, CrossCorrelationStaysFloat32UnderBf16Autocast) {
  torch::manual_seed(6);
  auto z1 = torch::randn({16, 32}).to(torch::kBFloat16), z2 = torch::randn({16, 32}).to(torch::kBFloat16);
  auto exact = barlow_cross_correlation(z1.to(torch::kFloat32), z2.to(torch::kFloat32));
  torch::Tensor under_autocast;
  {
    AutocastGuard autocast(torch::kCPU, true);
    // Autocast is really on: a plain float32 product comes out in bf16.
    ASSERT_EQ(torch::matmul(z1.to(torch::kFloat32).t(), z2.to(torch::kFloat32)).scalar_type(), torch::kBFloat16);
    under_autocast = barlow_cross_correlation(z1, z2);
  }
  EXPECT_EQ(under_autocast.scalar_type(), torch::kFloat32);
  // A bf16 product would be off by ~1e-3; float32 agrees to rounding.
  EXPECT_LT((under_autocast - exact).abs().max().item<double>(), 1e-6);
}

// VICReg eq. 1–6 in double precision (invariance averaged over N·D, as the authors' code).
struct ReferenceVICReg {
  double invariance = 0, variance = 0, covariance = 0;
};

ReferenceVICReg reference_vicreg(const torch::Tensor& z1_tensor, const torch::Tensor& z2_tensor, double gamma,
                                 double epsilon) {
  Matrix z1 = to_matrix(z1_tensor), z2 = to_matrix(z2_tensor);
  const size_t n = z1.size(), d = z1[0].size();
  ReferenceVICReg out;
  for (size_t b = 0; b < n; ++b) {
    for (size_t j = 0; j < d; ++j) out.invariance += (z1[b][j] - z2[b][j]) * (z1[b][j] - z2[b][j]) / (n * d);
  }
  for (const Matrix* z : {&z1, &z2}) {
    auto variances = column_variances(*z, true);
    auto means = column_means(*z);
    for (size_t j = 0; j < d; ++j) out.variance += std::max(0.0, gamma - std::sqrt(variances[j] + epsilon)) / d;
    for (size_t i = 0; i < d; ++i) {
      for (size_t j = 0; j < d; ++j) {
        if (i == j) continue;
        double c = 0;
        for (size_t b = 0; b < n; ++b) c += ((*z)[b][i] - means[i]) * ((*z)[b][j] - means[j]);
        c /= n - 1;
        out.covariance += c * c / d;
      }
    }
  }
  return out;
}

TEST(TasksVICReg, LossMatchesANaiveLoopOnRandomEmbeddings) {
  torch::manual_seed(7);
  // Some dimensions with a standard deviation under 1 and some over, so the hinge is exercised.
  auto z1 = torch::randn({7, 5}) * torch::tensor({0.3, 2.0, 0.8, 1.5, 0.1});
  auto z2 = z1 + 0.3 * torch::randn({7, 5});
  VICRegOptions options;
  auto terms = vicreg_loss(z1, z2, options);
  auto expected = reference_vicreg(z1, z2, 1.0, 1e-4);
  EXPECT_NEAR(terms.invariance.item<double>(), expected.invariance, 1e-5);
  EXPECT_NEAR(terms.variance.item<double>(), expected.variance, 1e-5);
  EXPECT_NEAR(terms.covariance.item<double>(), expected.covariance, 1e-4);
  EXPECT_NEAR(terms.loss.item<double>(), 25 * expected.invariance + 25 * expected.variance + expected.covariance, 1e-3);

  options.invariance_weight = 2;
  options.variance_weight = 3;
  options.covariance_weight = 0.5;
  options.variance_target = 1.5;
  auto weighted = vicreg_loss(z1, z2, options);
  auto expected_weighted = reference_vicreg(z1, z2, 1.5, 1e-4);
  EXPECT_NEAR(weighted.loss.item<double>(),
              2 * expected_weighted.invariance + 3 * expected_weighted.variance + 0.5 * expected_weighted.covariance,
              1e-4);
}

TEST(TasksVICReg, HandCheckedCases) {
  VICRegOptions options;
  // Identical, decorrelated embeddings with standard deviation 2 ≥ γ: every term is 0.
  auto z = decorrelated_embeddings() * 2;
  auto ideal = vicreg_loss(z, z, options);
  EXPECT_NEAR(ideal.loss.item<double>(), 0.0, 1e-6);
  // Collapse to a constant: invariance and covariance 0, each branch's hinge at γ − √ε = 0.99.
  auto constant = torch::ones({4, 3});
  auto collapsed = vicreg_loss(constant, constant, options);
  EXPECT_NEAR(collapsed.variance.item<double>(), 2 * 0.99, 1e-5);
  EXPECT_NEAR(collapsed.loss.item<double>(), 25 * 2 * 0.99, 1e-4);
}

TEST(TasksVICReg, StaysFloat32UnderBf16Autocast) {
  torch::manual_seed(8);
  auto z1 = torch::randn({16, 32}).to(torch::kBFloat16), z2 = torch::randn({16, 32}).to(torch::kBFloat16);
  VICRegOptions options;
  auto exact = vicreg_loss(z1.to(torch::kFloat32), z2.to(torch::kFloat32), options);
  AutocastGuard autocast(torch::kCPU, true);
  auto terms = vicreg_loss(z1, z2, options);
  EXPECT_EQ(terms.loss.scalar_type(), torch::kFloat32);
  EXPECT_NEAR(terms.covariance.item<double>(), exact.covariance.item<double>(), 1e-5);
}

// DINO's loss, one crop pair and one sample at a time, in double precision.
double reference_dino(const std::vector<torch::Tensor>& student, const std::vector<torch::Tensor>& teacher,
                      const torch::Tensor& centre, double student_temperature, double teacher_temperature) {
  double total = 0;
  int pairs = 0;
  const int64_t batch = student[0].size(0), classes = student[0].size(1);
  for (size_t i = 0; i < teacher.size(); ++i) {
    Matrix t = to_matrix(teacher[i]);
    for (size_t v = 0; v < student.size(); ++v) {
      if (v == i) continue;
      Matrix s = to_matrix(student[v]);
      double pair_loss = 0;
      for (int64_t b = 0; b < batch; ++b) {
        double teacher_sum = 0, student_sum = 0;
        for (int64_t k = 0; k < classes; ++k) {
          teacher_sum += std::exp((t[b][k] - centre[k].item<double>()) / teacher_temperature);
          student_sum += std::exp(s[b][k] / student_temperature);
        }
        for (int64_t k = 0; k < classes; ++k) {
          const double p = std::exp((t[b][k] - centre[k].item<double>()) / teacher_temperature) / teacher_sum;
          const double log_q = s[b][k] / student_temperature - std::log(student_sum);
          pair_loss -= p * log_q;
        }
      }
      total += pair_loss / batch;
      ++pairs;
    }
  }
  return total / pairs;
}

TEST(TasksDINO, LossMatchesANaiveLoopOverCropPairs) {
  torch::manual_seed(9);
  std::vector<torch::Tensor> student, teacher;
  for (int crop = 0; crop < 4; ++crop) student.push_back(torch::randn({3, 5}) * 0.3);  // 2 global + 2 local
  for (int crop = 0; crop < 2; ++crop) teacher.push_back(torch::randn({3, 5}) * 0.3);
  auto centre = torch::randn({5}) * 0.1;
  for (double teacher_temperature : {0.04, 0.07}) {
    auto [loss, entropy] = dino_loss(student, teacher, centre, 0.1, teacher_temperature);
    EXPECT_NEAR(loss.item<double>(), reference_dino(student, teacher, centre, 0.1, teacher_temperature), 1e-4)
        << "teacher temperature " << teacher_temperature;
  }
  // 2 global crops only: the pairs are (t0, s1) and (t1, s0).
  std::vector<torch::Tensor> globals(student.begin(), student.begin() + 2);
  auto [loss, entropy] = dino_loss(globals, teacher, centre, 0.1, 0.04);
  EXPECT_NEAR(loss.item<double>(), reference_dino(globals, teacher, centre, 0.1, 0.04), 1e-4);
  // The teacher side carries no gradient.
  auto teacher_logits = teacher[0].clone().requires_grad_(true);
  auto student_logits = student[1].clone().requires_grad_(true);
  auto [graph_loss, unused] = dino_loss({student[0], student_logits}, {teacher_logits, teacher[1]}, centre, 0.1, 0.04);
  graph_loss.backward();
  EXPECT_TRUE(student_logits.grad().defined());
  EXPECT_FALSE(teacher_logits.grad().defined());
}

TEST(TasksDINO, CentreIsAnEmaOfTheTeachersBatchMean) {
  auto centre = torch::tensor({1.0, 2.0});
  auto teacher = torch::tensor({{3.0, 4.0}, {5.0, 6.0}});  // batch mean (4, 5)
  auto updated = updated_centre(centre, teacher, 0.9);     // 0.9·(1, 2) + 0.1·(4, 5)
  EXPECT_NEAR(updated[0].item<double>(), 1.3, 1e-6);
  EXPECT_NEAR(updated[1].item<double>(), 2.3, 1e-6);
}

TEST(TasksDINO, TeacherTemperatureWarmsUpLinearlyThenHolds) {
  DINOOptions options;  // 0.04 → 0.07 over the first 10% of the run
  EXPECT_DOUBLE_EQ(options.teacher_temperature_at(0.0), 0.04);
  EXPECT_NEAR(options.teacher_temperature_at(0.05), 0.055, 1e-12);
  EXPECT_DOUBLE_EQ(options.teacher_temperature_at(0.1), 0.07);
  EXPECT_DOUBLE_EQ(options.teacher_temperature_at(0.5), 0.07);
  EXPECT_DOUBLE_EQ(options.teacher_temperature_at(1.0), 0.07);
  options.teacher_temperature_warmup = 0;
  EXPECT_DOUBLE_EQ(options.teacher_temperature_at(0.0), 0.07);
}

TaskContext narrow_context(nlohmann::json options = nlohmann::json::object()) {
  TaskContext context;
  context.encoder.name = "convnet";
  context.encoder.width = 4;
  context.encoder.in_channels = 1;
  context.encoder.image_size = 16;
  context.mean = {0.5};
  context.std = {0.25};
  context.seed = 1;
  context.options = std::move(options);
  return context;
}

using testing_files::tiny_batch;

nlohmann::json small_dino() {
  return {{"head_hidden_dim", 32}, {"head_bottleneck_dim", 8}, {"prototypes", 16}, {"multicrop", {{"local_crops", 2}}}};
}

// How many trainable parameters the loss's graph did not reach. (A bias right before a
// per-dimension standardisation has an analytically zero gradient, so reached is what counts.)
int64_t parameters_without_gradient(const PretextTask& task) {
  int64_t missing = 0;
  for (const auto& item : task.named_parameters()) {
    if (item.value().requires_grad() && !item.value().grad().defined()) ++missing;
  }
  return missing;
}

TEST(TasksRedundancyFamily, StepsGiveFiniteLossesGradientsAndBothEmbeddings) {
  const nlohmann::json small_projector = {{"projector_hidden_dim", 32}, {"projector_out_dim", 16}};
  for (const auto& [name, options] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"barlow-twins", small_projector}, {"vicreg", small_projector}, {"dino", small_dino()}}) {
    torch::manual_seed(0);
    auto task = make_task(name, narrow_context(options));
    auto output = task->step(tiny_batch(6));
    EXPECT_TRUE(std::isfinite(output.loss.item<double>())) << name;
    output.loss.backward();
    // DINO's prototype layer is frozen in the first epoch; everything else learns.
    EXPECT_EQ(parameters_without_gradient(*task), name == "dino" ? 1 : 0) << name;
    const int64_t dim = task->encoder()->dim();
    ASSERT_TRUE(output.embedding.defined() && output.embedding_pair.defined()) << name;
    EXPECT_EQ(output.embedding.sizes(), torch::IntArrayRef({6, dim})) << name;
    EXPECT_EQ(output.embedding_pair.sizes(), torch::IntArrayRef({6, dim})) << name;
    EXPECT_FALSE(output.embedding.requires_grad()) << name;
    EXPECT_FALSE(torch::allclose(output.embedding, output.embedding_pair)) << name;
    EXPECT_GE(output.stats.size(), 2u) << name;
  }
}

TEST(TasksRedundancyFamily, OptionsAreCheckedByNameAndKeepTheirDefaults) {
  EXPECT_THROW(make_task("barlow-twins", narrow_context({{"redundancy_wieght", 0.1}})), ConfigError);
  EXPECT_THROW(make_task("barlow-twins", narrow_context({{"loss_scale", 0.0}})), ConfigError);
  EXPECT_THROW(make_task("vicreg", narrow_context({{"variance_weight", -1.0}})), ConfigError);
  EXPECT_THROW(make_task("vicreg", narrow_context({{"augment1", {{"blur", 1.0}}}})), ConfigError);
  EXPECT_THROW(make_task("dino", narrow_context({{"student_temperature", 0.0}})), ConfigError);
  EXPECT_THROW(make_task("dino", narrow_context({{"multicrop", {{"local_crops", -2}}}})), ConfigError);

  auto barlow = make_task("barlow-twins", narrow_context({{"augment2", {{"solarize_probability", 0.5}}}}))->options_json();
  EXPECT_EQ(barlow["redundancy_weight"], 0.0051);
  EXPECT_EQ(barlow["projector_out_dim"], 2048);
  EXPECT_EQ(barlow["augment2"]["solarize_probability"], 0.5);
  EXPECT_EQ(barlow["augment2"]["blur_probability"], 0.1);  // the task's default, not ImageAugment's
  EXPECT_EQ(barlow["augment1"]["size"], 16);               // filled in from the encoder
  auto vicreg = VICRegOptions::from_json(nlohmann::json::object()).to_json();
  EXPECT_EQ(vicreg["invariance_weight"], 25.0);
  EXPECT_EQ(vicreg["variance_epsilon"], 1e-4);
  auto dino = DINOOptions::from_json({{"multicrop", {{"local_crops", 3}}}}).to_json();
  EXPECT_EQ(dino["multicrop"]["local_crops"], 3);
  EXPECT_EQ(dino["multicrop"]["global_scale"], (std::vector<double>{0.4, 1.0}));
  EXPECT_EQ(dino["teacher_momentum"], 0.996);
  EXPECT_EQ(DINOOptions::from_json(dino).to_json(), dino);
}

TEST(TasksDINO, TeacherFollowsTheStudentAsAnEmaAndTheCentreMoves) {
  torch::manual_seed(0);
  auto options = small_dino();
  options["freeze_last_layer_epochs"] = 0;
  auto made = make_task("dino", narrow_context(options));
  auto* task = dynamic_cast<DINOTask*>(made.get());
  ASSERT_NE(task, nullptr);
  // The teacher starts as a frozen copy of the student.
  auto student_parameters = task->head()->named_parameters();
  auto teacher_parameters = task->teacher_head()->named_parameters();
  for (const auto& item : student_parameters) {
    EXPECT_TRUE(torch::equal(item.value(), teacher_parameters[item.key()])) << item.key();
    EXPECT_FALSE(teacher_parameters[item.key()].requires_grad()) << item.key();
  }
  for (const auto& parameter : task->teacher_encoder()->parameters()) EXPECT_FALSE(parameter.requires_grad());

  const std::string key = "prototype_directions";
  torch::Tensor teacher_before = teacher_parameters[key].clone();
  std::vector<torch::Tensor> trainable;
  for (const auto& parameter : made->parameters()) {
    if (parameter.requires_grad()) trainable.push_back(parameter);
  }
  torch::optim::SGD optimizer(trainable, torch::optim::SGDOptions(0.5));
  auto output = made->step(tiny_batch(6));
  EXPECT_DOUBLE_EQ(output.stats[0].second, 0.04);  // τ_t at the start of the run
  optimizer.zero_grad();
  output.loss.backward();
  optimizer.step();
  torch::Tensor student_after = student_parameters[key].clone();
  ASSERT_FALSE(torch::equal(student_after, teacher_before));
  EXPECT_TRUE(torch::equal(task->centre(), torch::zeros({16})));  // step() alone leaves it

  TrainState state{5, 10, 0};  // halfway: m = 1 − 0.004·(cos(π/2) + 1)/2 = 0.998
  made->after_update(state);
  const double momentum = cosine_momentum(0.996, 0.5);
  EXPECT_NEAR(momentum, 0.998, 1e-12);
  EXPECT_TRUE(torch::allclose(task->teacher_head()->named_parameters()[key],
                              momentum * teacher_before + (1 - momentum) * student_after, 1e-6, 1e-7));
  EXPECT_GT(task->centre().abs().sum().item<double>(), 0.0);
  EXPECT_EQ(task->train_state().step, 5);
  // Halfway through, the temperature has finished warming up.
  EXPECT_DOUBLE_EQ(made->step(tiny_batch(6)).stats[0].second, 0.07);
}

TEST(TasksDINO, PrototypesAreFrozenOnlyDuringTheFirstEpoch) {
  torch::manual_seed(0);
  auto made = make_task("dino", narrow_context(small_dino()));
  auto* task = dynamic_cast<DINOTask*>(made.get());
  auto prototypes = task->head()->named_parameters()["prototype_directions"];
  made->step(tiny_batch(4)).loss.backward();
  EXPECT_FALSE(prototypes.grad().defined());
  made->after_update(TrainState{3, 10, 1});
  made->step(tiny_batch(4)).loss.backward();
  ASSERT_TRUE(prototypes.grad().defined());
  EXPECT_GT(prototypes.grad().abs().sum().item<double>(), 0.0);
}

TEST(TasksDINO, HeadLogitsAreCosinesWithNormalisedPrototypes) {
  DINOOptions options;
  options.head_hidden_dim = 16;
  options.head_bottleneck_dim = 8;
  options.prototypes = 10;
  DINOHead head(12, options);
  auto logits = head->forward(torch::randn({5, 12}));
  EXPECT_EQ(logits.sizes(), torch::IntArrayRef({5, 10}));
  EXPECT_LE(logits.abs().max().item<double>(), 1.0 + 1e-5);  // |cos| ≤ 1 with g ≡ 1
  options.norm_last_layer = false;
  DINOHead trained_norms(12, options);
  EXPECT_EQ(trained_norms->named_parameters()["prototype_norms"].sizes(), torch::IntArrayRef({10, 1}));
}

}  // namespace
}  // namespace pretext
