#include "pretext/models/heads.h"

#include <string>

#include "pretext/core/error.h"
#include "pretext/models/conv_bn.h"

namespace pretext {

namespace nn = torch::nn;

MLPImpl::MLPImpl(const MLPOptions& options) {
  PRETEXT_CHECK(options.layers >= 1, ConfigError, "MLP 'layers' must be ≥ 1, got ", options.layers);
  PRETEXT_CHECK(options.in_dim > 0 && options.out_dim > 0 && (options.layers == 1 || options.hidden_dim > 0),
                ConfigError, "MLP dimensions must be positive, got in ", options.in_dim, ", hidden ",
                options.hidden_dim, ", out ", options.out_dim);
  net_ = nn::Sequential();
  int64_t features = options.in_dim;
  for (int64_t layer = 1; layer < options.layers; ++layer) {
    const std::string suffix = std::to_string(layer);
    net_->push_back("linear" + suffix, nn::Linear(nn::LinearOptions(features, options.hidden_dim).bias(options.bias)));
    if (options.batch_norm) net_->push_back("bn" + suffix, nn::BatchNorm1d(options.hidden_dim));
    net_->push_back("relu" + suffix, nn::ReLU(nn::ReLUOptions().inplace(true)));
    features = options.hidden_dim;
  }
  const std::string last = std::to_string(options.layers);
  net_->push_back("linear" + last, nn::Linear(nn::LinearOptions(features, options.out_dim).bias(options.bias)));
  if (options.last_batch_norm) {
    net_->push_back("bn" + last, nn::BatchNorm1d(nn::BatchNormOptions(options.out_dim).affine(false)));
  }
  register_module("net", net_);
}

// Walked by forward_folding_batch_norm so that its batch norms follow a SyncBatchNormScope.
torch::Tensor MLPImpl::forward(const torch::Tensor& x) { return forward_folding_batch_norm(*net_, x); }

}  // namespace pretext
