#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "pretext/core/runtime.h"
#include "pretext/models/vit.h"
#include "pretext/tasks/mae.h"
#include "test_files.h"

namespace pretext {
namespace {

// MAE's loss written out one sample and one patch at a time, in double precision.
double reference_mae_loss(const torch::Tensor& prediction, const torch::Tensor& target, const torch::Tensor& hidden,
                          bool norm_pix_loss) {
  const int64_t batch = prediction.size(0), patches = prediction.size(1), pixels = prediction.size(2);
  double total = 0, count = 0;
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t n = 0; n < patches; ++n) {
      if (hidden[b][n].item<double>() == 0) continue;
      std::vector<double> t(pixels);
      for (int64_t k = 0; k < pixels; ++k) t[k] = target[b][n][k].item<double>();
      if (norm_pix_loss) {
        double mean = 0;
        for (double v : t) mean += v / pixels;
        double variance = 0;
        for (double v : t) variance += (v - mean) * (v - mean) / (pixels - 1);  // unbiased, as torch.var
        for (double& v : t) v = (v - mean) / std::sqrt(variance + 1e-6);
      }
      double squared = 0;
      for (int64_t k = 0; k < pixels; ++k) {
        const double difference = prediction[b][n][k].item<double>() - t[k];
        squared += difference * difference;
      }
      total += squared / pixels;
      count += 1;
    }
  }
  return total / count;
}

TEST(TasksMAE, LossMatchesANaivePerPatchLoop) {
  // Two images of three 4-pixel patches; the hidden patches differ between the samples.
  auto prediction = torch::tensor({{{0.5, -1.0, 2.0, 0.0}, {1.0, 1.0, 1.0, 1.0}, {0.0, 0.2, 0.4, 0.6}},
                                   {{-0.5, 0.5, -0.5, 0.5}, {3.0, 0.0, 0.0, 0.0}, {0.1, 0.1, 0.1, 0.1}}});
  auto target = torch::tensor({{{1.0, 0.0, 2.0, 1.0}, {0.0, 0.5, 1.0, 1.5}, {2.0, 2.0, 2.0, 2.5}},
                               {{0.0, 0.0, 1.0, 1.0}, {-1.0, 1.0, -1.0, 1.0}, {0.3, 0.2, 0.1, 0.0}}});
  auto hidden = torch::tensor({{1.0, 0.0, 1.0}, {0.0, 1.0, 1.0}});
  // By hand without normalisation: sample 0 patch 0: (0.25 + 1 + 0 + 1)/4 = 0.5625;
  // patch 2: (4 + 3.24 + 2.56 + 3.61)/4 = 3.3525; sample 1 patch 1: (16 + 1 + 1 + 1)/4 = 4.75;
  // patch 2: (0.04 + 0.01 + 0 + 0.01)/4 = 0.015. Mean of the four: 2.17.
  EXPECT_NEAR(mae_loss(prediction, target, hidden, false).item<double>(), 2.17, 1e-6);
  EXPECT_NEAR(mae_loss(prediction, target, hidden, false).item<double>(),
              reference_mae_loss(prediction, target, hidden, false), 1e-6);
  EXPECT_NEAR(mae_loss(prediction, target, hidden, true).item<double>(),
              reference_mae_loss(prediction, target, hidden, true), 1e-5);

  torch::manual_seed(5);
  auto random_prediction = torch::randn({3, 7, 12});
  auto random_target = torch::randn({3, 7, 12}) * 2 + 1;
  auto random_hidden = (torch::rand({3, 7}) < 0.6).to(torch::kFloat32);
  random_hidden[0][0] = 1;
  for (bool norm_pix_loss : {false, true}) {
    EXPECT_NEAR(mae_loss(random_prediction, random_target, random_hidden, norm_pix_loss).item<double>(),
                reference_mae_loss(random_prediction, random_target, random_hidden, norm_pix_loss), 1e-4)
        << "norm_pix_loss " << norm_pix_loss;
  }
  // Visible patches do not count: changing their prediction leaves the loss as it was.
  auto changed = prediction.clone();
  changed[0][1].fill_(100.0);
  EXPECT_DOUBLE_EQ(mae_loss(changed, target, hidden, true).item<double>(),
                   mae_loss(prediction, target, hidden, true).item<double>());
}

TEST(TasksMAE, MaskKeepsExactlyTheRoundedShareAndDiffersBetweenSamples) {
  auto generator = make_generator(11);
  for (auto [ratio, patches] : {std::pair<double, int64_t>{0.75, 49}, {0.75, 64}, {0.5, 9}, {0.9, 16}, {0.6, 10}}) {
    const int64_t batch = 6;
    PatchMask mask = random_patch_mask(batch, patches, ratio, generator);
    const int64_t kept = std::llround((1 - ratio) * patches);
    ASSERT_EQ(mask.keep.sizes(), (std::vector<int64_t>{batch, kept})) << ratio << " of " << patches;
    ASSERT_EQ(mask.restore.sizes(), (std::vector<int64_t>{batch, patches}));
    ASSERT_EQ(mask.hidden.sizes(), (std::vector<int64_t>{batch, patches}));
    std::set<std::set<int64_t>> distinct;
    for (int64_t b = 0; b < batch; ++b) {
      EXPECT_EQ(mask.hidden[b].sum().item<double>(), patches - kept);
      std::set<int64_t> visible;
      for (int64_t i = 0; i < kept; ++i) visible.insert(mask.keep[b][i].item<int64_t>());
      EXPECT_EQ(static_cast<int64_t>(visible.size()), kept);  // no patch kept twice
      for (int64_t n = 0; n < patches; ++n) {
        EXPECT_EQ(mask.hidden[b][n].item<double>() == 0, visible.count(n) == 1) << "sample " << b << " patch " << n;
      }
      distinct.insert(visible);
    }
    EXPECT_GT(distinct.size(), 1u) << "every sample kept the same patches";
  }
  // restore undoes the shuffle: the kept indices sit at ranks 0…kept−1.
  PatchMask mask = random_patch_mask(2, 16, 0.75, generator);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(mask.restore[b][mask.keep[b][i].item<int64_t>()].item<int64_t>(), i);
  }
  // The same seed draws the same mask.
  auto first = make_generator(3), second = make_generator(3);
  EXPECT_TRUE(torch::equal(random_patch_mask(4, 49, 0.75, first).keep, random_patch_mask(4, 49, 0.75, second).keep));
  // Extreme ratios still keep one patch and hide one.
  EXPECT_EQ(random_patch_mask(1, 4, 0.99, generator).keep.size(1), 1);
  EXPECT_EQ(random_patch_mask(1, 4, 0.01, generator).keep.size(1), 3);
}

TaskContext vit_context() {
  TaskContext context;
  context.encoder.name = "vit-tiny";
  context.encoder.depth = 2;
  context.encoder.in_channels = 1;
  context.encoder.image_size = 16;
  context.mean = {0.5};
  context.std = {0.25};
  context.seed = 1;
  return context;
}

using testing_files::tiny_batch;

TEST(TasksMAE, StepGivesAFiniteLossWithGradientsForEncoderAndDecoder) {
  torch::manual_seed(0);
  auto task = make_task("mae", vit_context());
  auto output = task->step(tiny_batch(4));
  ASSERT_TRUE(std::isfinite(output.loss.item<double>()));
  // Normalised targets have unit variance per patch and the initial predictions are near 0.
  EXPECT_NEAR(output.loss.item<double>(), 1.0, 0.5);
  ASSERT_TRUE(output.embedding.defined());
  EXPECT_EQ(output.embedding.sizes(), (std::vector<int64_t>{4, 192}));
  EXPECT_FALSE(output.embedding.requires_grad());
  output.loss.backward();
  int64_t encoder_parameters = 0, decoder_parameters = 0;
  for (const auto& item : task->named_parameters()) {
    const auto& grad = item.value().grad();
    ASSERT_TRUE(grad.defined()) << item.key();
    EXPECT_GT(grad.abs().sum().item<double>(), 0.0) << item.key();
    (item.key().rfind("encoder.", 0) == 0 ? encoder_parameters : decoder_parameters) += 1;
  }
  EXPECT_EQ(encoder_parameters, 3 + 12 * 2 + 2);
  // decoder_embed (2) + mask token + 2 blocks × 12 + norm (2) + pred (2)
  EXPECT_EQ(decoder_parameters, 2 + 1 + 24 + 2 + 2);
  EXPECT_EQ(task->options_json()["mask_ratio"], 0.75);
  EXPECT_EQ(task->options_json()["norm_pix_loss"], true);
  EXPECT_EQ(task->options_json()["augment"]["crop_scale"][0], 0.2);
  EXPECT_EQ(task->options_json()["augment"]["jitter_probability"], 0.0);
}

TEST(TasksMAE, StepUnderBf16AutocastIsFinite) {
  torch::manual_seed(0);
  auto task = make_task("mae", vit_context());
  PretextTask::Output output;
  {
    AutocastGuard autocast(torch::kCPU, true);
    output = task->step(tiny_batch(4));
  }
  EXPECT_TRUE(std::isfinite(output.loss.item<double>()));
  EXPECT_EQ(output.loss.scalar_type(), torch::kFloat32);
  output.loss.backward();
}

TEST(TasksMAE, DecoderPredictsEveryPatchAndLearnsAFixedImage) {
  // On one fixed batch a few Adam steps must bring the reconstruction error well down.
  torch::manual_seed(0);
  auto context = vit_context();
  context.options = {{"norm_pix_loss", false}, {"augment", {{"crop", false}, {"flip_probability", 0.0}}}};
  auto task = make_task("mae", context);
  auto& mae = dynamic_cast<MAETask&>(*task);
  Batch batch = tiny_batch(4);
  batch.input.zero_();
  batch.input.slice(1, 0, 8).fill_(255);  // top half white
  torch::optim::Adam optimizer(task->parameters(), torch::optim::AdamOptions(1e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    auto output = task->step(batch);
    optimizer.zero_grad();
    output.loss.backward();
    optimizer.step();
    (step == 0 ? first : last) = output.loss.item<double>();
  }
  EXPECT_LT(last, 0.2 * first) << "first " << first << ", last " << last;

  auto generator = make_generator(2);
  PatchMask mask = random_patch_mask(4, 16, 0.75, generator);
  auto latent = torch::randn({4, 1 + 4, 192});
  EXPECT_EQ(mae.decode(latent, mask).sizes(), (std::vector<int64_t>{4, 16, 16}));
}

TEST(TasksMAE, NeedsAViTEncoder) {
  auto context = vit_context();
  context.encoder = EncoderConfig{};
  context.encoder.name = "convnet";
  context.encoder.image_size = 16;
  try {
    make_task("mae", context);
    FAIL() << "no throw";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("convnet"), std::string::npos) << message;
    EXPECT_NE(message.find("vit-tiny"), std::string::npos) << message;
  }
}

TEST(TasksMAE, OptionsAreCheckedByName) {
  auto context = vit_context();
  context.options = {{"mask_ration", 0.5}};
  EXPECT_THROW(make_task("mae", context), ConfigError);
  context.options = {{"mask_ratio", 1.0}};
  EXPECT_THROW(make_task("mae", context), ConfigError);
  context.options = {{"decoder_heads", 3}};  // does not divide 128
  EXPECT_THROW(make_task("mae", context), ConfigError);
  context.options = {{"augment", {{"size", 10}}}};  // not a multiple of the patch (4)
  EXPECT_THROW(make_task("mae", context), ConfigError);
  context.options = {{"mask_ratio", 0.5}, {"decoder_dim", 64}, {"decoder_depth", 1}, {"augment", {{"size", 12}}}};
  auto task = make_task("mae", context);
  EXPECT_EQ(task->options_json()["decoder_dim"], 64);
  EXPECT_EQ(task->options_json()["augment"]["crop_scale"][0], 0.2);  // unchanged defaults stay
  // 12×12 views of a model built for 16×16: 9 patches, 4 or 5 kept (round(4.5) = 5).
  auto output = task->step(tiny_batch(2));
  EXPECT_TRUE(std::isfinite(output.loss.item<double>()));
}

}  // namespace
}  // namespace pretext
