#include "pretext/eval/metrics.h"

#include <cmath>

#include "pretext/core/error.h"

namespace pretext {

ClassificationMetrics classification_metrics(const torch::Tensor& predictions, const torch::Tensor& labels,
                                             int64_t num_classes) {
  PRETEXT_CHECK(predictions.numel() == labels.numel(), Error, "metrics: ", predictions.numel(), " predictions for ",
                labels.numel(), " labels");
  PRETEXT_CHECK(num_classes > 0, Error, "metrics: num_classes must be > 0");
  auto truth = labels.to(torch::kCPU, torch::kLong).flatten();
  auto guess = predictions.to(torch::kCPU, torch::kLong).flatten();
  ClassificationMetrics metrics;
  metrics.samples = truth.numel();
  metrics.confusion = torch::bincount(truth * num_classes + guess, {}, num_classes * num_classes)
                          .reshape({num_classes, num_classes})
                          .to(torch::kLong);
  metrics.top1 = metrics.samples > 0 ? (truth == guess).sum().item<double>() / metrics.samples : 0.0;
  auto diagonal = metrics.confusion.diagonal().to(torch::kDouble);
  auto row_sums = metrics.confusion.sum(1).to(torch::kDouble);
  auto column_sums = metrics.confusion.sum(0).to(torch::kDouble);
  double f1_sum = 0;
  int64_t present = 0;
  for (int64_t k = 0; k < num_classes; ++k) {
    const double total = row_sums[k].item<double>();
    const double correct = diagonal[k].item<double>();
    const double predicted = column_sums[k].item<double>();
    metrics.per_class.push_back(total > 0 ? correct / total : NAN);
    // F1 = 2TP / (2TP + FP + FN) = 2·correct / (true count + predicted count).
    const double f1 = total > 0 ? 2.0 * correct / (total + predicted) : NAN;
    metrics.per_class_f1.push_back(f1);
    if (total > 0) {
      f1_sum += f1;
      ++present;
    }
  }
  metrics.macro_f1 = present > 0 ? f1_sum / present : 0.0;
  return metrics;
}

nlohmann::json ClassificationMetrics::to_json(const std::vector<std::string>& class_names) const {
  nlohmann::json per_class_json = nlohmann::json::array();
  for (size_t k = 0; k < per_class.size(); ++k) {
    nlohmann::json entry{{"class", k < class_names.size() ? class_names[k] : std::to_string(k)}};
    entry["accuracy"] = std::isnan(per_class[k]) ? nlohmann::json(nullptr) : nlohmann::json(per_class[k]);
    if (k < per_class_f1.size()) {
      entry["f1"] = std::isnan(per_class_f1[k]) ? nlohmann::json(nullptr) : nlohmann::json(per_class_f1[k]);
    }
    per_class_json.push_back(entry);
  }
  nlohmann::json matrix = nlohmann::json::array();
  auto rows = confusion.accessor<int64_t, 2>();
  for (int64_t i = 0; i < confusion.size(0); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t j = 0; j < confusion.size(1); ++j) row.push_back(rows[i][j]);
    matrix.push_back(row);
  }
  return {{"top1", top1}, {"macro_f1", macro_f1}, {"samples", samples}, {"per_class", per_class_json}, {"confusion_matrix", matrix}};
}

}  // namespace pretext
