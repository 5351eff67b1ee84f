// Dataset: a finite, indexable set of samples, labelled or not.
// Requires: indices passed to get() are int64 and in [0, size()).
// Guarantees: get() returns a Batch whose tensors are on the CPU; labels() is int64 [size()],
// -1 for a sample without a label; num_classes() is 0 for an unlabeled set.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "pretext/data/batch.h"

namespace pretext {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Batch get(const torch::Tensor& indices) const = 0;
  virtual torch::Tensor labels() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual std::vector<std::string> class_names() const { return {}; }
  // Shape of one sample's input, e.g. {H, W, C} for images.
  virtual std::vector<int64_t> sample_shape() const = 0;
  // Where the data came from (a dataset name or a path), for messages and reports.
  virtual std::string source() const = 0;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// Images held in memory. images: uint8 [N,H,W,C] (C = 1 or 3); labels: int64 [N] (-1 = none).
class ImageDataset : public Dataset {
 public:
  // Throws InputError (naming `source`) when the tensors' shapes or types disagree, when N is 0,
  // or when a label is < -1 or >= class_names.size() (class_names may be empty for unlabeled data).
  ImageDataset(torch::Tensor images, torch::Tensor labels, std::vector<std::string> class_names, std::string source);

  int64_t size() const override { return images_.size(0); }
  Batch get(const torch::Tensor& indices) const override;
  torch::Tensor labels() const override { return labels_; }
  int64_t num_classes() const override { return static_cast<int64_t>(class_names_.size()); }
  std::vector<std::string> class_names() const override { return class_names_; }
  std::vector<int64_t> sample_shape() const override;
  std::string source() const override { return source_; }

  const torch::Tensor& images() const { return images_; }
  int64_t height() const { return images_.size(1); }
  int64_t width() const { return images_.size(2); }
  int64_t channels() const { return images_.size(3); }

 private:
  torch::Tensor images_;
  torch::Tensor labels_;
  std::vector<std::string> class_names_;
  std::string source_;
};

// A view of `base` restricted to `indices` (int64). Labels and class names are the base's.
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(DatasetPtr base, torch::Tensor indices);
  int64_t size() const override { return indices_.size(0); }
  Batch get(const torch::Tensor& indices) const override;
  torch::Tensor labels() const override;
  int64_t num_classes() const override { return base_->num_classes(); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  std::vector<int64_t> sample_shape() const override { return base_->sample_shape(); }
  std::string source() const override { return base_->source(); }

 private:
  DatasetPtr base_;
  torch::Tensor indices_;
};

// The same samples with every label withheld (-1): what pretraining sees.
class UnlabeledView : public Dataset {
 public:
  explicit UnlabeledView(DatasetPtr base) : base_(std::move(base)) {}
  int64_t size() const override { return base_->size(); }
  Batch get(const torch::Tensor& indices) const override;
  torch::Tensor labels() const override;
  int64_t num_classes() const override { return 0; }
  std::vector<int64_t> sample_shape() const override { return base_->sample_shape(); }
  std::string source() const override { return base_->source(); }

 private:
  DatasetPtr base_;
};

}  // namespace pretext
