#include "pretext/text/tokenizer.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <unordered_map>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/hash.h"
#include "pretext/core/log.h"
#include "pretext/core/options.h"
#include "pretext/core/runtime.h"
#include "pretext/data/text_batch.h"
#include "sentencepiece_module.h"

namespace pretext {

namespace {

// The pieces at ids 0–4, in text_batch.h's order.
const char* const kSpecialPieces[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

#if defined(__SANITIZE_ADDRESS__)
#define PRETEXT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRETEXT_ASAN 1
#endif
#endif

// dlopen, or under AddressSanitizer glibc's own dlopen: ASan's interceptor refuses RTLD_DEEPBIND
// (a deep-bound library could bind malloc to libc's and free memory ASan allocated). Here that
// cannot happen: the module is built with the sanitizer too, so libasan comes first in its own
// scope and SentencePiece's allocations resolve to ASan's as well. Checked with a module and
// program built with -fsanitize=address,undefined and LibTorch's protobuf loaded: training,
// encoding and decoding ran clean.
void* open_module(const char* path, int flags) {
#ifdef PRETEXT_ASAN
  using Dlopen = void* (*)(const char*, int);
  static const Dlopen glibc_dlopen = [] {
    void* libc = ::dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    return libc != nullptr ? reinterpret_cast<Dlopen>(::dlsym(libc, "dlopen")) : nullptr;
  }();
  if (glibc_dlopen != nullptr) return glibc_dlopen(path, flags);
#endif
  return ::dlopen(path, flags);
}

// The SentencePiece module, loaded once: from $PRETEXT_SENTENCEPIECE_MODULE when set, else the
// build tree's copy, else next to the executable (or in ../lib), else the loader's search path.
const sentencepiece_module::Library& sentencepiece_library() {
  static std::mutex mutex;
  static const sentencepiece_module::Library* library = nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  if (library != nullptr) return *library;

  namespace fs = std::filesystem;
  const std::string file = "libpretext_sentencepiece.so";
  std::vector<std::string> candidates;
  if (const char* chosen = std::getenv("PRETEXT_SENTENCEPIECE_MODULE"); chosen != nullptr && *chosen != 0) {
    candidates.push_back(chosen);
  } else {
#ifdef PRETEXT_SENTENCEPIECE_MODULE_PATH
    candidates.push_back(PRETEXT_SENTENCEPIECE_MODULE_PATH);
#endif
    std::error_code error;
    fs::path program = fs::read_symlink("/proc/self/exe", error);
    if (!error) {
      candidates.push_back((program.parent_path() / file).string());
      candidates.push_back((program.parent_path().parent_path() / "lib" / file).string());
    }
    candidates.push_back(file);
  }
  std::string reasons;
  for (const auto& candidate : candidates) {
    std::error_code error;
    if (candidate.find('/') != std::string::npos && !fs::exists(candidate, error)) continue;
    // DEEPBIND: the module and SentencePiece resolve their symbols among themselves first, so
    // SentencePiece's bundled protobuf never meets LibTorch's; LOCAL: nothing else sees them.
    void* handle = open_module(candidate.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      reasons += "\n  " + candidate + ": " + (why != nullptr ? why : "not loadable");
      continue;
    }
    auto entry = reinterpret_cast<PretextSentencePieceEntry>(::dlsym(handle, PRETEXT_SENTENCEPIECE_ENTRY));
    library = entry != nullptr ? entry(sentencepiece_module::kInterfaceVersion) : nullptr;
    if (library != nullptr) return *library;
    reasons += "\n  " + candidate + ": not a pretext SentencePiece module of interface version " +
               std::to_string(sentencepiece_module::kInterfaceVersion);
    ::dlclose(handle);
  }
  throw IoError("cannot load the SentencePiece module " + file +
                " (built with pretext as target pretext_sentencepiece; set PRETEXT_SENTENCEPIECE_MODULE to its path)" +
                (reasons.empty() ? std::string(": not found") : reasons));
}

// `keep` of `sentences`, chosen by a partial Fisher–Yates shuffle driven by mt19937_64 (whose
// output the standard fixes, unlike std::shuffle's), returned in corpus order.
std::vector<const std::string*> sample_sentences(const std::vector<const std::string*>& sentences, size_t keep,
                                                 uint64_t seed) {
  if (sentences.size() <= keep) return sentences;
  std::vector<size_t> order(sentences.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 generator(seed);
  for (size_t i = 0; i < keep; ++i) {
    // The modulo bias is below 2^-40 for any corpus that fits in memory.
    size_t pick = i + static_cast<size_t>(generator() % (order.size() - i));
    std::swap(order[i], order[pick]);
  }
  order.resize(keep);
  std::sort(order.begin(), order.end());
  std::vector<const std::string*> chosen;
  chosen.reserve(keep);
  for (size_t i : order) chosen.push_back(sentences[i]);
  return chosen;
}

// SentencePiece's message without its "Internal: file(line) [condition] " prefix.
std::string sentencepiece_reason(std::string text) {
  size_t bracket = text.find("] ");
  if (text.find("[") != std::string::npos && bracket != std::string::npos) text = text.substr(bracket + 2);
  return text;
}

// Reads one protobuf varint at `at`; false when the bytes end first.
bool read_varint(const std::string& bytes, size_t& at, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && at < bytes.size(); shift += 7) {
    auto byte = static_cast<unsigned char>(bytes[at++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Finds field `field` of the protobuf message in bytes[begin, end): its value (varint) or its
// payload's range (length-delimited). False when absent or malformed.
bool find_field(const std::string& bytes, size_t begin, size_t end, uint64_t field, uint64_t& varint,
                size_t& payload_begin, size_t& payload_end) {
  size_t at = begin;
  while (at < end) {
    uint64_t key = 0;
    if (!read_varint(bytes, at, key)) return false;
    uint64_t number = key >> 3;
    switch (key & 7) {
      case 0: {
        uint64_t value = 0;
        if (!read_varint(bytes, at, value)) return false;
        if (number == field) {
          varint = value;
          return true;
        }
        break;
      }
      case 1:
        at += 8;
        break;
      case 2: {
        uint64_t length = 0;
        if (!read_varint(bytes, at, length) || length > end - at) return false;
        if (number == field) {
          payload_begin = at;
          payload_end = at + length;
          return true;
        }
        at += length;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        return false;
    }
  }
  return false;
}

// The model type recorded in a ModelProto (sentencepiece_model.proto: ModelProto.trainer_spec = 2,
// TrainerSpec.model_type = 3, enum UNIGRAM=1 BPE=2 WORD=3 CHAR=4, default UNIGRAM). The protobuf
// classes are not part of the installed headers, hence this small reader of the wire format.
std::string model_type_of(const std::string& bytes) {
  uint64_t unused = 0;
  size_t spec_begin = 0, spec_end = 0;
  if (!find_field(bytes, 0, bytes.size(), 2, unused, spec_begin, spec_end)) return "unigram";
  uint64_t type = 1;
  size_t ignored_begin = 0, ignored_end = 0;
  find_field(bytes, spec_begin, spec_end, 3, type, ignored_begin, ignored_end);
  switch (type) {
    case 1:
      return "unigram";
    case 2:
      return "bpe";
    case 3:
      return "word";
    case 4:
      return "char";
    default:
      return "unknown";
  }
}

std::string fnv1a_hex(const std::string& bytes) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(fnv1a(bytes)));
  return text;
}

// Throws InputError naming `source` unless ids 0–4 are the pretext specials.
void check_special_ids(const sentencepiece_module::Model& model, const std::string& source) {
  PRETEXT_CHECK(model.size() > text::kSpecialTokens, InputError, source, ": the tokenizer has only ", model.size(),
                " pieces, fewer than the ", text::kSpecialTokens, " special tokens");
  for (int id = 0; id < text::kSpecialTokens; ++id) {
    const std::string piece = model.piece(id);
    bool kind_ok = id == text::kUnk ? model.is_unknown(id) : model.is_control(id);
    PRETEXT_CHECK(piece == kSpecialPieces[id] && kind_ok, InputError, source,
                  ": not a pretext tokenizer: id ", id, " must be the special ", kSpecialPieces[id], ", got '",
                  piece, "'", kind_ok ? "" : " (not a special piece)");
  }
}

}  // namespace

void TokenizerOptions::validate() const {
  PRETEXT_CHECK(model_type == "unigram" || model_type == "bpe", ConfigError,
                "tokenizer: model_type must be unigram or bpe, got '", model_type, "'");
  PRETEXT_CHECK(vocab_size > text::kSpecialTokens && vocab_size <= INT32_MAX, ConfigError,
                "tokenizer: vocab_size must be above the ", text::kSpecialTokens, " special tokens (and fit int32), got ",
                vocab_size);
  PRETEXT_CHECK(character_coverage > 0 && character_coverage <= 1, ConfigError,
                "tokenizer: character_coverage must be in (0, 1], got ", character_coverage);
  PRETEXT_CHECK(max_sentences >= 1, ConfigError, "tokenizer: max_sentences must be ≥ 1, got ", max_sentences);
}

TokenizerOptions TokenizerOptions::from_json(const nlohmann::json& values) {
  TokenizerOptions options;
  OptionReader reader(values, "tokenizer");
  reader.read("model_type", options.model_type)
      .read("vocab_size", options.vocab_size)
      .read("character_coverage", options.character_coverage)
      .read("max_sentences", options.max_sentences)
      .read("seed", options.seed);
  reader.finish();
  options.validate();
  return options;
}

nlohmann::json TokenizerOptions::to_json() const {
  return {{"model_type", model_type},
          {"vocab_size", vocab_size},
          {"character_coverage", character_coverage},
          {"max_sentences", max_sentences},
          {"seed", seed}};
}

Tokenizer::Tokenizer(std::shared_ptr<const sentencepiece_module::Model> model, std::string model_type)
    : model_(std::move(model)), model_type_(std::move(model_type)) {}

Tokenizer Tokenizer::train(const std::vector<std::string>& sentences, const TokenizerOptions& options) {
  std::vector<const std::string*> pointers;
  pointers.reserve(sentences.size());
  for (const auto& sentence : sentences) pointers.push_back(&sentence);
  return train_pointers(pointers, options, "the training sentences");
}

Tokenizer Tokenizer::train(const TextCorpus& corpus, const TokenizerOptions& options) {
  std::vector<const std::string*> pointers;
  for (const auto& document : corpus.documents) {
    for (const auto& sentence : document.sentences) pointers.push_back(&sentence);
  }
  return train_pointers(pointers, options, corpus.source.empty() ? "the corpus" : corpus.source);
}

Tokenizer Tokenizer::train_pointers(const std::vector<const std::string*>& sentences, const TokenizerOptions& options,
                                    const std::string& source) {
  options.validate();
  std::vector<const std::string*> usable;
  usable.reserve(sentences.size());
  for (const auto* sentence : sentences) {
    if (!sentence->empty()) usable.push_back(sentence);
  }
  PRETEXT_CHECK(!usable.empty(), InputError, "tokenizer: ", source, " has no text to train on");
  std::vector<const std::string*> chosen =
      sample_sentences(usable, static_cast<size_t>(options.max_sentences), options.seed);

  const std::unordered_map<std::string, std::string> arguments = {
      {"model_type", options.model_type},
      {"vocab_size", std::to_string(options.vocab_size)},
      {"character_coverage", std::to_string(options.character_coverage)},
      {"pad_id", std::to_string(text::kPad)},
      {"unk_id", std::to_string(text::kUnk)},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"pad_piece", kSpecialPieces[text::kPad]},
      {"unk_piece", kSpecialPieces[text::kUnk]},
      // Control symbols take the free ids after [PAD] and [UNK], in this order: 2, 3, 4.
      {"control_symbols", "[CLS],[SEP],[MASK]"},
      {"num_threads", std::to_string(std::max(1, usable_cores()))},
  };
  log::debug("tokenizer: training a ", options.model_type, " model of ", options.vocab_size, " pieces on ",
             chosen.size(), " of ", usable.size(), " sentences from ", source);
  const auto started = std::chrono::steady_clock::now();
  const sentencepiece_module::Library& library = sentencepiece_library();
  std::string model;
  std::string message;
  if (!library.train(arguments, chosen, model, message)) {
    std::string reason = sentencepiece_reason(message);
    if (reason.find("Vocabulary size too high") != std::string::npos) {
      throw ConfigError(detail::str_cat("tokenizer: vocab_size ", options.vocab_size, " is too large for ", source,
                                        " (", chosen.size(), " sentences); SentencePiece: \"", reason,
                                        "\" Lower vocab_size or train on more text."));
    }
    if (reason.find("required_chars") != std::string::npos) {
      throw ConfigError(detail::str_cat("tokenizer: vocab_size ", options.vocab_size,
                                        " cannot hold every character kept by character_coverage ",
                                        options.character_coverage, " in ", source, "; SentencePiece: \"", reason,
                                        "\" Raise vocab_size or lower character_coverage."));
    }
    throw InputError(detail::str_cat("tokenizer: training on ", source, " failed: ", reason));
  }
  log::debug("tokenizer: trained in ",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), " s");
  Tokenizer tokenizer = from_bytes(model, "the tokenizer just trained on " + source);
  PRETEXT_CHECK(tokenizer.vocab_size() == options.vocab_size, ConfigError, "tokenizer: asked for vocab_size ",
                options.vocab_size, " but SentencePiece made ", tokenizer.vocab_size(), " pieces from ", source);
  return tokenizer;
}

Tokenizer Tokenizer::from_bytes(const std::string& model_proto, const std::string& source) {
  PRETEXT_CHECK(!model_proto.empty(), InputError, source, ": empty tokenizer model");
  std::string message;
  std::shared_ptr<const sentencepiece_module::Model> model = sentencepiece_library().load(model_proto, message);
  PRETEXT_CHECK(model != nullptr, InputError, source, ": not a SentencePiece tokenizer model (",
                sentencepiece_reason(message), ")");
  check_special_ids(*model, source);
  return Tokenizer(std::move(model), model_type_of(model_proto));
}

Tokenizer Tokenizer::load(const std::string& path) { return from_bytes(read_file(path), path); }

std::string Tokenizer::bytes() const { return model_->serialized(); }

void Tokenizer::save(const std::string& path) const { write_file_atomic(path, bytes()); }

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  std::string message;
  // Encoding fails only for an unloaded model, which a Tokenizer never holds.
  PRETEXT_CHECK(model_->encode(text, ids, message), InputError, "tokenizer: cannot encode text: ",
                sentencepiece_reason(message));
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  const int64_t size = vocab_size();
  std::vector<int> kept;
  kept.reserve(ids.size());
  for (int64_t id : ids) {
    PRETEXT_CHECK(id >= 0 && id < size, InputError, "tokenizer: token id ", id, " is outside the vocabulary [0, ",
                  size, ")");
    if (id < text::kSpecialTokens && id != text::kUnk) continue;
    kept.push_back(static_cast<int>(id));
  }
  std::string text;
  std::string message;
  PRETEXT_CHECK(model_->decode(kept, text, message), InputError, "tokenizer: cannot decode ids: ",
                sentencepiece_reason(message));
  return text;
}

int64_t Tokenizer::vocab_size() const { return model_->size(); }

std::string Tokenizer::piece(int64_t id) const {
  PRETEXT_CHECK(id >= 0 && id < vocab_size(), InputError, "tokenizer: token id ", id,
                " is outside the vocabulary [0, ", vocab_size(), ")");
  return model_->piece(static_cast<int>(id));
}

nlohmann::json Tokenizer::summary() const {
  return {{"type", model_type_}, {"vocab_size", vocab_size()}, {"fingerprint", fnv1a_hex(bytes())}};
}

}  // namespace pretext
