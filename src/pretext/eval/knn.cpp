#include "pretext/core/error.h"
#include "pretext/eval/protocols.h"

namespace pretext {

void KnnOptions::validate() const {
  PRETEXT_CHECK(k > 0, ConfigError, "--knn-k must be > 0, got ", k);
  PRETEXT_CHECK(temperature > 0, ConfigError, "--knn-temperature must be > 0, got ", temperature);
}

torch::Tensor knn_predict(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                          const torch::Tensor& query_features, int64_t num_classes, const KnnOptions& options) {
  options.validate();
  PRETEXT_CHECK(train_features.size(0) == train_labels.size(0) && train_features.size(0) > 0, Error,
                "k-NN: ", train_features.size(0), " features for ", train_labels.size(0), " labels");
  namespace F = torch::nn::functional;
  auto bank = F::normalize(train_features.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
  auto labels = train_labels.to(torch::kLong);
  const int64_t k = std::min<int64_t>(options.k, bank.size(0));
  std::vector<torch::Tensor> predictions;
  // Queries in chunks so that the similarity matrix stays a few hundred megabytes.
  constexpr int64_t kChunk = 1024;
  for (int64_t start = 0; start < query_features.size(0); start += kChunk) {
    auto queries = F::normalize(query_features.slice(0, start, start + kChunk).to(torch::kFloat32),
                                F::NormalizeFuncOptions().dim(1));
    auto similarity = torch::matmul(queries, bank.t());
    auto [top_similarity, top_index] = similarity.topk(k, 1);
    // Each neighbour votes for its class with weight exp(s / τ) (Wu et al. 2018, eq. 7).
    auto weights = (top_similarity / options.temperature).exp();
    auto votes = torch::zeros({queries.size(0), num_classes}, torch::kFloat32);
    votes.scatter_add_(1, labels.index_select(0, top_index.flatten()).view_as(top_index), weights);
    predictions.push_back(votes.argmax(1));
  }
  return torch::cat(predictions, 0);
}

}  // namespace pretext
