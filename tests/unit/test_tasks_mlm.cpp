#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "pretext/augment/text.h"
#include "pretext/core/error.h"
#include "pretext/core/runtime.h"
#include "pretext/data/text_batch.h"
#include "pretext/tasks/mlm.h"

namespace pretext {
namespace {

// Cross-entropy written out position by position in double: log-softmax by hand.
std::pair<double, double> reference_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  auto flat = logits.reshape({-1, logits.size(-1)}).to(torch::kFloat64);
  auto targets = labels.reshape({-1});
  double total = 0, count = 0, correct = 0;
  for (int64_t i = 0; i < flat.size(0); ++i) {
    const int64_t label = targets[i].item<int64_t>();
    if (label == kIgnoreLabel) continue;
    double top = -1e300;
    int64_t best = 0;
    for (int64_t v = 0; v < flat.size(1); ++v) {
      if (flat[i][v].item<double>() > top) {
        top = flat[i][v].item<double>();
        best = v;
      }
    }
    double sum = 0;
    for (int64_t v = 0; v < flat.size(1); ++v) sum += std::exp(flat[i][v].item<double>() - top);
    total += top + std::log(sum) - flat[i][label].item<double>();
    correct += best == label ? 1 : 0;
    count += 1;
  }
  return {total / count, correct / count};
}

TEST(TasksMLM, MaskedLMLossScoresTheChosenPositionsOnly) {
  // Two sequences of three positions over a vocabulary of 4; three positions are scored.
  auto logits = torch::tensor({{{2.0, 0.5, -1.0, 0.0}, {0.1, 0.2, 0.3, 0.4}, {-2.0, 3.0, 0.0, 1.0}},
                               {{1.0, 1.0, 1.0, 1.0}, {0.0, -1.0, 4.0, 0.5}, {5.0, 0.0, 0.0, 0.0}}});
  const int64_t ignored = kIgnoreLabel;
  auto labels = torch::tensor({{int64_t{0}, ignored, int64_t{3}}, {ignored, int64_t{2}, ignored}}, torch::kLong);
  auto [loss, accuracy] = masked_lm_loss(logits, labels);
  auto [expected_loss, expected_accuracy] = reference_cross_entropy(logits, labels);
  EXPECT_NEAR(loss.item<double>(), expected_loss, 1e-6);
  EXPECT_NEAR(accuracy.item<double>(), expected_accuracy, 1e-6);
  EXPECT_NEAR(accuracy.item<double>(), 2.0 / 3.0, 1e-6);  // positions 0 and 4 right, position 2 wrong
  // By hand for the uniform row's neighbour: −log softmax(…)[2] of {0, −1, 4, 0.5}.
  const double lse = std::log(std::exp(0.0) + std::exp(-1.0) + std::exp(4.0) + std::exp(0.5));
  const double first = std::log(std::exp(2.0) + std::exp(0.5) + std::exp(-1.0) + 1.0) - 2.0;
  const double third = std::log(std::exp(-2.0) + std::exp(3.0) + 1.0 + std::exp(1.0)) - 1.0;
  EXPECT_NEAR(loss.item<double>(), (first + (lse - 4.0) + third) / 3.0, 1e-6);
  // Ignored positions do not count, whatever their logits.
  auto changed = logits.clone();
  changed[0][1].fill_(50.0);
  EXPECT_EQ(masked_lm_loss(changed, labels).first.item<double>(), loss.item<double>());

  torch::manual_seed(3);
  auto random_logits = torch::randn({3, 7, 11}) * 3;
  auto random_labels = torch::randint(0, 11, {3, 7}, torch::kLong);
  random_labels.masked_fill_(torch::rand({3, 7}).lt(0.6), kIgnoreLabel);
  random_labels[0][0] = 4;
  auto [random_loss, random_accuracy] = masked_lm_loss(random_logits, random_labels);
  auto [reference_loss, reference_accuracy] = reference_cross_entropy(random_logits, random_labels);
  EXPECT_NEAR(random_loss.item<double>(), reference_loss, 1e-5);
  EXPECT_NEAR(random_accuracy.item<double>(), reference_accuracy, 1e-6);
  EXPECT_THROW(masked_lm_loss(random_logits, random_labels.slice(1, 0, 6)), ConfigError);
}

TEST(TasksMLM, NextSentenceLossMatchesANaiveComputation) {
  auto logits = torch::tensor({{0.3, 1.2}, {2.0, -1.0}, {0.0, 0.0}, {-0.5, 0.7}});
  auto is_next = torch::tensor({1, 1, 0, 0}, torch::kLong);
  auto [loss, accuracy] = next_sentence_loss(logits, is_next);
  auto [expected_loss, expected_accuracy] = reference_cross_entropy(logits, is_next);
  EXPECT_NEAR(loss.item<double>(), expected_loss, 1e-6);
  // Right: sample 0 (1.2 > 0.3) and sample 2 (a tie goes to the first, NotNext); wrong: 1 and 3.
  EXPECT_NEAR(accuracy.item<double>(), 0.5, 1e-9);
  EXPECT_NEAR(expected_accuracy, 0.5, 1e-9);
  EXPECT_THROW(next_sentence_loss(torch::zeros({4, 3}), is_next), ConfigError);
}

// ---------------------------------------------------------------------------------------------
// A tiny language with structure: every document has a topic, one of 15 blocks of 3 token ids,
// and walks its block in order (k → k + 1 mod 3), cut into sentences of 2–6 tokens. The rest of
// a window tells a masked token's topic (a short run learns that: ln 3 nats instead of ln 45)
// and its neighbours tell which of the three it is; a segment of another document usually has
// another topic, which is what NSP can pick up.
constexpr int64_t kTopics = 15;
constexpr int64_t kTopicSize = 3;
constexpr int64_t kVocab = text::kSpecialTokens + kTopics * kTopicSize;  // 50

Batch toy_batch(std::mt19937& random, int64_t size, int64_t window, int64_t& next_document) {
  Batch batch;
  batch.input = torch::full({size, window}, text::kPad, torch::kLong);
  batch.extra = torch::full({size, window}, -1, torch::kLong);
  batch.group = torch::arange(next_document, next_document + size, torch::kLong);
  batch.label = torch::full({size}, -1, torch::kLong);
  batch.index = torch::arange(size, torch::kLong);
  next_document += size;
  auto input = batch.input.accessor<int64_t, 2>();
  auto sentences = batch.extra.accessor<int64_t, 2>();
  for (int64_t b = 0; b < size; ++b) {
    const int64_t topic = random() % kTopics;
    int64_t k = random() % kTopicSize, sentence = 0, left_in_sentence = 2 + random() % 5;
    const int64_t length = window - static_cast<int64_t>(random() % 4);
    for (int64_t t = 0; t < length; ++t) {
      input[b][t] = text::kSpecialTokens + topic * kTopicSize + k;
      sentences[b][t] = sentence;
      k = (k + 1) % kTopicSize;
      if (--left_in_sentence == 0) {
        ++sentence;
        left_in_sentence = 2 + random() % 5;
      }
    }
  }
  return batch;
}

TaskContext text_context(uint64_t seed, int64_t width = 64) {
  TaskContext context;
  context.encoder.name = "bert-tiny";
  context.encoder.vocab_size = kVocab;
  context.encoder.max_length = 24;
  context.encoder.width = width;
  context.seed = seed;
  return context;
}

TEST(TasksMLM, StepLossIsTheNaiveLossOfTheSameDraws) {
  std::mt19937 random(5);
  int64_t document = 0;
  Batch batch = toy_batch(random, 6, 21, document);
  for (const char* name : {"mlm", "mlm-nsp"}) {
    const bool pairs = std::string(name) == "mlm-nsp";
    TaskPtr task = make_task(name, text_context(11));
    auto* mlm = dynamic_cast<MLMTask*>(task.get());
    ASSERT_NE(mlm, nullptr);
    task->eval();  // no dropout: the replay below sees the same network
    PretextTask::Output out = task->step(batch);

    // Replay: the same generator draws the same pairs and masks; the full-vocabulary logits at
    // every position, scored by the naive loop on the chosen positions only.
    auto generator = make_generator(11);
    FormattedText text =
        pairs ? make_sentence_pairs(batch, 24, mlm->options().pairs, generator) : format_single(batch, 24);
    MaskedTokens masked = mask_tokens(text.ids, kVocab, mlm->options().masking, generator);
    auto bert = std::dynamic_pointer_cast<BertEncoder>(task->encoder());
    torch::NoGradGuard no_grad;
    auto hidden = bert->forward_tokens(masked.ids, text.segments);
    auto logits = mlm->mlm_head()->forward(hidden.reshape({-1, hidden.size(2)}), bert->token_embedding_weight());
    auto [expected_mlm, expected_accuracy] = reference_cross_entropy(logits, masked.labels.reshape({-1}));
    std::map<std::string, double> stats(out.stats.begin(), out.stats.end());
    EXPECT_NEAR(stats.at("mlm_loss"), expected_mlm, 1e-4) << name;
    EXPECT_NEAR(stats.at("mlm_accuracy"), expected_accuracy, 1e-6) << name;
    double expected_total = expected_mlm;
    if (pairs) {
      auto [expected_nsp, expected_nsp_accuracy] =
          reference_cross_entropy(mlm->nsp_head()->forward(hidden.select(1, 0)), text.is_next);
      EXPECT_NEAR(stats.at("nsp_loss"), expected_nsp, 1e-5);
      EXPECT_NEAR(stats.at("nsp_accuracy"), expected_nsp_accuracy, 1e-6);
      expected_total += expected_nsp;
    } else {
      EXPECT_EQ(stats.count("nsp_loss"), 0u);
    }
    EXPECT_NEAR(out.loss.item<double>(), expected_total, 1e-4) << name;
    ASSERT_TRUE(out.embedding.defined());
    EXPECT_EQ(out.embedding.sizes(), (std::vector<int64_t>{6, 64}));
    EXPECT_TRUE(torch::allclose(out.embedding, hidden.select(1, 0), 1e-5, 1e-5));
    EXPECT_FALSE(out.embedding.requires_grad());
  }
}

TEST(TasksMLM, TheDecoderIsTiedToTheTokenEmbeddingAndEveryParameterLearns) {
  std::mt19937 random(2);
  int64_t document = 0;
  TaskPtr task = make_task("mlm-nsp", text_context(3));
  task->train();
  PretextTask::Output out = task->step(toy_batch(random, 8, 21, document));
  ASSERT_TRUE(std::isfinite(out.loss.item<double>()));
  out.loss.backward();
  int64_t vocabulary_tables = 0;
  for (const auto& item : task->named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
    if (item.value().dim() == 2 && item.value().size(0) == kVocab) ++vocabulary_tables;
  }
  EXPECT_EQ(vocabulary_tables, 1);  // the token embedding; the decoder owns only its bias
  EXPECT_TRUE(task->named_parameters().contains("mlm_head.bias"));
  EXPECT_EQ(task->named_parameters()["mlm_head.bias"].size(0), kVocab);
}

TEST(TasksMLM, StepUnderBf16AutocastIsFinite) {
  std::mt19937 random(4);
  int64_t document = 0;
  for (const char* name : {"mlm", "mlm-nsp"}) {
    TaskPtr task = make_task(name, text_context(2));
    PretextTask::Output out;
    {
      AutocastGuard autocast(torch::kCPU, true);
      out = task->step(toy_batch(random, 8, 21, document));
    }
    ASSERT_TRUE(std::isfinite(out.loss.item<double>())) << name;
    EXPECT_EQ(out.loss.scalar_type(), torch::kFloat32);
    out.loss.backward();
    EXPECT_GT(task->named_parameters()["encoder.token_embedding.weight"].grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(TasksMLM, OptionsAreCheckedByName) {
  auto error_of = [](const std::string& task, const nlohmann::json& options) {
    TaskContext context = text_context(1);
    context.options = options;
    try {
      make_task(task, context);
    } catch (const ConfigError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of("mlm", {{"mask_probabilty", 0.2}}).find("mask_probabilty"), std::string::npos);
  EXPECT_NE(error_of("mlm", {{"next_probability", 0.5}}).find("next_probability"), std::string::npos);
  EXPECT_NE(error_of("mlm-nsp", {{"next_probability", 2.0}}).find("next_probability"), std::string::npos);
  EXPECT_NE(error_of("mlm", {{"mask_probability", 0.0}}).find("mask_probability"), std::string::npos);
  EXPECT_NE(error_of("mlm", {{"mask_token", 0.7}, {"random_token", 0.4}}).find("random_token"), std::string::npos);
  EXPECT_EQ(error_of("mlm-nsp", {{"mask_probability", 0.2}, {"next_probability", 0.4}}), "");

  TaskContext image = text_context(1);
  image.encoder.name = "convnet";
  image.encoder.vocab_size = 0;
  try {
    make_task("mlm", image);
    FAIL() << "mlm accepted a convnet";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("bert-tiny"), std::string::npos) << error.what();
  }

  TaskContext context = text_context(1);
  context.options = {{"mask_probability", 0.2}, {"next_probability", 0.3}};
  TaskPtr task = make_task("mlm-nsp", context);
  nlohmann::json stored = task->options_json();
  EXPECT_DOUBLE_EQ(stored.at("mask_probability").get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(stored.at("mask_token").get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(stored.at("random_token").get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(stored.at("next_probability").get<double>(), 0.3);
  // What a checkpoint stores rebuilds the same options.
  MLMOptions back = MLMOptions::from_json(stored, true);
  EXPECT_DOUBLE_EQ(back.masking.mask_probability, 0.2);
  EXPECT_DOUBLE_EQ(back.pairs.next_probability, 0.3);
  EXPECT_FALSE(make_task("mlm", text_context(1))->options_json().contains("next_probability"));
  ASSERT_TRUE(task_registry().contains("mlm"));
  ASSERT_TRUE(task_registry().contains("mlm-nsp"));
}

// Trains for `steps` on fresh toy batches; returns the mean of each stat over the first and the
// last `window` steps.
struct Curve {
  std::map<std::string, double> first, last;
};

Curve train(const std::string& name, int64_t steps, int64_t window, uint64_t seed) {
  torch::manual_seed(seed);
  TaskPtr task = make_task(name, text_context(seed));
  task->train();
  torch::optim::AdamW optimizer(task->parameters(), torch::optim::AdamWOptions(2e-3).weight_decay(0.01));
  std::mt19937 random(seed);
  int64_t document = 0;
  Curve curve;
  for (int64_t step = 0; step < steps; ++step) {
    PretextTask::Output out = task->step(toy_batch(random, 32, 21, document));
    optimizer.zero_grad();
    out.loss.backward();
    optimizer.step();
    for (const auto& [key, value] : out.stats) {
      if (step < window) curve.first[key] += value / window;
      if (step >= steps - window) curve.last[key] += value / window;
    }
  }
  return curve;
}

TEST(TasksMLM, ShortTrainingOnAToyLanguageLearnsMaskedTokensAndNextSentences) {
  const auto start = std::chrono::steady_clock::now();
  Curve mlm = train("mlm", 150, 10, 7);
  // Chance: ln 45 ≈ 3.8 nats and 1 in 45 over the ordinary tokens; knowing the topic: ln 3, 1 in 3.
  EXPECT_GT(mlm.first["mlm_loss"], 3.3);
  EXPECT_LT(mlm.last["mlm_loss"], 0.5 * mlm.first["mlm_loss"]);
  EXPECT_GT(mlm.last["mlm_accuracy"], 0.25);

  Curve both = train("mlm-nsp", 300, 20, 7);
  EXPECT_LT(both.last["mlm_loss"], 0.5 * both.first["mlm_loss"]);
  EXPECT_LT(both.first["nsp_accuracy"], 0.65);
  EXPECT_GT(both.last["nsp_accuracy"], 0.7);  // 50% by chance
  EXPECT_LT(both.last["nsp_loss"], 0.6);      // ln 2 ≈ 0.69 by chance
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "mlm: loss " << mlm.first["mlm_loss"] << " → " << mlm.last["mlm_loss"] << ", accuracy "
            << mlm.first["mlm_accuracy"] << " → " << mlm.last["mlm_accuracy"] << "; mlm-nsp: NSP accuracy "
            << both.first["nsp_accuracy"] << " → " << both.last["nsp_accuracy"] << "; " << seconds << " s\n";
}

}  // namespace
}  // namespace pretext
