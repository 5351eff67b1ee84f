#include "pretext/data/dataset.h"

#include "pretext/core/error.h"

namespace pretext {

namespace {
std::string shape_string(const torch::Tensor& tensor) {
  std::ostringstream out;
  out << tensor.sizes();
  return out.str();
}
}  // namespace

ImageDataset::ImageDataset(torch::Tensor images, torch::Tensor labels, std::vector<std::string> class_names,
                           std::string source)
    : images_(std::move(images)),
      labels_(std::move(labels)),
      class_names_(std::move(class_names)),
      source_(std::move(source)) {
  PRETEXT_CHECK(images_.defined() && labels_.defined(), InputError, source_, ": images or labels missing");
  PRETEXT_CHECK(images_.scalar_type() == torch::kUInt8, InputError, source_, ": images must be uint8, got ",
                images_.scalar_type());
  PRETEXT_CHECK(images_.dim() == 4, InputError, source_, ": images must be [N,H,W,C], got shape ",
                shape_string(images_));
  PRETEXT_CHECK(images_.size(0) > 0, InputError, "empty dataset: ", source_);
  PRETEXT_CHECK(images_.size(1) > 0 && images_.size(2) > 0, InputError, source_, ": images have zero size, shape ",
                shape_string(images_));
  PRETEXT_CHECK(images_.size(3) == 1 || images_.size(3) == 3, InputError, source_,
                ": images must have 1 or 3 channels, got ", images_.size(3));
  PRETEXT_CHECK(labels_.scalar_type() == torch::kInt64, InputError, source_, ": labels must be int64, got ",
                labels_.scalar_type());
  PRETEXT_CHECK(labels_.dim() == 1 && labels_.size(0) == images_.size(0), InputError, source_, ": ",
                images_.size(0), " images but labels of shape ", shape_string(labels_));
  images_ = images_.cpu().contiguous();
  labels_ = labels_.cpu().contiguous();
  int64_t lowest = labels_.min().item<int64_t>();
  int64_t highest = labels_.max().item<int64_t>();
  PRETEXT_CHECK(lowest >= -1, InputError, source_, ": label ", lowest, " is below -1");
  PRETEXT_CHECK(highest < static_cast<int64_t>(class_names_.size()), InputError, source_, ": label ", highest,
                " is out of range for ", class_names_.size(), " classes");
}

Batch ImageDataset::get(const torch::Tensor& indices) const {
  Batch batch;
  batch.index = indices.to(torch::kInt64).cpu();
  batch.input = images_.index_select(0, batch.index);
  batch.label = labels_.index_select(0, batch.index);
  return batch;
}

std::vector<int64_t> ImageDataset::sample_shape() const {
  return {images_.size(1), images_.size(2), images_.size(3)};
}

SubsetDataset::SubsetDataset(DatasetPtr base, torch::Tensor indices) : base_(std::move(base)) {
  PRETEXT_CHECK(base_ != nullptr, InputError, "subset of a missing dataset");
  indices_ = indices.to(torch::kInt64).cpu().contiguous().reshape({-1});
  PRETEXT_CHECK(indices_.size(0) > 0, InputError, "empty subset of ", base_->source());
  int64_t lowest = indices_.min().item<int64_t>();
  int64_t highest = indices_.max().item<int64_t>();
  PRETEXT_CHECK(lowest >= 0 && highest < base_->size(), InputError, "subset of ", base_->source(),
                ": index out of range [0, ", base_->size(), "): ", lowest < 0 ? lowest : highest);
}

Batch SubsetDataset::get(const torch::Tensor& indices) const {
  // Samples keep their position in the subset, which is what callers index with.
  torch::Tensor local = indices.to(torch::kInt64).cpu();
  Batch batch = base_->get(indices_.index_select(0, local));
  batch.index = local;
  return batch;
}

torch::Tensor SubsetDataset::labels() const { return base_->labels().index_select(0, indices_); }

Batch UnlabeledView::get(const torch::Tensor& indices) const {
  Batch batch = base_->get(indices);
  batch.label = torch::full({batch.size()}, -1, torch::kInt64);
  return batch;
}

torch::Tensor UnlabeledView::labels() const { return torch::full({base_->size()}, -1, torch::kInt64); }

}  // namespace pretext
