// Text inputs for BERT-style pretraining, made from a text Batch (data/text_batch.h layout).
// What it represents: (1) formatting windows as encoder inputs — [CLS] window [SEP], or the
// next-sentence pairs [CLS] A [SEP] B [SEP] with B the real continuation or a segment of another
// document (BERT §3.1); (2) BERT's dynamic masking of 15% of the tokens, 80/10/10.
// Requires: windows int64 [B, L] right-padded with text::kPad; sentence numbers in `extra`
// (optional: without them a window is one sentence); `group` for pairs.
// Guarantees: special ids ([PAD] [UNK] [CLS] [SEP] [MASK], ids < text::kSpecialTokens) are never
// chosen for masking nor drawn as random replacements; every random draw comes from the
// generator passed in (CPU), results are moved to the windows' device.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>

#include "pretext/data/batch.h"

namespace pretext {

// The label of a position the masked-LM loss ignores (PyTorch cross_entropy's ignore_index).
constexpr int64_t kIgnoreLabel = -100;

// BERT's masked-LM corruption (Devlin et al. 2019, §3.1 "Task #1" and appendix A.1).
struct MaskingOptions {
  double mask_probability = 0.15;  // share of a sequence's ordinary tokens chosen for prediction
  double mask_token = 0.8;         // of the chosen: replaced by [MASK]
  double random_token = 0.1;       // of the chosen: replaced by a random ordinary token; the rest stay

  void validate() const;  // throws ConfigError naming the field
  nlohmann::json to_json() const;
};

struct MaskedTokens {
  torch::Tensor ids;     // int64 [B, T]: the corrupted input
  torch::Tensor labels;  // int64 [B, T]: the original id at chosen positions, kIgnoreLabel elsewhere
};

// Chooses, in each sequence, round(mask_probability · n) of its n ordinary (non-special)
// positions uniformly without replacement — at least 1 when n ≥ 1, as BERT's
// create_pretraining_data.py (max(1, round(len · masked_lm_prob))) — and corrupts each chosen
// position independently: [MASK] with probability mask_token, a uniformly random ordinary id in
// [kSpecialTokens, vocab_size) with probability random_token, unchanged otherwise. A fresh draw
// every call (RoBERTa §4.1's dynamic masking). No cap like BERT's max_predictions_per_seq (20 at
// 128 tokens, which 15% of 125 stays under). Throws ConfigError when vocab_size has no
// ordinary ids, InputError when ids is not int64 [B, T].
MaskedTokens mask_tokens(const torch::Tensor& ids, int64_t vocab_size, const MaskingOptions& options,
                         torch::Generator& generator);

// Encoder inputs: ids [B, T] formatted and right-padded with kPad, T = the longest formatted
// sample (≤ max_length); segments [B, T] (0 for [CLS] A [SEP], 1 for B [SEP], 0 on padding);
// is_next [B]: 1 where B is A's real continuation, 0 where it comes from another document
// (all 1 for single segments).
struct FormattedText {
  torch::Tensor ids;
  torch::Tensor segments;
  torch::Tensor is_next;
};

// [CLS] window [SEP] for every sample (RoBERTa's FULL-SENTENCES input, one segment); windows
// longer than max_length − 2 lose their tail. Throws InputError for a malformed batch.
FormattedText format_single(const Batch& batch, int64_t max_length);

struct SentencePairOptions {
  double next_probability = 0.5;  // BERT §3.1: 50% IsNext, 50% NotNext

  void validate() const;  // throws ConfigError naming the field
};

// Next-sentence pairs (BERT §3.1 "Task #2" and create_pretraining_data.py). Each window is cut
// into A and B at a sentence boundary drawn uniformly among its boundaries (a window with one
// sentence, or without sentence numbers, at a uniformly drawn token position). With probability
// next_probability B stays (IsNext); otherwise B is replaced by a segment of another sample in
// the batch whose `group` differs — its tokens from a uniformly drawn sentence start, as many as
// fit after A (BERT's target_b_length) — and is_next is 0 (NotNext). BERT draws that segment from
// a random document of the corpus; another document of a shuffled batch is the same draw without
// a second pass over the data. Lengths are then trimmed to max_length − 3 as BERT's
// truncate_seq_pair: one token at a time from the longer of A and B, from its front or back with
// equal odds. Degenerate windows: one of ≤ 1 token has no B of its own and always gets a NotNext
// B; a sample with no other document in the batch keeps its own B (IsNext), which may then be
// empty. Throws InputError when `group` is undefined or shapes disagree.
FormattedText make_sentence_pairs(const Batch& batch, int64_t max_length, const SentencePairOptions& options,
                                  torch::Generator& generator);

}  // namespace pretext
