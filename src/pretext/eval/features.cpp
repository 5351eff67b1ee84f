#include "pretext/eval/protocols.h"

namespace pretext {

torch::Tensor extract_features(Encoder& encoder, const Dataset& dataset, const Preprocessor& preprocessor,
                               const Runtime& runtime, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const bool was_training = encoder.is_training();
  encoder.eval();
  std::vector<torch::Tensor> chunks;
  // Text: attention's [B, heads, T, T] scores at B = 512 fall out of cache and ran ~4× slower per
  // sample than training's batches of 64 here; keep token batches small.
  if (dynamic_cast<const TokenEncoder*>(&encoder) != nullptr) batch_size = std::min<int64_t>(batch_size, 64);
  for (int64_t start = 0; start < dataset.size(); start += batch_size) {
    const int64_t end = std::min(dataset.size(), start + batch_size);
    Batch batch = dataset.get(torch::arange(start, end, torch::kLong));
    auto x = preprocessor.input(batch, encoder, runtime.device);
    AutocastGuard autocast(runtime.device, runtime.bf16);
    chunks.push_back(encoder.forward(x).to(torch::kCPU, torch::kFloat32));
  }
  encoder.train(was_training);
  return torch::cat(chunks, 0);
}

}  // namespace pretext
