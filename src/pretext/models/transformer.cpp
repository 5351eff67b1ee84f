#include "pretext/models/transformer.h"

#include <torch/version.h>

#include <cmath>
#include <limits>

#include "pretext/core/error.h"

namespace pretext {

namespace nn = torch::nn;

namespace {

// The most negative finite value of a floating dtype: a masked score that softmax turns into an
// exact 0 without the NaNs of −inf in a row that is masked throughout.
double most_negative(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat64:
      return std::numeric_limits<double>::lowest();
    case torch::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case torch::kFloat16:
      return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    default:
      return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

}  // namespace

void trunc_normal_(torch::Tensor tensor, double std) {
  torch::NoGradGuard no_grad;
  // u uniform on [2Φ(−2)−1, 2Φ(2)−1] = [−erf(√2), erf(√2)]; √2·erfinv(u) is then N(0,1) cut at ±2.
  const double bound = std::erf(2.0 / std::sqrt(2.0));
  tensor.uniform_(-bound, bound).erfinv_().mul_(std * std::sqrt(2.0)).clamp_(-2.0 * std, 2.0 * std);
}

void init_transformer_weights(nn::Module& module) {
  torch::NoGradGuard no_grad;
  auto init = [](nn::Module& child) {
    if (auto* linear = child.as<nn::Linear>()) {
      trunc_normal_(linear->weight, 0.02);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* norm = child.as<nn::LayerNorm>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  };
  // modules(include_self = true) would need a shared_ptr to `module`, which a constructor lacks.
  init(module);
  for (auto& child : module.modules(/*include_self=*/false)) init(*child);
}

torch::Tensor scaled_dot_product_attention(const torch::Tensor& query, const torch::Tensor& key,
                                           const torch::Tensor& value, const torch::Tensor& key_padding_mask,
                                           double attention_dropout, bool training) {
  const double dropout = training ? attention_dropout : 0.0;
  torch::Tensor padding;  // bool [B, 1, 1, T]: broadcast over heads and queries
  if (key_padding_mask.defined()) {
    PRETEXT_CHECK(key_padding_mask.dim() == 2 && key_padding_mask.size(0) == key.size(0) &&
                      key_padding_mask.size(1) == key.size(2),
                  ConfigError, "attention: key padding mask must be [B, T] = [", key.size(0), ", ", key.size(2),
                  "], got ", key_padding_mask.sizes());
    padding = key_padding_mask.to(torch::kBool).view({key.size(0), 1, 1, key.size(2)});
  }
#if TORCH_VERSION_MAJOR >= 2
  // The fused kernel (flash / memory-efficient): softmax(QKᵀ/√d + mask)V with a float32 softmax
  // inside. The mask is additive, in the queries' dtype.
  if (!padding.defined()) return at::scaled_dot_product_attention(query, key, value, {}, dropout);
  auto additive =
      torch::zeros(padding.sizes(), query.options()).masked_fill(padding, most_negative(query.scalar_type()));
  return at::scaled_dot_product_attention(query, key, value, additive, dropout);
#else
  // Vaswani et al. 2017, eq. 1. Under bf16 autocast the products run in bf16; the softmax is
  // taken in float32, since its exponentials of logits that reach ±10 lose real accuracy in bf16.
  const double scale = 1.0 / std::sqrt(static_cast<double>(query.size(-1)));
  auto scores = torch::matmul(query * scale, key.transpose(-2, -1));
  torch::Tensor weights;
  if (padding.defined()) {
    scores = scores.to(torch::kFloat32).masked_fill(padding, most_negative(torch::kFloat32));
    weights = torch::softmax(scores, -1);
  } else {
    weights = torch::softmax(scores, -1, torch::kFloat32);
  }
  weights = weights.to(value.scalar_type());
  if (dropout > 0) weights = torch::dropout(weights, dropout, /*train=*/true);
  return torch::matmul(weights, value);
#endif
}

TransformerBlockImpl::TransformerBlockImpl(const TransformerBlockOptions& options) : options_(options) {
  const int64_t dim = options.dim();
  PRETEXT_CHECK(options.heads() > 0 && dim % options.heads() == 0, ConfigError, "transformer block: dim ", dim,
                " must be divisible by the head count ", options.heads());
  PRETEXT_CHECK(options.dropout() >= 0 && options.dropout() < 1 && options.attention_dropout() >= 0 &&
                    options.attention_dropout() < 1,
                ConfigError, "transformer block: dropout rates must be in [0, 1), got ", options.dropout(), " and ",
                options.attention_dropout());
  auto norm = [&] { return nn::LayerNorm(nn::LayerNormOptions({dim}).eps(options.norm_eps())); };
  norm1_ = register_module("norm1", norm());
  qkv_ = register_module("qkv", nn::Linear(dim, 3 * dim));
  proj_ = register_module("proj", nn::Linear(dim, dim));
  norm2_ = register_module("norm2", norm());
  fc1_ = register_module("fc1", nn::Linear(dim, options.mlp_ratio() * dim));
  fc2_ = register_module("fc2", nn::Linear(options.mlp_ratio() * dim, dim));
}

torch::Tensor TransformerBlockImpl::attention(const torch::Tensor& x, int64_t batch, int64_t length,
                                              const torch::Tensor& key_padding_mask) {
  const int64_t dim = options_.dim(), heads = options_.heads(), head_dim = dim / heads;
  // [B·T, 3·D] → [3, B, heads, T, head_dim]
  auto qkv = qkv_->forward(x).reshape({batch, length, 3, heads, head_dim}).permute({2, 0, 3, 1, 4});
  auto out = scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], key_padding_mask, options_.attention_dropout(),
                                          is_training());
  return proj_->forward(out.transpose(1, 2).reshape({batch * length, dim}));
}

torch::Tensor TransformerBlockImpl::dropout(const torch::Tensor& x) {
  if (options_.dropout() == 0 || !is_training()) return x;
  return torch::dropout(x, options_.dropout(), /*train=*/true);
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask) {
  const int64_t batch = x.size(0), length = x.size(1), dim = x.size(2);
  // The Linears see 2-D [B·T, D] inputs: there LibTorch fuses the bias into the product
  // (addmm); on 3-D inputs it adds it separately, which costs as much as the product in bf16 on
  // a CPU.
  // The residual stream stays in the norms' dtype: under bf16 autocast a convolutional front end
  // hands over bf16, which LibTorch 1.13's CPU layer_norm rejects next to float32 weights.
  auto flat = x.reshape({batch * length, dim}).to(norm1_->weight.scalar_type());
  auto mlp = [&](const torch::Tensor& h) { return fc2_->forward(torch::gelu(fc1_->forward(h))); };
  torch::Tensor h;
  if (options_.norm_first()) {
    h = flat + dropout(attention(norm1_->forward(flat), batch, length, key_padding_mask));
    h = h + dropout(mlp(norm2_->forward(h)));
  } else {
    h = norm1_->forward(flat + dropout(attention(flat, batch, length, key_padding_mask)));
    h = norm2_->forward(h + dropout(mlp(h)));
  }
  return h.view({batch, length, dim});
}

}  // namespace pretext
