// Tokenizer: a SentencePiece model (Kudo & Richardson 2018) trained on the user's own sentences,
// whose first five ids are exactly data/text_batch.h's specials: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3
// [MASK]=4. [CLS] [SEP] [MASK] are control symbols, so text never encodes to them (a literal
// "[MASK]" in an e-mail is ordinary characters, and SentencePiece leaves those strings out of what
// it trains on); there is no BOS/EOS.
// Requires: a model given to from_bytes()/load() has those five specials at those ids.
// Guarantees: encode() never returns an id below kSpecialTokens other than [UNK]; bytes() is the
// whole model (what a checkpoint stores); the object is immutable and cheap to copy, and its
// const methods may be called from several threads at once.
// SentencePiece runs inside libpretext_sentencepiece.so, loaded on first use (src/pretext/text/
// sentencepiece_module.h says why); IoError when it cannot be found or loaded.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pretext/data/text.h"

namespace pretext {
namespace sentencepiece_module {
class Model;
}

struct TokenizerOptions {
  // "unigram" (Kudo 2018, "Subword Regularization") or "bpe" (Sennrich et al. 2016). Unigram is
  // SentencePiece's default, and Bostrom & Durrett 2020 ("Byte Pair Encoding is Suboptimal for
  // Language Model Pretraining", §4–5) found it matches or beats BPE after pretraining.
  std::string model_type = "unigram";
  // BERT uses a 30k WordPiece vocabulary (Devlin et al. 2019, §3) for billions of words. For a
  // corpus of a few thousand e-mails most of 30k pieces would be seen a handful of times, and
  // the embedding table (30k × 128 for bert-tiny) would outweigh the Transformer itself; 8000 is
  // SentencePiece's own example size (its README, "Train SentencePiece Model").
  int64_t vocab_size = 8000;
  // SentencePiece's default: the rarest 0.05% of characters (stray symbols, other scripts in
  // spam) become [UNK] instead of taking a piece each. Its README suggests 1.0 for languages with
  // a small alphabet; raise it for clean single-language text.
  double character_coverage = 0.9995;
  // Sentences used for training, sampled (without replacement, deterministically from `seed`)
  // when the corpus has more. Training time grows about linearly with it: an 8000-piece unigram
  // model on 50k sentences (9 MB) took 7 s on 2 cores, so 300k bounds training to under a minute
  // and keeps all of the text of a few thousand e-mails.
  int64_t max_sentences = 300000;
  uint64_t seed = 0;  // only the sub-sampling above is random

  // Throws ConfigError naming the field: model_type not unigram|bpe, vocab_size ≤ 5 or beyond
  // int32, character_coverage outside (0, 1], max_sentences < 1.
  void validate() const;
  static TokenizerOptions from_json(const nlohmann::json& values);  // validates; unknown keys throw
  nlohmann::json to_json() const;
};

class Tokenizer {
 public:
  // Trains in memory (no files). Empty sentences are skipped. Throws InputError when no sentence
  // is left, ConfigError (naming vocab_size, with SentencePiece's own reason and limit) when the
  // corpus cannot fill vocab_size pieces or vocab_size cannot hold its characters. The vocabulary
  // size is a hard limit: a smaller model than asked is never returned silently, because the
  // encoder's embedding table and a config that says 8000 must agree.
  // SentencePiece's own log is always off (it cannot write to stderr from inside its module);
  // PRETEXT_LOG_LEVEL=debug logs what is trained on and how long it took.
  static Tokenizer train(const std::vector<std::string>& sentences, const TokenizerOptions& options = {});
  // The same, on every sentence of every document of `corpus` (messages name corpus.source).
  static Tokenizer train(const TextCorpus& corpus, const TokenizerOptions& options = {});

  // A model from bytes() of another Tokenizer. `source` names it in errors. Throws InputError when
  // the bytes are not a SentencePiece model or its ids 0–4 are not the pretext specials.
  static Tokenizer from_bytes(const std::string& model_proto, const std::string& source = "tokenizer model");
  // Reads a model file written by save(); InputError naming the file when missing or not a model.
  static Tokenizer load(const std::string& path);
  std::string bytes() const;
  // Written atomically (temporary file, fsync, rename); IoError naming the path on failure.
  void save(const std::string& path) const;

  // Text → ids after SentencePiece's NFKC normalisation (which also collapses whitespace).
  // Invalid UTF-8 becomes [UNK]; never throws for any byte string.
  std::vector<int64_t> encode(std::string_view text) const;
  // ids → text. [PAD] [CLS] [SEP] [MASK] are skipped; [UNK] shows as SentencePiece's " ⁇ " so
  // that lost characters stay visible. Throws InputError for an id outside [0, vocab_size()).
  std::string decode(const std::vector<int64_t>& ids) const;

  int64_t vocab_size() const;
  // The piece of `id` ("▁the", "[MASK]"); InputError for an id outside [0, vocab_size()).
  std::string piece(int64_t id) const;
  const std::string& model_type() const { return model_type_; }  // "unigram" | "bpe" | …
  // {"type", "vocab_size", "fingerprint"} for logs and checkpoints; the fingerprint (FNV-1a 64 of
  // bytes(), hex) tells two models apart, e.g. a checkpoint's tokenizer from another one.
  nlohmann::json summary() const;

 private:
  Tokenizer(std::shared_ptr<const sentencepiece_module::Model> model, std::string model_type);
  static Tokenizer train_pointers(const std::vector<const std::string*>& sentences, const TokenizerOptions& options,
                                  const std::string& source);

  std::shared_ptr<const sentencepiece_module::Model> model_;
  std::string model_type_;
};

}  // namespace pretext
