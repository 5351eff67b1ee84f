// Classification metrics: top-1 accuracy, per-class accuracy, macro-F1 and the confusion matrix.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

namespace pretext {

struct ClassificationMetrics {
  double top1 = 0;                 // fraction correct, in [0,1]
  std::vector<double> per_class;   // accuracy per true class (NaN for a class with no samples)
  // The unweighted mean over classes of F1 = 2·precision·recall / (precision + recall), as
  // scikit-learn's f1_score(average="macro"): a class never predicted has precision 0 (and F1 0),
  // classes absent from the labels are left out. In [0,1]; on imbalanced data (spam vs ham) it
  // shows what accuracy hides: always answering the majority class scores ≈ 0.5 at best.
  double macro_f1 = 0;
  std::vector<double> per_class_f1;  // NaN for a class with no samples
  torch::Tensor confusion;         // int64 [K,K]: rows = true class, columns = predicted
  int64_t samples = 0;

  nlohmann::json to_json(const std::vector<std::string>& class_names = {}) const;
};

// predictions, labels: int64 [N] with values in [0, num_classes).
ClassificationMetrics classification_metrics(const torch::Tensor& predictions, const torch::Tensor& labels,
                                             int64_t num_classes);

}  // namespace pretext
