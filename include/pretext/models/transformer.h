// The Transformer pieces shared by the ViT (and MAE's decoder) and BERT: multi-head scaled
// dot-product attention with an optional key padding mask, one block in either LayerNorm
// placement (pre-norm as ViT, post-norm as BERT), and the 0.02 truncated-normal initialisation
// both families use.
// Requires: activations [B, T, dim]; a padding mask bool [B, T] (true = a padding key).
// Guarantees: a padding key gets exactly zero attention weight, so the outputs at the other
// positions are those of the sequence without it; the softmax runs in float32 under bf16
// autocast; LibTorch 2.x uses its fused scaled_dot_product_attention kernel.
#pragma once

#include <torch/torch.h>

namespace pretext {

// In place: samples N(0, std²) truncated to ±2·std (inverse-CDF sampling, as
// torch.nn.init.trunc_normal_ and TensorFlow's truncated_normal_initializer).
void trunc_normal_(torch::Tensor tensor, double std);
// timm/MAE (and BERT's modeling.py) initialisation for every submodule of `module`: Linear
// weights trunc-normal(0.02) with zero biases, LayerNorm weight 1 and bias 0.
void init_transformer_weights(torch::nn::Module& module);

// softmax(QKᵀ/√d)·V (Vaswani et al. 2017, eq. 1) for query, key, value [B, heads, T, head_dim].
// key_padding_mask: bool [B, T], true where a key is padding (it gets weight 0), or undefined.
// attention_dropout applies to the weights when `training`. A row whose keys are all padding
// gets uniform weights rather than NaNs.
torch::Tensor scaled_dot_product_attention(const torch::Tensor& query, const torch::Tensor& key,
                                           const torch::Tensor& value, const torch::Tensor& key_padding_mask,
                                           double attention_dropout = 0.0, bool training = false);

struct TransformerBlockOptions {
  TransformerBlockOptions(int64_t dim, int64_t heads) : dim_(dim), heads_(heads) {}
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(int64_t, mlp_ratio) = 4;   // hidden = 4·dim (ViT, DeiT, MAE, BERT)
  TORCH_ARG(double, norm_eps) = 1e-6;  // timm's ViT LayerNorm epsilon (BERT: 1e-12)
  // true: pre-norm, x + f(LN(x)) (ViT, Dosovitskiy et al. 2021 eqs. 2–3); false: post-norm,
  // LN(x + f(x)) (Vaswani et al. 2017 §3.1, BERT).
  TORCH_ARG(bool, norm_first) = true;
  // Dropout on each sub-layer's output before the residual sum, and on the attention weights
  // (BERT: 0.1 each, appendix A.2; the ViTs here use none).
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(double, attention_dropout) = 0.0;
};

// One Transformer block: multi-head self-attention with one qkv projection, then an MLP
// Linear → GELU → Linear, each a residual branch with a LayerNorm placed as norm_first says.
class TransformerBlockImpl : public torch::nn::Module {
 public:
  explicit TransformerBlockImpl(const TransformerBlockOptions& options);
  // x [B,T,dim] → [B,T,dim]; key_padding_mask bool [B,T] (true = padding) or undefined.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {});

 private:
  // x: [B·T, dim] → [B·T, dim]
  torch::Tensor attention(const torch::Tensor& x, int64_t batch, int64_t length, const torch::Tensor& key_padding_mask);
  torch::Tensor dropout(const torch::Tensor& x);

  TransformerBlockOptions options_;
  torch::nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace pretext
