// Batch: what the Loader hands to a pretext task. Raw, so that augmentation runs where the
// model runs: uint8 [B,H,W,C] pixels; int64 token ids (data/text_batch.h has the text layout);
// later float waveforms, uint8 frames.
#pragma once

#include <torch/torch.h>

namespace pretext {

struct Batch {
  torch::Tensor input;  // uint8 [B,H,W,C] for images
  torch::Tensor label;  // int64 [B]; -1 where the sample has no label
  torch::Tensor index;  // int64 [B]; the samples' positions in their dataset
  torch::Tensor extra;  // modality-specific, may be undefined
  // int64 [B]: the source a sample was cut from (text: the document of a window; video: the
  // clip's video), for tasks that need "from another source" negatives; may be undefined.
  torch::Tensor group;

  int64_t size() const { return input.defined() ? input.size(0) : 0; }
  // A copy on `device` (tensors that are undefined stay undefined).
  Batch to(const torch::Device& device, bool non_blocking = false) const;
};

}  // namespace pretext
