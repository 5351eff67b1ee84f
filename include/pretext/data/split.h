// Few-label splits: which labelled samples a downstream run may use.
// Stratified (the same count from every class) and seeded, so that the same seed gives the
// same labelled subset on every machine.
#pragma once

#include <torch/torch.h>

#include <string>

namespace pretext {

struct LabelSplitOptions {
  int64_t labels_per_class = 0;  // N labelled samples from each class
  double label_fraction = 0.0;   // or this fraction of each class (at least 1 per class)
  uint64_t seed = 0;
  // both zero: every labelled sample
};

// Returns sorted int64 indices into `labels` (int64 [N], -1 = unlabeled, ignored).
// Throws ConfigError when both options are set or a value is out of range, and InputError
// naming the class and `source` when a class has fewer than labels_per_class samples.
torch::Tensor few_label_indices(const torch::Tensor& labels, const LabelSplitOptions& options,
                                const std::string& source);

// "10 per class", "1% of labels", "all labels" — for tables and reports.
std::string describe_split(const LabelSplitOptions& options);

}  // namespace pretext
