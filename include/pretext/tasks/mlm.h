// Masked-language-model pretraining for a BERT encoder, in two registered forms:
//   mlm      RoBERTa (Liu et al. 2019): masked-LM alone on full windows, one segment each
//            ([CLS] window [SEP]), with dynamic masking.
//   mlm-nsp  BERT (Devlin et al. 2019): masked-LM plus next-sentence prediction on pairs
//            [CLS] A [SEP] B [SEP]; loss = masked-LM + NSP (BERT's run_pretraining.py sums them).
// The masked-LM head is BERT's (dense + GELU + LayerNorm, a decoder tied to the token
// embeddings, an output bias); the NSP head is BERT's pooler (dense + tanh on [CLS]) and a
// Linear(2).
// Requires: text batches (data/text_batch.h) and a BERT encoder (bert-tiny, bert-mini,
// bert-small) whose vocab_size is the tokenizer's; anything else is a ConfigError naming it.
// Guarantees: masking and pairs are drawn from the task's generator; stats mlm_loss,
// mlm_accuracy (and nsp_loss, nsp_accuracy); Output.embedding is the [CLS] state (the encoder's pooled representation), detached.
#pragma once

#include <memory>
#include <utility>

#include "pretext/augment/text.h"
#include "pretext/models/bert.h"
#include "pretext/tasks/task.h"

namespace pretext {

struct MLMOptions {
  MaskingOptions masking;      // 15% chosen; 80% [MASK], 10% random, 10% kept (BERT §3.1)
  SentencePairOptions pairs;   // mlm-nsp only: 50% IsNext (BERT §3.1)
  bool next_sentence = false;  // true for mlm-nsp; set by the task's name, not an option key

  // Keys: mask_probability, mask_token, random_token, and next_probability when next_sentence.
  // Unknown keys and invalid values throw ConfigError naming the task and the key.
  static MLMOptions from_json(const nlohmann::json& values, bool next_sentence);
  nlohmann::json to_json() const;
};

// The masked-LM loss: cross-entropy of logits [..., V] against labels [...], averaged over the
// positions whose label is not kIgnoreLabel (BERT scores the chosen positions only). Returns
// {loss, accuracy of the argmax at those positions}; computed in float32.
std::pair<torch::Tensor, torch::Tensor> masked_lm_loss(const torch::Tensor& logits, const torch::Tensor& labels);
// The next-sentence loss: cross-entropy of logits [B, 2] against is_next [B] (1 = IsNext),
// averaged over the batch. Returns {loss, accuracy}; computed in float32.
std::pair<torch::Tensor, torch::Tensor> next_sentence_loss(const torch::Tensor& logits, const torch::Tensor& is_next);

class MLMTask : public PretextTask {
 public:
  MLMTask(const TaskContext& context, MLMOptions options);
  Output step(const Batch& batch) override;
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return options_.to_json(); }

  const MLMOptions& options() const { return options_; }
  MaskedLMHead& mlm_head() { return mlm_head_; }
  NextSentenceHead& nsp_head() { return nsp_head_; }  // null for mlm

 private:
  MLMOptions options_;
  std::shared_ptr<BertEncoder> encoder_;
  MaskedLMHead mlm_head_{nullptr};
  NextSentenceHead nsp_head_{nullptr};
};

}  // namespace pretext
