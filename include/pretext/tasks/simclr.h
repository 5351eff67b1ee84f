// SimCLR (Chen et al. 2020): two augmented views of each image, an MLP projector, and the
// NT-Xent loss that pulls the two views of an image together and pushes the 2(B−1) other
// views away.
#pragma once

#include "pretext/augment/image.h"
#include "pretext/core/options.h"
#include "pretext/models/heads.h"
#include "pretext/tasks/task.h"

namespace pretext {

// What the two-view contrastive tasks share (SimCLR, audio-contrastive, clip-contrastive): an
// MLP projector on the encoder and NT-Xent at `temperature` over the global batch.
struct ContrastiveOptions {
  double temperature = 0.2;
  int64_t projector_hidden_dim = 0;  // 0 = the encoder's dim
  int64_t projector_out_dim = 128;
  int64_t projector_layers = 2;

  // Claims the four keys in `reader`; the caller reads its own and calls finish().
  void read(OptionReader& reader);
  // ConfigError naming `task` and the field.
  void validate(const std::string& task) const;
  nlohmann::json to_json() const;  // the four keys
  MLP make_projector(int64_t encoder_dim) const;
};

struct SimCLROptions : ContrastiveOptions {
  ImageAugmentOptions augment;  // SimCLR's defaults; size/mean/std come from the data

  static SimCLROptions from_json(const nlohmann::json& values);
  nlohmann::json to_json() const;
};

// NT-Xent (SimCLR eq. 1) for embeddings z1, z2 [B,D] (normalised inside), averaged over the
// 2B anchors. Returns {loss, accuracy of picking the positive among the 2B−1 candidates}.
std::pair<torch::Tensor, torch::Tensor> nt_xent_loss(const torch::Tensor& z1, const torch::Tensor& z2,
                                                     double temperature);

// A two-view step's result: NT-Xent between the halves of z [2B, D] (view 1's rows, then view
// 2's) over every rank's rows, with its accuracy as `contrastive_acc`, both views' embeddings
// from h [2B, dim] and view 1's projection, detached.
PretextTask::Output two_view_contrastive_output(const PretextTask& task, const torch::Tensor& h, const torch::Tensor& z,
                                                double temperature);

class SimCLRTask : public PretextTask {
 public:
  SimCLRTask(const TaskContext& context, SimCLROptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

 private:
  SimCLROptions options_;
  EncoderPtr encoder_;
  MLP projector_{nullptr};
  ImageAugment augment_;
};

}  // namespace pretext
