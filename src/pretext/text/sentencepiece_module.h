// The boundary between pretext and SentencePiece (private to text/tokenizer.cpp and
// src/modules/sentencepiece.cpp).
//
// Why a module: Debian's libsentencepiece0 carries its own protobuf-lite 3.14 and exports its
// symbols. Loaded in one symbol scope with LibTorch's libprotobuf 3.21, the two interpose: the
// process crashes before main() (or aborts on protobuf's version check). So SentencePiece is
// linked only into a module (libpretext_sentencepiece.so) that the tokenizer dlopen()s with
// RTLD_LOCAL | RTLD_DEEPBIND: SentencePiece's calls then resolve to its own protobuf, and nothing
// else sees them. Both sides share libstdc++, so std types cross this boundary; exceptions do not
// (every call reports failure through its return value and `error`). The price of DEEPBIND:
// inside the module std::cerr is libstdc++'s unconstructed original (the program holds the live
// copy), so SentencePiece's logging stays off; and AddressSanitizer's dlopen refuses DEEPBIND, so
// sanitizer builds load the module through glibc's dlopen (tokenizer.cpp says why that is safe).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pretext::sentencepiece_module {

constexpr int kInterfaceVersion = 1;

// One loaded SentencePiece model; const methods may be called from several threads at once.
class Model {
 public:
  virtual ~Model() = default;
  virtual int size() const = 0;
  virtual std::string piece(int id) const = 0;
  virtual bool is_control(int id) const = 0;
  virtual bool is_unknown(int id) const = 0;
  virtual bool encode(std::string_view text, std::vector<int>& ids, std::string& error) const = 0;
  virtual bool decode(const std::vector<int>& ids, std::string& text, std::string& error) const = 0;
  virtual std::string serialized() const = 0;
};

class Library {
 public:
  virtual ~Library() = default;
  // A model from a serialized ModelProto; nullptr (and `error`) when the bytes are not one.
  virtual std::unique_ptr<Model> load(const std::string& model_proto, std::string& error) const = 0;
  // SentencePieceTrainer::Train(arguments) on `sentences`, in memory: the ModelProto's bytes go
  // to `model_proto`. False (and SentencePiece's message in `error`) on failure.
  virtual bool train(const std::unordered_map<std::string, std::string>& arguments,
                     const std::vector<const std::string*>& sentences, std::string& model_proto,
                     std::string& error) const = 0;
};

}  // namespace pretext::sentencepiece_module

// The module's one exported symbol: its Library, or nullptr when `interface_version` differs.
extern "C" {
using PretextSentencePieceEntry = pretext::sentencepiece_module::Library* (*)(int interface_version);
}
#define PRETEXT_SENTENCEPIECE_ENTRY "pretext_sentencepiece_module"
