// BERT (Devlin et al. 2019): a post-norm Transformer encoder over token ids, in the compact
// sizes of Turc et al. 2019 ("Well-Read Students Learn Better", 64-dimensional heads):
// bert-tiny (2 layers, 128 hidden, 2 heads), bert-mini (4, 256, 4), bert-small (4, 512, 8).
// What it represents: token + learned position + segment embeddings, summed, LayerNorm and
// dropout, then L blocks of multi-head self-attention and a 4× GELU feed-forward, each followed
// by its residual sum and LayerNorm (BERT §3, Vaswani et al. 2017 §3.1).
// Requires: ids int64 [B, T ≤ max_length] formatted as data/text_batch.h says ([CLS] first,
// right-padded with text::kPad), ids < vocab_size; segments 0/1 or undefined.
// Guarantees: [PAD] keys get zero attention weight, so padding never changes the outputs at
// other positions; forward() is the [CLS] position's final state; bad ids, segments or lengths
// are an InputError naming the value.
// Also here: BERT's pretraining heads (masked-LM and next-sentence), which sit on the encoder.
#pragma once

#include <torch/torch.h>

#include <string>

#include "pretext/models/encoder.h"
#include "pretext/models/transformer.h"

namespace pretext {

// The architecture a bert-* config resolves to. Defaults are BERT's (Devlin et al. 2019,
// appendix A.2 and the released bert_config.json): dropout 0.1 on embeddings, sub-layer outputs
// and attention weights; LayerNorm epsilon 1e-12; 2 segment types; feed-forward 4·dim.
struct BertArchitecture {
  int64_t dim = 128;
  int64_t depth = 2;
  int64_t heads = 2;
  double dropout = 0.1;
  double attention_dropout = 0.1;
  double norm_eps = 1e-12;
  int64_t segment_types = 2;
};

// Whether `name` is a built-in BERT size (bert-tiny, bert-mini, bert-small).
bool is_bert_name(const std::string& name);
// Resolves and checks a BERT config: the size's dim/depth/heads unless width/depth override
// them, and dropout (both rates) unless config.dropout ≥ 0 sets it (the range is checked here).
// With `width` set, heads = round(width / 64), at least 1 (the sizes' 64-dimensional heads). Throws ConfigError naming the field when width is not divisible by the heads, or the
// name is not a BERT size.
BertArchitecture bert_architecture(const EncoderConfig& config);

class BertEncoder : public TokenEncoder {
 public:
  // Throws ConfigError when config.vocab_size ≤ text::kSpecialTokens or max_length < 4.
  BertEncoder(const EncoderConfig& config, const BertArchitecture& architecture);
  explicit BertEncoder(const EncoderConfig& config) : BertEncoder(config, bert_architecture(config)) {}

  // ids [B,T], segments [B,T] or undefined → every position's final hidden state [B,T,dim].
  torch::Tensor forward_tokens(const torch::Tensor& ids, const torch::Tensor& segments) override;
  int64_t dim() const override { return architecture_.dim; }
  int64_t vocab_size() const override { return vocab_size_; }
  int64_t max_length() const override { return max_length_; }
  const BertArchitecture& architecture() const { return architecture_; }

  // The token embedding table [vocab_size, dim]; BERT's masked-LM decoder shares it.
  const torch::Tensor& token_embedding_weight() const { return token_embedding_->weight; }

 private:
  BertArchitecture architecture_;
  int64_t vocab_size_;
  int64_t max_length_;
  torch::nn::Embedding token_embedding_{nullptr}, position_embedding_{nullptr}, segment_embedding_{nullptr};
  torch::nn::LayerNorm embedding_norm_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
};

// BERT's masked-LM head (the released modeling.py's get_masked_lm_output): dense dim→dim, GELU,
// LayerNorm, then a decoder whose weight is the token embedding table (tied; passed in at
// forward, so the head owns only its bias) plus a per-token output bias.
class MaskedLMHeadImpl : public torch::nn::Module {
 public:
  MaskedLMHeadImpl(int64_t dim, int64_t vocab_size, double norm_eps = 1e-12);
  // hidden [N, dim], token_embedding [vocab_size, dim] → logits [N, vocab_size].
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& token_embedding);

 private:
  torch::nn::Linear dense_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::Tensor bias_;  // [vocab_size], zeros at the start
};
TORCH_MODULE(MaskedLMHead);

// BERT's next-sentence head: the pooler (dense dim→dim + tanh on the [CLS] state, BERT §3 and
// modeling.py's pooled_output) and a Linear(dim, 2). Logit 1 is IsNext, logit 0 NotNext (the
// order of augment/text.h's is_next labels; the released BERT numbers them the other way).
class NextSentenceHeadImpl : public torch::nn::Module {
 public:
  explicit NextSentenceHeadImpl(int64_t dim);
  // cls [B, dim] → logits [B, 2].
  torch::Tensor forward(const torch::Tensor& cls);

 private:
  torch::nn::Linear pooler_{nullptr}, classifier_{nullptr};
};
TORCH_MODULE(NextSentenceHead);

}  // namespace pretext
