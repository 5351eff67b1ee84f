#include "pretext/models/bert.h"

#include <algorithm>
#include <cmath>

#include "pretext/core/error.h"
#include "pretext/data/text_batch.h"

namespace pretext {

namespace nn = torch::nn;

namespace {

// Turc et al. 2019, table of the 24 compact BERTs (layers L, hidden H, heads H/64).
constexpr int64_t kHeadDim = 64;

BertArchitecture size(int64_t dim, int64_t depth, int64_t heads) {
  BertArchitecture out;
  out.dim = dim;
  out.depth = depth;
  out.heads = heads;
  return out;
}

// [min, max] of an integer tensor with one device synchronisation.
std::pair<int64_t, int64_t> value_range(const torch::Tensor& values) {
  auto range = torch::stack({values.min(), values.max()}).to(torch::kCPU);
  return {range[0].item<int64_t>(), range[1].item<int64_t>()};
}

}  // namespace

bool is_bert_name(const std::string& name) {
  return name == "bert-tiny" || name == "bert-mini" || name == "bert-small";
}

BertArchitecture bert_architecture(const EncoderConfig& config) {
  PRETEXT_CHECK(is_bert_name(config.name), ConfigError, "encoder '", config.name,
                "' is not a BERT size (bert-tiny, bert-mini, bert-small)");
  BertArchitecture out = config.name == "bert-small"  ? size(512, 4, 8)
                         : config.name == "bert-mini" ? size(256, 4, 4)
                                                      : size(128, 2, 2);
  PRETEXT_CHECK(config.depth >= 0, ConfigError, "encoder option 'depth' must be ≥ 0 (0 = the size's default), got ",
                config.depth);
  PRETEXT_CHECK(config.width >= 0, ConfigError, "encoder option 'width' must be ≥ 0 (0 = the size's default), got ",
                config.width);
  PRETEXT_CHECK(config.patch_size == 0, ConfigError, "encoder option 'patch_size' applies to ViT encoders, not '",
                config.name, "'");
  PRETEXT_CHECK(config.dropout == -1 || (config.dropout >= 0 && config.dropout < 1), ConfigError,
                "encoder option 'dropout' must be in [0, 1) (or -1 for BERT's 0.1), got ", config.dropout);
  if (config.depth > 0) out.depth = config.depth;
  if (config.dropout >= 0) {
    out.dropout = config.dropout;
    out.attention_dropout = config.dropout;
  }
  if (config.width > 0 && config.width != out.dim) {
    out.dim = config.width;
    out.heads = std::max<int64_t>(1, std::llround(static_cast<double>(out.dim) / kHeadDim));
  }
  PRETEXT_CHECK(out.dim % out.heads == 0, ConfigError, "encoder option 'width' ", out.dim,
                " must be divisible by the head count ", out.heads, " (width/64, rounded) for ", config.name);
  return out;
}

BertEncoder::BertEncoder(const EncoderConfig& config, const BertArchitecture& architecture)
    : TokenEncoder("BertEncoder", config.pooling),
      architecture_(architecture),
      vocab_size_(config.vocab_size),
      max_length_(config.max_length) {
  const int64_t dim = architecture_.dim;
  PRETEXT_CHECK(vocab_size_ > text::kSpecialTokens, ConfigError, "encoder '", config.name,
                "' needs option 'vocab_size' (the tokenizer's vocabulary, more than the ", text::kSpecialTokens,
                " special tokens), got ", vocab_size_);
  PRETEXT_CHECK(max_length_ >= 4, ConfigError, "encoder option 'max_length' must be ≥ 4 tokens, got ", max_length_);
  PRETEXT_CHECK(architecture_.depth > 0 && architecture_.heads > 0 && dim % architecture_.heads == 0, ConfigError,
                "BERT: dim ", dim, " must be divisible by the head count ", architecture_.heads,
                "; depth must be > 0, got ", architecture_.depth);
  PRETEXT_CHECK(architecture_.dropout >= 0 && architecture_.dropout < 1 && architecture_.segment_types >= 1,
                ConfigError, "BERT: dropout must be in [0, 1) and segment_types ≥ 1, got ", architecture_.dropout,
                " and ", architecture_.segment_types);

  token_embedding_ = register_module("token_embedding", nn::Embedding(vocab_size_, dim));
  position_embedding_ = register_module("position_embedding", nn::Embedding(max_length_, dim));
  segment_embedding_ = register_module("segment_embedding", nn::Embedding(architecture_.segment_types, dim));
  embedding_norm_ =
      register_module("embedding_norm", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(architecture_.norm_eps)));
  blocks_ = register_module("blocks", nn::ModuleList());
  for (int64_t block = 0; block < architecture_.depth; ++block) {
    blocks_->push_back(TransformerBlock(TransformerBlockOptions(dim, architecture_.heads)
                                            .norm_first(false)
                                            .norm_eps(architecture_.norm_eps)
                                            .dropout(architecture_.dropout)
                                            .attention_dropout(architecture_.attention_dropout)));
  }

  // BERT's modeling.py initialises every weight, the embedding tables included, from a normal
  // truncated at 2σ with σ = initializer_range = 0.02; biases 0; LayerNorm 1 and 0.
  init_transformer_weights(*this);
  for (auto* table : {&token_embedding_, &position_embedding_, &segment_embedding_}) {
    trunc_normal_((*table)->weight, 0.02);
  }
}

torch::Tensor BertEncoder::forward_tokens(const torch::Tensor& ids, const torch::Tensor& segments) {
  PRETEXT_CHECK(ids.dim() == 2 && ids.scalar_type() == torch::kLong, InputError,
                "BERT: token ids must be int64 [B, T], got ", ids.scalar_type(), " ", ids.sizes());
  const int64_t batch = ids.size(0), length = ids.size(1);
  PRETEXT_CHECK(batch > 0 && length > 0, InputError, "BERT: empty input ", ids.sizes());
  PRETEXT_CHECK(length <= max_length_, InputError, "BERT: an input of ", length,
                " tokens is longer than the encoder's max_length ", max_length_,
                " (its position table); trim the text or build the encoder with a larger max_length");
  const auto [lowest_id, highest_id] = value_range(ids);
  PRETEXT_CHECK(lowest_id >= 0 && highest_id < vocab_size_, InputError, "BERT: token id ",
                lowest_id < 0 ? lowest_id : highest_id, " is outside the encoder's vocabulary [0, ", vocab_size_,
                "); the tokenizer does not match this encoder");
  auto device = ids.device();
  auto x =
      token_embedding_->forward(ids) +
      position_embedding_->forward(torch::arange(length, torch::TensorOptions().dtype(torch::kLong).device(device)))
          .unsqueeze(0);
  if (segments.defined()) {
    PRETEXT_CHECK(segments.sizes() == ids.sizes() && segments.scalar_type() == torch::kLong, InputError,
                  "BERT: segment ids must be int64 of the ids' shape ", ids.sizes(), ", got ", segments.scalar_type(),
                  " ", segments.sizes());
    const auto [lowest_segment, highest_segment] = value_range(segments);
    PRETEXT_CHECK(lowest_segment >= 0 && highest_segment < architecture_.segment_types, InputError, "BERT: segment id ",
                  lowest_segment < 0 ? lowest_segment : highest_segment, " is outside [0, ",
                  architecture_.segment_types, ")");
    x = x + segment_embedding_->forward(segments);
  } else {
    x = x + segment_embedding_->weight[0];  // every token in segment A
  }
  x = torch::dropout(embedding_norm_->forward(x), architecture_.dropout, is_training());
  const auto padding = ids.eq(text::kPad);
  for (const auto& block : *blocks_) x = block->as<TransformerBlock>()->forward(x, padding);
  return x;
}

// ---------------------------------------------------------------------------------------------
// Pretraining heads

MaskedLMHeadImpl::MaskedLMHeadImpl(int64_t dim, int64_t vocab_size, double norm_eps) {
  PRETEXT_CHECK(dim > 0 && vocab_size > 0, ConfigError, "masked-LM head: dim and vocab_size must be positive, got ",
                dim, " and ", vocab_size);
  dense_ = register_module("dense", nn::Linear(dim, dim));
  norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(norm_eps)));
  bias_ = register_parameter("bias", torch::zeros({vocab_size}));
  init_transformer_weights(*this);
}

torch::Tensor MaskedLMHeadImpl::forward(const torch::Tensor& hidden, const torch::Tensor& token_embedding) {
  PRETEXT_CHECK(token_embedding.dim() == 2 && token_embedding.size(0) == bias_.size(0) &&
                    hidden.size(-1) == token_embedding.size(1),
                ConfigError, "masked-LM head: token embedding ", token_embedding.sizes(),
                " does not match the head's vocabulary ", bias_.size(0), " and the hidden states ", hidden.sizes());
  // LibTorch 1.13's CPU autocast leaves layer_norm alone, which then rejects bf16 activations
  // with float32 weights: the LayerNorm runs in its weights' dtype.
  auto h = norm_->forward(torch::gelu(dense_->forward(hidden)).to(norm_->weight.scalar_type()));
  // Under bf16 autocast linear() casts the tied table and the bias down with the activations.
  return torch::nn::functional::linear(h, token_embedding, bias_);
}

NextSentenceHeadImpl::NextSentenceHeadImpl(int64_t dim) {
  PRETEXT_CHECK(dim > 0, ConfigError, "next-sentence head: dim must be positive, got ", dim);
  pooler_ = register_module("pooler", nn::Linear(dim, dim));
  classifier_ = register_module("classifier", nn::Linear(dim, 2));
  init_transformer_weights(*this);
}

torch::Tensor NextSentenceHeadImpl::forward(const torch::Tensor& cls) {
  return classifier_->forward(torch::tanh(pooler_->forward(cls)));
}

}  // namespace pretext
