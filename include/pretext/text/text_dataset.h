// TextDataset: a tokenized corpus cut into windows, one sample per window, in the Batch layout of
// data/text_batch.h. A window holds up to max_length − 3 tokens (room for [CLS] A [SEP] B [SEP])
// of consecutive whole sentences of one document, packed greedily as BERT's pretraining data
// (Devlin et al. 2019, §A.2; create_pretraining_data.py); a sentence longer than a window is cut
// into window-sized pieces, each counting as a sentence.
// A sentence pair (TextDocument::pair_start ≥ 0) is always one window: A's tokens, [SEP], B's
// tokens (sentence numbers 0 and 1), trimmed from the end of the longer segment to fit, so that
// the formatted input is [CLS] A [SEP] B [SEP] as BERT's pair classification reads it.
// Requires: document labels in [−1, class_names.size()).
// With packing "corpus" (pretraining with masked-LM alone), windows cross documents and
// sentences: the documents' tokens in corpus order, a [SEP] between two documents, cut into full
// windows, as Hugging Face's run_mlm.py groups texts (RoBERTa's FULL-SENTENCES, Liu et al. 2019,
// §4.2, cut at sentence ends instead, which leaves a fifth of 64-token windows empty); a window's
// document (group) and label are those of the document that gives it the most tokens.
// Guarantees: windows are in document order, those of one document contiguous; every batch has
// L = max_length − 3 columns whatever its windows' lengths (sample_shape() = {L}).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pretext/data/dataset.h"
#include "pretext/data/text.h"
#include "pretext/text/tokenizer.h"

namespace pretext {

struct TextWindowOptions {
  // Formatted length, specials included. BERT pretrains 90% of its steps at 128 (Devlin et al.
  // 2019, §A.2): attention's cost grows with the square of the length.
  int64_t max_length = 128;
  // "split": every window of a document is a sample (all the text is used, for pretraining);
  // "truncate": only the first window (one sample per document, as a classifier's input).
  std::string long_documents = "split";
  int64_t max_windows_per_document = 0;  // the first N windows of each document; 0 = all
  // "document": a window holds sentences of one document (the rest of it is padding);
  // "corpus": consecutive documents fill every window to the last token (needs long_documents "split" and no
  // max_windows_per_document; not for sentence pairs or next-sentence prediction).
  std::string packing = "document";

  int64_t window_tokens() const { return max_length - 3; }
  // Throws ConfigError naming the field: max_length < 4, long_documents not split|truncate,
  // max_windows_per_document < 0, packing not document|corpus or "corpus" with truncate or a
  // window limit.
  void validate() const;
  static TextWindowOptions from_json(const nlohmann::json& values);  // validates; unknown keys throw
  nlohmann::json to_json() const;
};

class TextDataset : public Dataset {
 public:
  // Encodes every sentence (stops early in a document once its last kept window is full).
  // Throws InputError naming corpus.source when no document has any token, or naming the
  // document's source for a label outside [−1, class_names.size()); ConfigError for bad options.
  TextDataset(const TextCorpus& corpus, const Tokenizer& tokenizer, const TextWindowOptions& options = {});

  int64_t size() const override { return static_cast<int64_t>(window_offsets_.size()) - 1; }
  // input int64 [B, L] (kPad-padded), extra int64 [B, L] (sentence number in the window, −1 on
  // padding), group int64 [B] (document index), label int64 [B], index. InputError for an index
  // outside [0, size()).
  Batch get(const torch::Tensor& indices) const override;
  torch::Tensor labels() const override { return labels_; }
  int64_t num_classes() const override { return static_cast<int64_t>(class_names_.size()); }
  std::vector<std::string> class_names() const override { return class_names_; }
  std::vector<int64_t> sample_shape() const override { return {options_.window_tokens()}; }
  std::string source() const override { return source_; }

  const TextWindowOptions& options() const { return options_; }
  // Documents of the corpus, including those that gave no window (no sentences).
  int64_t num_documents() const { return static_cast<int64_t>(document_windows_.size()); }
  // int64 [size()]: the document of each window (the same as get()'s group).
  const torch::Tensor& window_documents() const { return window_documents_; }
  // The windows [begin, end) of `document` (begin == end for one without text; with packing
  // "corpus" a window can also hold the documents before or after it).
  std::pair<int64_t, int64_t> document_windows(int64_t document) const;
  // The tokens of one window and each token's sentence number in it (as get() lays them out).
  std::vector<int64_t> window_tokens(int64_t window) const;
  std::vector<int64_t> window_sentences(int64_t window) const;
  int64_t total_tokens() const { return static_cast<int64_t>(tokens_.size()); }
  // Documents with text left out by "truncate" or max_windows_per_document.
  int64_t truncated_documents() const { return truncated_documents_; }

 private:
  void check_window(int64_t window) const;

  TextWindowOptions options_;
  std::string source_;
  std::vector<std::string> class_names_;
  // Tokens of all windows back to back; window w is tokens_[window_offsets_[w], window_offsets_[w+1]).
  std::vector<int32_t> tokens_;
  std::vector<int64_t> window_offsets_;
  // Positions in tokens_ where a sentence (or a piece of a cut one) begins; window w's are
  // sentence_starts_[window_sentences_[w], window_sentences_[w+1]).
  std::vector<int64_t> sentence_starts_;
  std::vector<int64_t> window_sentence_offsets_;
  std::vector<std::pair<int64_t, int64_t>> document_windows_;  // [num_documents] windows [begin, end)
  torch::Tensor window_documents_;         // int64 [size()]
  torch::Tensor labels_;                   // int64 [size()]
  int64_t truncated_documents_ = 0;
};

}  // namespace pretext
