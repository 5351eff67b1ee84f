// The SentencePiece module (libpretext_sentencepiece.so): SentencePiece behind the small interface
// of pretext/text/sentencepiece_module.h, which says why it is a module of its own. Built with
// hidden visibility; its only exported symbol is the entry point at the bottom.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <exception>

#include "pretext/text/sentencepiece_module.h"

// Exported by libsentencepiece (its common.h is not installed).
namespace sentencepiece::logging {
void SetMinLogLevel(int level);
}

namespace {
namespace api = pretext::sentencepiece_module;

// SentencePiece logs with `std::cerr << …`. Under RTLD_DEEPBIND its std::cerr is libstdc++'s own
// copy, which is never constructed when the program holds a copy relocation of it (the usual
// case), so any log line would crash. Only LOG(FATAL) (3), which ends the process anyway, stays on.
constexpr int kQuietLogLevel = 3;

std::string message_of(const sentencepiece::util::Status& status) {
  const char* message = status.error_message();
  return message != nullptr ? message : "unknown SentencePiece error";
}

class Model final : public api::Model {
 public:
  bool load(const std::string& model_proto, std::string& error) {
    auto status = processor_.LoadFromSerializedProto(model_proto);
    if (!status.ok()) error = message_of(status);
    return status.ok();
  }
  int size() const override { return processor_.GetPieceSize(); }
  std::string piece(int id) const override { return processor_.IdToPiece(id); }
  bool is_control(int id) const override { return processor_.IsControl(id); }
  bool is_unknown(int id) const override { return processor_.IsUnknown(id); }
  bool encode(std::string_view text, std::vector<int>& ids, std::string& error) const override {
    try {
      auto status = processor_.Encode(text, &ids);
      if (!status.ok()) error = message_of(status);
      return status.ok();
    } catch (const std::exception& exception) {
      error = exception.what();
      return false;
    }
  }
  bool decode(const std::vector<int>& ids, std::string& text, std::string& error) const override {
    try {
      auto status = processor_.Decode(ids, &text);
      if (!status.ok()) error = message_of(status);
      return status.ok();
    } catch (const std::exception& exception) {
      error = exception.what();
      return false;
    }
  }
  std::string serialized() const override { return processor_.serialized_model_proto(); }

 private:
  sentencepiece::SentencePieceProcessor processor_;
};

// Feeds the trainer from strings the caller holds, without copying them.
class Sentences final : public sentencepiece::SentenceIterator {
 public:
  explicit Sentences(const std::vector<const std::string*>& sentences) : sentences_(sentences) {}
  bool done() const override { return next_ >= sentences_.size(); }
  void Next() override { ++next_; }
  const std::string& value() const override { return *sentences_[next_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<const std::string*>& sentences_;
  size_t next_ = 0;
};

class Library final : public api::Library {
 public:
  std::unique_ptr<api::Model> load(const std::string& model_proto, std::string& error) const override {
    try {
      auto model = std::make_unique<Model>();
      if (!model->load(model_proto, error)) return nullptr;
      return model;
    } catch (const std::exception& exception) {
      error = exception.what();
      return nullptr;
    }
  }
  bool train(const std::unordered_map<std::string, std::string>& arguments,
             const std::vector<const std::string*>& sentences, std::string& model_proto,
             std::string& error) const override {
    try {
      auto quiet = arguments;
      quiet["minloglevel"] = std::to_string(kQuietLogLevel);  // the trainer applies it globally
      Sentences iterator(sentences);
      auto status = sentencepiece::SentencePieceTrainer::Train(quiet, &iterator, &model_proto);
      if (!status.ok()) error = message_of(status);
      return status.ok();
    } catch (const std::exception& exception) {
      error = exception.what();
      return false;
    }
  }
};

}  // namespace

extern "C" __attribute__((visibility("default"))) api::Library* pretext_sentencepiece_module(int interface_version) {
  static Library library;
  sentencepiece::logging::SetMinLogLevel(kQuietLogLevel);
  return interface_version == api::kInterfaceVersion ? &library : nullptr;
}
