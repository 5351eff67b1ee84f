#include "pretext/text/text_dataset.h"

#include <algorithm>
#include <limits>

#include <ATen/Parallel.h>

#include "pretext/core/error.h"
#include "pretext/core/options.h"
#include "pretext/data/text_batch.h"

namespace pretext {

namespace {
torch::Tensor int64_tensor(const std::vector<int64_t>& values) {
  return torch::from_blob(const_cast<int64_t*>(values.data()), {static_cast<int64_t>(values.size())}, torch::kInt64)
      .clone();
}

// One document cut into windows, with positions relative to the document.
struct DocumentWindows {
  std::vector<int32_t> tokens;
  std::vector<int64_t> sentence_starts;       // where each sentence (or piece of a cut one) begins
  std::vector<int64_t> window_ends;           // token offset after each window
  std::vector<int64_t> window_sentence_ends;  // sentence_starts offset after each window
  bool dropped = false;                       // text left out by the window limit
};

// Greedy packing of whole sentences into windows of `capacity` tokens, as BERT's
// create_pretraining_data.py; a sentence longer than a window is cut into window-sized pieces.
// Stops encoding once `max_windows` windows are full and text remains.
DocumentWindows cut_document(const TextDocument& document, const Tokenizer& tokenizer, int64_t capacity,
                             int64_t max_windows) {
  DocumentWindows out;
  int64_t filled = 0;  // tokens in the open window; 0 = no window open
  auto close_window = [&] {
    out.window_ends.push_back(static_cast<int64_t>(out.tokens.size()));
    out.window_sentence_ends.push_back(static_cast<int64_t>(out.sentence_starts.size()));
    filled = 0;
  };
  auto windows = [&] { return static_cast<int64_t>(out.window_ends.size()); };
  for (const auto& sentence : document.sentences) {
    std::vector<int64_t> ids = tokenizer.encode(sentence);
    const auto count = static_cast<int64_t>(ids.size());
    if (count == 0) continue;
    // A sentence that does not fit after the open window's sentences starts the next window.
    if (filled > 0 && filled + count > capacity) close_window();
    for (int64_t at = 0; at < count;) {
      if (filled == 0 && windows() == max_windows) {
        out.dropped = true;
        return out;
      }
      // Whole when it fits; otherwise (longer than a window) cut into window-sized pieces.
      const int64_t take = std::min(capacity - filled, count - at);
      out.sentence_starts.push_back(static_cast<int64_t>(out.tokens.size()));
      for (int64_t i = at; i < at + take; ++i) out.tokens.push_back(static_cast<int32_t>(ids[i]));
      filled += take;
      at += take;
      if (filled == capacity) close_window();
    }
  }
  if (filled > 0) close_window();
  return out;
}

// A sentence pair (document.pair_start ≥ 0) as one window: A's tokens, [SEP], B's tokens, so that
// the formatted input is [CLS] A [SEP] B [SEP] and the encoder reads B as segment 1 (models/
// encoder.h). Too long for the window: tokens come off the end of the longer of A and B, one at a
// time, as BERT's truncate_seq_pair for fine-tuning (run_classifier.py).
DocumentWindows cut_pair(const TextDocument& document, const Tokenizer& tokenizer, int64_t capacity) {
  std::vector<int64_t> a, b;
  for (int64_t s = 0; s < static_cast<int64_t>(document.sentences.size()); ++s) {
    std::vector<int64_t> ids = tokenizer.encode(document.sentences[s]);
    auto& segment = s < document.pair_start ? a : b;
    segment.insert(segment.end(), ids.begin(), ids.end());
  }
  DocumentWindows out;
  if (a.empty() && b.empty()) return out;
  while (static_cast<int64_t>(a.size() + b.size()) + 1 > capacity) {
    (a.size() > b.size() ? a : b).pop_back();
    out.dropped = true;
  }
  out.sentence_starts.push_back(0);
  for (int64_t id : a) out.tokens.push_back(static_cast<int32_t>(id));
  out.tokens.push_back(static_cast<int32_t>(text::kSep));
  if (!b.empty()) out.sentence_starts.push_back(static_cast<int64_t>(out.tokens.size()));
  for (int64_t id : b) out.tokens.push_back(static_cast<int32_t>(id));
  out.window_ends.push_back(static_cast<int64_t>(out.tokens.size()));
  out.window_sentence_ends.push_back(static_cast<int64_t>(out.sentence_starts.size()));
  return out;
}

}  // namespace

void TextWindowOptions::validate() const {
  PRETEXT_CHECK(max_length >= 4, ConfigError,
                "text windows: max_length must be ≥ 4 (3 special tokens and at least one of text), got ", max_length);
  PRETEXT_CHECK(max_length <= std::numeric_limits<int32_t>::max(), ConfigError,
                "text windows: max_length is too large: ", max_length);
  PRETEXT_CHECK(long_documents == "split" || long_documents == "truncate", ConfigError,
                "text windows: long_documents must be split or truncate, got '", long_documents, "'");
  PRETEXT_CHECK(max_windows_per_document >= 0, ConfigError,
                "text windows: max_windows_per_document must be ≥ 0 (0 = all), got ", max_windows_per_document);
  PRETEXT_CHECK(packing == "document" || packing == "corpus", ConfigError,
                "text windows: packing must be document or corpus, got '", packing, "'");
  PRETEXT_CHECK(packing == "document" || (long_documents == "split" && max_windows_per_document == 0), ConfigError,
                "text windows: packing corpus fills windows with every document's text, so it needs long_documents "
                "split and no max_windows_per_document (got ",
                long_documents, ", ", max_windows_per_document, ")");
}

TextWindowOptions TextWindowOptions::from_json(const nlohmann::json& values) {
  TextWindowOptions options;
  OptionReader reader(values, "text windows");
  reader.read("max_length", options.max_length)
      .read("long_documents", options.long_documents)
      .read("max_windows_per_document", options.max_windows_per_document)
      .read("packing", options.packing);
  reader.finish();
  options.validate();
  return options;
}

nlohmann::json TextWindowOptions::to_json() const {
  return {{"max_length", max_length},
          {"long_documents", long_documents},
          {"max_windows_per_document", max_windows_per_document},
          {"packing", packing}};
}

TextDataset::TextDataset(const TextCorpus& corpus, const Tokenizer& tokenizer, const TextWindowOptions& options)
    : options_(options), source_(corpus.source), class_names_(corpus.class_names) {
  options_.validate();
  const auto classes = static_cast<int64_t>(class_names_.size());
  for (const auto& document : corpus.documents) {
    PRETEXT_CHECK(document.label >= -1 && document.label < classes, InputError,
                  document.source.empty() ? source_ : document.source, ": label ", document.label,
                  " is out of range for ", classes, " classes");
  }

  const int64_t capacity = options_.window_tokens();
  int64_t max_windows = std::numeric_limits<int64_t>::max();
  if (options_.long_documents == "truncate") {
    max_windows = 1;
  } else if (options_.max_windows_per_document > 0) {
    max_windows = options_.max_windows_per_document;
  }

  // Documents are independent: cut them in parallel (encoding is most of the time), then
  // append them in order.
  const auto documents = static_cast<int64_t>(corpus.documents.size());
  std::vector<DocumentWindows> parts(corpus.documents.size());
  at::parallel_for(0, documents, /*grain_size=*/16, [&](int64_t begin, int64_t end) {
    for (int64_t d = begin; d < end; ++d) {
      const TextDocument& document = corpus.documents[d];
      parts[d] = document.pair_start >= 0 ? cut_pair(document, tokenizer, capacity)
                                          : cut_document(document, tokenizer, capacity, max_windows);
    }
  });

  std::vector<int64_t> window_documents;
  std::vector<int64_t> window_labels;
  window_offsets_.push_back(0);
  window_sentence_offsets_.push_back(0);
  document_windows_.reserve(corpus.documents.size());
  if (options_.packing == "document") {
    for (int64_t d = 0; d < documents; ++d) {
      DocumentWindows& part = parts[d];
      const auto token_base = static_cast<int64_t>(tokens_.size());
      const auto sentence_base = static_cast<int64_t>(sentence_starts_.size());
      const auto first_window = static_cast<int64_t>(window_documents.size());
      tokens_.insert(tokens_.end(), part.tokens.begin(), part.tokens.end());
      for (int64_t start : part.sentence_starts) sentence_starts_.push_back(token_base + start);
      for (size_t w = 0; w < part.window_ends.size(); ++w) {
        window_offsets_.push_back(token_base + part.window_ends[w]);
        window_sentence_offsets_.push_back(sentence_base + part.window_sentence_ends[w]);
        window_documents.push_back(d);
        window_labels.push_back(corpus.documents[d].label);
      }
      if (part.dropped) ++truncated_documents_;
      document_windows_.emplace_back(first_window, static_cast<int64_t>(window_documents.size()));
      part = DocumentWindows();  // give the memory back as we go
    }
  } else {
    // The documents' tokens in corpus order, a [SEP] between two documents, cut into full windows
    // (Hugging Face's run_mlm.py groups texts so); a sentence that does not fit the open window
    // goes on in the next one.
    std::vector<std::pair<int64_t, int64_t>> open_documents;  // (document, tokens) in the open window
    auto window_count = [&] { return static_cast<int64_t>(window_documents.size()); };
    auto filled = [&] { return static_cast<int64_t>(tokens_.size()) - window_offsets_.back(); };
    auto close_window = [&] {
      const auto most = std::max_element(open_documents.begin(), open_documents.end(),
                                         [](const auto& a, const auto& b) { return a.second < b.second; });
      window_offsets_.push_back(static_cast<int64_t>(tokens_.size()));
      window_sentence_offsets_.push_back(static_cast<int64_t>(sentence_starts_.size()));
      window_documents.push_back(most->first);
      window_labels.push_back(corpus.documents[most->first].label);
      open_documents.clear();
    };
    for (int64_t d = 0; d < documents; ++d) {
      DocumentWindows& part = parts[d];
      PRETEXT_CHECK(corpus.documents[d].pair_start < 0, InputError,
                    corpus.documents[d].source.empty() ? source_ : corpus.documents[d].source,
                    ": a sentence pair cannot be packed with other documents; use packing document");
      const auto pieces = static_cast<int64_t>(part.sentence_starts.size());
      int64_t first_window = window_count();
      for (int64_t p = 0; p < pieces; ++p) {
        int64_t at = part.sentence_starts[p];
        const int64_t end = p + 1 < pieces ? part.sentence_starts[p + 1] : static_cast<int64_t>(part.tokens.size());
        bool separated = false;  // a [SEP] opens this (the document's first) sentence
        if (p == 0 && filled() > 0) {
          // Alone at a window's end the separator is left out: the next window opens with [CLS].
          if (filled() + 1 == capacity) {
            close_window();
          } else {
            sentence_starts_.push_back(static_cast<int64_t>(tokens_.size()));
            tokens_.push_back(static_cast<int32_t>(text::kSep));
            separated = true;
          }
        }
        if (p == 0) first_window = window_count();
        while (at < end) {
          if (!separated) sentence_starts_.push_back(static_cast<int64_t>(tokens_.size()));
          separated = false;
          const int64_t take = std::min(capacity - filled(), end - at);
          tokens_.insert(tokens_.end(), part.tokens.begin() + at, part.tokens.begin() + at + take);
          at += take;
          if (open_documents.empty() || open_documents.back().first != d) open_documents.emplace_back(d, 0);
          open_documents.back().second += take;
          if (filled() == capacity) close_window();
        }
      }
      // The document's last window is the open one, if its text reached it.
      const bool in_open = !open_documents.empty() && open_documents.back().first == d;
      document_windows_.emplace_back(first_window, window_count() + (in_open ? 1 : 0));
      part = DocumentWindows();
    }
    if (filled() > 0) close_window();
  }
  PRETEXT_CHECK(size() > 0, InputError, source_.empty() ? "text corpus" : source_, ": no text to make samples of (",
                corpus.documents.size(), " documents, none with a token)");
  window_documents_ = int64_tensor(window_documents);
  labels_ = int64_tensor(window_labels);
}

void TextDataset::check_window(int64_t window) const {
  PRETEXT_CHECK(window >= 0 && window < size(), InputError, source_, ": window ", window, " is out of range [0, ",
                size(), ")");
}

std::pair<int64_t, int64_t> TextDataset::document_windows(int64_t document) const {
  PRETEXT_CHECK(document >= 0 && document < num_documents(), InputError, source_, ": document ", document,
                " is out of range [0, ", num_documents(), ")");
  return document_windows_[document];
}

std::vector<int64_t> TextDataset::window_tokens(int64_t window) const {
  check_window(window);
  return std::vector<int64_t>(tokens_.begin() + window_offsets_[window], tokens_.begin() + window_offsets_[window + 1]);
}

std::vector<int64_t> TextDataset::window_sentences(int64_t window) const {
  check_window(window);
  const int64_t begin = window_offsets_[window];
  const int64_t end = window_offsets_[window + 1];
  std::vector<int64_t> numbers(static_cast<size_t>(end - begin));
  const int64_t first = window_sentence_offsets_[window];
  const int64_t last = window_sentence_offsets_[window + 1];
  for (int64_t s = first; s < last; ++s) {
    const int64_t stop = s + 1 < last ? sentence_starts_[s + 1] : end;
    for (int64_t t = sentence_starts_[s]; t < stop; ++t) numbers[t - begin] = s - first;
  }
  return numbers;
}

Batch TextDataset::get(const torch::Tensor& indices) const {
  Batch batch;
  batch.index = indices.to(torch::kInt64).cpu().contiguous().reshape({-1});
  const int64_t count = batch.index.size(0);
  const int64_t length = options_.window_tokens();
  batch.input = torch::full({count, length}, text::kPad, torch::kInt64);
  batch.extra = torch::full({count, length}, -1, torch::kInt64);
  auto windows = batch.index.accessor<int64_t, 1>();
  auto input = batch.input.accessor<int64_t, 2>();
  auto extra = batch.extra.accessor<int64_t, 2>();
  for (int64_t b = 0; b < count; ++b) {
    const int64_t window = windows[b];
    check_window(window);
    const int64_t begin = window_offsets_[window];
    const int64_t end = window_offsets_[window + 1];
    for (int64_t t = begin; t < end; ++t) input[b][t - begin] = tokens_[t];
    const int64_t first = window_sentence_offsets_[window];
    const int64_t last = window_sentence_offsets_[window + 1];
    for (int64_t s = first; s < last; ++s) {
      const int64_t stop = s + 1 < last ? sentence_starts_[s + 1] : end;
      for (int64_t t = sentence_starts_[s]; t < stop; ++t) extra[b][t - begin] = s - first;
    }
  }
  batch.group = window_documents_.index_select(0, batch.index);
  batch.label = labels_.index_select(0, batch.index);
  return batch;
}

}  // namespace pretext
