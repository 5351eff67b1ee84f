#include "pretext/data/batch.h"

namespace pretext {

namespace {
torch::Tensor moved(const torch::Tensor& tensor, const torch::Device& device, bool non_blocking) {
  return tensor.defined() ? tensor.to(device, non_blocking) : tensor;
}
}  // namespace

Batch Batch::to(const torch::Device& device, bool non_blocking) const {
  Batch out;
  out.input = moved(input, device, non_blocking);
  out.label = moved(label, device, non_blocking);
  out.index = moved(index, device, non_blocking);
  out.extra = moved(extra, device, non_blocking);
  out.group = moved(group, device, non_blocking);
  return out;
}

}  // namespace pretext
