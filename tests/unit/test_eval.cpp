#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "pretext/eval/few_label.h"
#include "pretext/eval/metrics.h"
#include "pretext/eval/protocols.h"
#include "pretext/augment/preprocess.h"
#include "pretext/core/runtime.h"
#include "pretext/data/dataset.h"

namespace pretext {
namespace {

// Three well separated Gaussian clusters in 8 dimensions.
std::pair<torch::Tensor, torch::Tensor> clusters(int64_t per_class, uint64_t seed) {
  auto generator = make_generator(seed);
  auto centres = torch::eye(8).slice(0, 0, 3) * 6;
  auto labels = torch::arange(3, torch::kLong).repeat_interleave(per_class);
  auto features = centres.index_select(0, labels) + torch::randn({3 * per_class, 8}, generator);
  return {features, labels};
}

TEST(EvalKnn, ClassifiesSeparableClustersPerfectly) {
  auto [train, train_labels] = clusters(20, 1);
  auto [test, test_labels] = clusters(10, 2);
  auto predictions = knn_predict(train, train_labels, test, 3, KnnOptions{});
  EXPECT_TRUE(torch::equal(predictions, test_labels));
}

TEST(EvalKnn, WeightsVotesByTemperatureScaledSimilarity) {
  // One query; two neighbours of class 0 at cosine 0.6, one of class 1 at cosine 1.0.
  // τ = 0.1: class 1 gets e^10 > 2·e^6; τ = 10: class 0 gets 2·e^0.06 > e^0.1.
  auto bank = torch::tensor({{0.6, 0.8}, {0.6, -0.8}, {1.0, 0.0}});
  auto labels = torch::tensor({0, 0, 1}, torch::kLong);
  auto query = torch::tensor({{1.0, 0.0}});
  KnnOptions sharp{3, 0.1};
  KnnOptions flat{3, 10.0};
  EXPECT_EQ(knn_predict(bank, labels, query, 2, sharp).item<int64_t>(), 1);
  EXPECT_EQ(knn_predict(bank, labels, query, 2, flat).item<int64_t>(), 0);
  KnnOptions nearest{1, 0.1};
  EXPECT_EQ(knn_predict(bank, labels, query, 2, nearest).item<int64_t>(), 1);
  EXPECT_THROW(knn_predict(bank, labels, query, 2, KnnOptions{0, 0.1}), ConfigError);
}

TEST(EvalLinear, SeparatesLinearlySeparableData) {
  auto [train, train_labels] = clusters(30, 3);
  auto [test, test_labels] = clusters(30, 4);
  LinearProbeOptions options;
  options.epochs = 20;
  auto predictions = linear_probe_predict(train, train_labels, test, 3, options);
  EXPECT_GE((predictions == test_labels).to(torch::kFloat).mean().item<double>(), 0.97);
  // Same seed, same predictions.
  EXPECT_TRUE(torch::equal(predictions, linear_probe_predict(train, train_labels, test, 3, options)));
}

TEST(EvalMetrics, ConfusionMatrixAndPerClassAccuracy) {
  auto labels = torch::tensor({0, 0, 1, 1, 2}, torch::kLong);
  auto predictions = torch::tensor({0, 1, 1, 1, 0}, torch::kLong);
  auto metrics = classification_metrics(predictions, labels, 3);
  EXPECT_DOUBLE_EQ(metrics.top1, 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(metrics.per_class[0], 0.5);
  EXPECT_DOUBLE_EQ(metrics.per_class[1], 1.0);
  EXPECT_DOUBLE_EQ(metrics.per_class[2], 0.0);
  EXPECT_EQ(metrics.confusion[0][1].item<int64_t>(), 1);
  EXPECT_EQ(metrics.confusion[2][0].item<int64_t>(), 1);
  auto json = metrics.to_json({"a", "b", "c"});
  EXPECT_EQ(json["per_class"][2]["class"], "c");
  EXPECT_EQ(json["confusion_matrix"][1][1], 2);
}

TEST(EvalMetrics, MacroF1FromPrecisionAndRecallByHand) {
  auto labels = torch::tensor({0, 0, 1, 1, 2}, torch::kLong);
  auto predictions = torch::tensor({0, 1, 1, 1, 0}, torch::kLong);
  // Class 0: precision 1/2, recall 1/2 → F1 1/2. Class 1: precision 2/3, recall 1 → F1 4/5.
  // Class 2: never predicted right → 0. Class 3 (4 classes) has no samples and is left out.
  auto metrics = classification_metrics(predictions, labels, 4);
  EXPECT_DOUBLE_EQ(metrics.per_class_f1[0], 0.5);
  EXPECT_DOUBLE_EQ(metrics.per_class_f1[1], 0.8);
  EXPECT_DOUBLE_EQ(metrics.per_class_f1[2], 0.0);
  EXPECT_TRUE(std::isnan(metrics.per_class_f1[3]));
  EXPECT_NEAR(metrics.macro_f1, (0.5 + 0.8 + 0.0) / 3.0, 1e-12);
  // Always the majority class on 9:1 data: 90% accuracy, macro-F1 (0.947 + 0) / 2.
  auto skewed = torch::cat({torch::zeros({9}, torch::kLong), torch::ones({1}, torch::kLong)});
  auto majority = classification_metrics(torch::zeros({10}, torch::kLong), skewed, 2);
  EXPECT_DOUBLE_EQ(majority.top1, 0.9);
  EXPECT_NEAR(majority.macro_f1, (18.0 / 19.0) / 2.0, 1e-12);
  EXPECT_DOUBLE_EQ(metrics.to_json()["macro_f1"].get<double>(), metrics.macro_f1);
}

TEST(EvalTable, OneRowPerLabelBudgetOneColumnPerProtocol) {
  auto result = [](const std::string& protocol, const std::string& labels, double top1) {
    ProtocolResult made;
    made.protocol = protocol;
    made.labels = labels;
    made.metrics.top1 = top1;
    return made;
  };
  auto knn10 = result("knn", "10 per class", 0.7512);
  auto scratch10 = result("scratch", "10 per class", 0.5);
  auto knn_all = result("knn", "all labels", 0.9);
  std::string table = format_results_table({scratch10, knn10, knn_all}, {"scratch", "knn"});
  EXPECT_NE(table.find("supervised from scratch"), std::string::npos);
  EXPECT_NE(table.find("75.1%"), std::string::npos);
  EXPECT_NE(table.find("n/a"), std::string::npos);  // no scratch result for all labels
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 4);
}

TEST(EvalTable, DrawsOfOneBudgetShowAsMeanAndStandardDeviation) {
  auto result = [](const std::string& protocol, double top1, double macro_f1, int64_t draw) {
    ProtocolResult made;
    made.protocol = protocol;
    made.labels = "1% of labels";
    made.metrics.top1 = top1;
    made.metrics.macro_f1 = macro_f1;
    made.draw = draw;
    return made;
  };
  std::vector<ProtocolResult> results{result("scratch", 0.80, 0.70, 0), result("finetune", 0.90, 0.88, 0),
                                      result("scratch", 0.84, 0.74, 1), result("finetune", 0.92, 0.90, 1),
                                      result("scratch", 0.88, 0.78, 2), result("finetune", 0.94, 0.92, 2)};
  auto summaries = summarize_results(results);
  ASSERT_EQ(summaries.size(), 2u);
  EXPECT_EQ(summaries[0].protocol, "scratch");
  EXPECT_EQ(summaries[0].draws, 3);
  EXPECT_NEAR(summaries[0].top1_mean, 0.84, 1e-12);
  EXPECT_NEAR(summaries[0].top1_std, 0.04, 1e-12);  // sample standard deviation of 0.80, 0.84, 0.88
  EXPECT_NEAR(summaries[1].macro_f1_mean, 0.90, 1e-12);
  EXPECT_EQ(summaries[1].to_json()["draws"], 3);

  const std::string top1 = format_results_table(results, {"scratch", "finetune"});
  EXPECT_NE(top1.find("84.0 ± 4.0%"), std::string::npos) << top1;
  EXPECT_NE(top1.find(", 3 draws"), std::string::npos) << top1;  // the row says how often it was drawn
  EXPECT_NE(top1.find("92.0 ± 2.0%"), std::string::npos) << top1;
  const std::string f1 = format_results_table(results, {"scratch", "finetune"}, "macro_f1");
  EXPECT_NE(f1.find("74.0 ± 4.0%"), std::string::npos) << f1;
  // Columns line up in characters: every line has its bars at the same character positions.
  std::istringstream lines(f1);
  std::string line;
  std::vector<size_t> lengths;
  while (std::getline(lines, line)) {
    size_t characters = 0;
    for (unsigned char byte : line) characters += (byte & 0xC0) != 0x80;
    lengths.push_back(characters);
  }
  ASSERT_EQ(lengths.size(), 3u);
  EXPECT_EQ(lengths[0], lengths[1]);
  EXPECT_EQ(lengths[0], lengths[2]);

  FewLabelOptions options;
  options.label_draws = 0;
  EXPECT_THROW(options.validate(), ConfigError);
  options.label_draws = 1;
  options.smallest_budget_draws = -1;
  EXPECT_THROW(options.validate(), ConfigError);
}

// An encoder whose features are its input's pixels.
class PixelsEncoder : public Encoder {
 public:
  PixelsEncoder() : Encoder("PixelsEncoder") {}
  torch::Tensor forward(const torch::Tensor& x) override { return x.flatten(1); }
  int64_t dim() const override { return 4; }
};

// The report's map: the first two principal components of the features, as an SVD of the
// centred features computes them (up to sign), of evenly spaced samples, with their labels.
TEST(EvalEmbeddingMap, ProjectsOnThePrincipalAxes) {
  auto generator = make_generator(5);
  const int64_t n = 300;
  auto images = torch::randint(0, 256, {n, 2, 2, 1}, generator, torch::kLong).to(torch::kUInt8);
  auto labels = torch::arange(n, torch::kLong).remainder(3);
  auto dataset = std::make_shared<ImageDataset>(images, labels, std::vector<std::string>{"a", "b", "c"}, "pixels");
  PixelsEncoder encoder;
  ImagePreprocessor preprocessor(Normalization{{0.0}, {1.0}});
  RuntimeOptions runtime_options;
  runtime_options.precision = "fp32";
  Runtime runtime = init_runtime(runtime_options);
  auto map = embedding_map(encoder, dataset, preprocessor, runtime, 100);
  ASSERT_EQ(map["points"].size(), 100u);
  EXPECT_EQ(map["method"], "pca");

  auto picked = torch::linspace(0, n - 1, 100, torch::kDouble).round().to(torch::kLong);
  auto features = images.index_select(0, picked).reshape({100, 4}).to(torch::kDouble) / 255.0;
  features = features - features.mean(0, true);
  auto [u, s, v] = torch::svd(features);
  auto expected = features.mm(v.slice(1, 0, 2));
  for (int64_t i = 0; i < 100; ++i) {
    for (int64_t axis = 0; axis < 2; ++axis) {
      EXPECT_NEAR(std::abs(map["points"][i][axis].get<double>()), std::abs(expected[i][axis].item<double>()), 1e-4);
    }
    EXPECT_EQ(map["points"][i][2].get<int64_t>(), labels[picked[i]].item<int64_t>());
  }
  auto variance = s.pow(2) / s.pow(2).sum();
  EXPECT_NEAR(map["explained"][0].get<double>(), variance[0].item<double>(), 1e-6);
  EXPECT_NEAR(map["explained"][1].get<double>(), variance[1].item<double>(), 1e-6);
}

TEST(EvalFewLabel, RejectsUnknownProtocols) {
  FewLabelOptions options;
  options.protocols = {"knn", "svm"};
  EXPECT_THROW(options.validate(), ConfigError);
}

}  // namespace
}  // namespace pretext
