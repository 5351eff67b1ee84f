// Text made up for the tokenizer and text-dataset tests: sentences of common English words drawn
// by a fixed generator, plus a few with literal "[MASK]"-like text, and small tokenizers trained
// on them once per test binary.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "pretext/text/tokenizer.h"

namespace pretext::testing_text {

inline const std::vector<std::string>& words() {
  static const std::vector<std::string> list = {
      "the",    "a",       "cat",    "dog",     "sat",    "on",      "mat",     "and",    "ran",    "to",
      "house",  "garden",  "under",  "over",    "bright", "morning", "evening", "letter", "wrote",  "read",
      "market", "price",   "rose",   "fell",    "money",  "free",    "offer",   "click",  "here",   "now",
      "meeting", "project", "report", "friday", "monday", "please",  "send",    "file",   "thanks", "team",
      "river",  "bridge",  "old",    "new",     "quiet",  "loud",    "winter",  "summer", "city",   "road",
      "green",  "blue",    "small",  "large",   "table",  "window",  "door",    "light",  "night",  "day",
      "people", "country", "law",    "states",  "union",  "congress", "war",    "peace",  "trade",  "year"};
  return list;
}

// `count` generated sentences of 4–11 words, capitalised, ending in punctuation; one in 10
// carries a literal "[MASK]", "[CLS]", "[SEP]" or "[PAD] [UNK]"; plus one fixed sentence first.
inline std::vector<std::string> sentences(size_t count, uint64_t seed = 7) {
  std::mt19937_64 generator(seed);
  const auto& list = words();
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    size_t length = 4 + generator() % 8;
    std::string sentence;
    for (size_t w = 0; w < length; ++w) {
      std::string word = list[generator() % list.size()];
      if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      sentence += (w == 0 ? "" : " ") + word;
    }
    if (i % 10 == 3) sentence += std::vector<std::string>{" [MASK]", " [CLS]", " [SEP]", " [PAD] [UNK]"}[i / 10 % 4];
    sentence += i % 7 == 0 ? "!" : (i % 5 == 0 ? "?" : ".");
    out.push_back(sentence);
  }
  // SentencePiece drops its control symbols' text ("[CLS]"…) from what it trains on, so the
  // brackets and capitals of those words must also appear elsewhere to be learned.
  out.insert(out.begin(), "Keep the [note] for Monday, Under the City Law: People And Sat Day Evening Now.");
  return out;
}

inline TokenizerOptions small_options(const std::string& model_type = "unigram") {
  TokenizerOptions options;
  options.model_type = model_type;
  options.vocab_size = 200;
  options.character_coverage = 1.0;
  return options;
}

// Unigram, 200 pieces, trained on sentences(400).
inline const Tokenizer& small_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::train(sentences(400), small_options());
  return tokenizer;
}

}  // namespace pretext::testing_text
