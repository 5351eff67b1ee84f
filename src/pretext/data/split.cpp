#include "pretext/data/split.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "pretext/core/error.h"
#include "pretext/core/runtime.h"

namespace pretext {

torch::Tensor few_label_indices(const torch::Tensor& labels, const LabelSplitOptions& options,
                                const std::string& source) {
  PRETEXT_CHECK(options.labels_per_class >= 0, ConfigError, "labels_per_class must be >= 0, got ",
                options.labels_per_class);
  PRETEXT_CHECK(options.label_fraction == 0.0 || (options.label_fraction > 0.0 && options.label_fraction <= 1.0),
                ConfigError, "label_fraction must be in (0, 1], got ", options.label_fraction);
  PRETEXT_CHECK(options.labels_per_class == 0 || options.label_fraction == 0.0, ConfigError,
                "set labels_per_class or label_fraction, not both (got ", options.labels_per_class, " and ",
                options.label_fraction, ")");
  PRETEXT_CHECK(labels.defined() && labels.dim() == 1, InputError, source, ": labels must be a 1-D tensor");
  torch::Tensor targets = labels.to(torch::kCPU, torch::kInt64);
  torch::Tensor labelled = (targets >= 0).nonzero().reshape({-1});
  PRETEXT_CHECK(labelled.size(0) > 0, InputError, source, ": no labelled samples to choose from");
  if (options.labels_per_class == 0 && options.label_fraction == 0.0) return labelled;

  auto generator = make_generator(options.seed);
  torch::Tensor classes = targets.index_select(0, labelled).bincount().nonzero().reshape({-1});  // present classes
  std::vector<torch::Tensor> chosen;
  auto class_ids = classes.accessor<int64_t, 1>();
  for (int64_t i = 0; i < class_ids.size(0); ++i) {
    int64_t c = class_ids[i];
    torch::Tensor members = (targets == c).nonzero().reshape({-1});
    int64_t count = members.size(0);
    int64_t take = options.labels_per_class;
    if (take > 0) {
      PRETEXT_CHECK(take <= count, InputError, source, ": class ", c, " has only ", count,
                    " labelled samples, fewer than labels_per_class = ", take);
    } else {
      // "At least one per class", so that a tiny fraction still sees every class.
      take = std::clamp<int64_t>(std::llround(options.label_fraction * static_cast<double>(count)), 1, count);
    }
    torch::Tensor permutation = torch::randperm(count, generator, torch::kInt64);
    chosen.push_back(members.index_select(0, permutation.slice(0, 0, take)));
  }
  return std::get<0>(torch::cat(chosen).sort());
}

std::string describe_split(const LabelSplitOptions& options) {
  std::ostringstream out;
  if (options.labels_per_class > 0) {
    out << options.labels_per_class << " per class";
  } else if (options.label_fraction > 0.0) {
    out << options.label_fraction * 100.0 << "% of labels";
  } else {
    out << "all labels";
  }
  return out.str();
}

}  // namespace pretext
