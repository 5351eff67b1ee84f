// Classification metrics: top-1 accuracy, per-class accuracy and the confusion matrix.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace pretext {

struct ClassificationMetrics {
  double top1 = 0;                 // fraction correct, in [0,1]
  std::vector<double> per_class;   // accuracy per true class (NaN for a class with no samples)
  torch::Tensor confusion;         // int64 [K,K]: rows = true class, columns = predicted
  int64_t samples = 0;

  nlohmann::json to_json(const std::vector<std::string>& class_names = {}) const;
};

// predictions, labels: int64 [N] with values in [0, num_classes).
ClassificationMetrics classification_metrics(const torch::Tensor& predictions, const torch::Tensor& labels,
                                             int64_t num_classes);

}  // namespace pretext
