#include "pretext/eval/protocols.h"

#include <algorithm>

#include "pretext/core/log.h"
#include "pretext/core/progress.h"
#include "pretext/data/dataset.h"

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
  // A progress line every 10 s on long extractions (ResNet-18 on 70,000 images: 7 minutes here).
  Progress progress("features", dataset.size(), "samples");
  for (int64_t start = 0; start < dataset.size(); start += batch_size) {
    const int64_t end = std::min(dataset.size(), start + batch_size);
    Batch batch = dataset.get(torch::arange(start, end, torch::kLong));
    auto x = preprocessor.input(batch, encoder, runtime.device);
    AutocastGuard autocast(runtime.device, runtime.bf16);
    chunks.push_back(encoder.forward(x).to(torch::kCPU, torch::kFloat32));
    if (end < dataset.size()) progress.update(end);
  }
  encoder.train(was_training);
  return torch::cat(chunks, 0);
}

nlohmann::json embedding_map(Encoder& encoder, const DatasetPtr& dataset, const Preprocessor& preprocessor,
                             const Runtime& runtime, int64_t max_points) {
  const int64_t count = std::min(dataset->size(), max_points);
  if (count < 3) return nlohmann::json();
  auto picked = std::get<0>(torch::unique_consecutive(
      torch::linspace(0, static_cast<double>(dataset->size() - 1), count, torch::kDouble).round().to(torch::kLong)));
  auto subset = std::make_shared<SubsetDataset>(dataset, picked);
  torch::Tensor features = extract_features(encoder, *subset, preprocessor, runtime).to(torch::kDouble);
  features = features - features.mean(0, true);
  // Principal axes: eigenvectors of the covariance, largest eigenvalues last.
  auto [values, vectors] = torch::linalg_eigh(features.t().mm(features), "L");
  const int64_t dims = values.size(0);
  torch::Tensor axes = vectors.slice(1, dims - 2, dims).flip(1);
  torch::Tensor points = features.mm(axes);
  const double total = values.clamp_min(0).sum().item<double>();
  nlohmann::json out{{"method", "pca"}, {"points", nlohmann::json::array()}};
  out["explained"] = {total > 0 ? values[dims - 1].item<double>() / total : 0.0,
                      total > 0 ? values[dims - 2].item<double>() / total : 0.0};
  torch::Tensor labels = subset->labels();
  auto xy = points.accessor<double, 2>();
  for (int64_t i = 0; i < points.size(0); ++i) {
    out["points"].push_back({xy[i][0], xy[i][1], labels[i].item<int64_t>()});
  }
  return out;
}

}  // namespace pretext
