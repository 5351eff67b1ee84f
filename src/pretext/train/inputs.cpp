#include "pretext/train/inputs.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "pretext/core/error.h"
#include "pretext/core/log.h"

namespace pretext {
namespace fs = std::filesystem;

namespace {

std::string lower_extension(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return extension;
}

bool is_text_extension(const std::string& extension) {
  return extension == ".txt" || extension == ".text" || extension == ".jsonl" || extension == ".json" ||
         extension == ".eml" || extension == ".mbox" || extension == ".md";
}

bool is_image_extension(const std::string& extension) {
  return extension == ".png" || extension == ".jpg" || extension == ".jpeg" || extension == ".bmp" ||
         extension == ".gif" || extension == ".ppm" || extension == ".pgm" || extension == ".tga";
}

// A folder holds images when, among its first files (recursively), one is an image, an IDX or
// a CIFAR binary.
bool folder_holds_images(const fs::path& folder) {
  std::error_code error;
  int64_t seen = 0;
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, error);
       !error && it != fs::recursive_directory_iterator() && seen < 200; it.increment(error)) {
    if (!it->is_regular_file(error)) continue;
    ++seen;
    const std::string name = it->path().filename().string();
    const std::string extension = lower_extension(it->path());
    if (is_image_extension(extension) || name.find("idx3-ubyte") != std::string::npos ||
        lower_extension(name) == ".bin") {
      return true;
    }
  }
  return false;
}

bool is_named(const std::vector<std::pair<std::string, std::string>>& named, const std::string& name) {
  return std::any_of(named.begin(), named.end(), [&](const auto& entry) { return entry.first == name; });
}

TextCorpus read_corpus(const std::string& data, const std::string& split, const InputOptions& options) {
  TextReadOptions read = options.text;
  if (read.limit == 0) read.limit = options.images.limit;
  TextCorpus corpus = load_text_corpus(data, split, read);
  if (corpus.repaired_utf8 > 0) {
    log::warn(corpus.source, ": repaired invalid UTF-8 in ", corpus.repaired_utf8, " document(s)");
  }
  return corpus;
}

}  // namespace

std::string detect_modality(const std::string& name_or_path, const std::string& requested) {
  PRETEXT_CHECK(requested == "auto" || requested == "image" || requested == "text", ConfigError,
                "--modality must be auto, image or text, got '", requested, "'");
  if (requested != "auto") return requested;
  if (is_named(named_datasets(), name_or_path)) return "image";
  if (is_named(named_text_datasets(), name_or_path)) return "text";
  std::error_code error;
  const fs::path path(name_or_path);
  if (fs::is_regular_file(path, error)) return is_text_extension(lower_extension(path)) ? "text" : "image";
  if (fs::is_directory(path, error)) {
    // A folder without a single file is nobody's: the image reader's error ("no images") says so.
    const bool any_file = std::any_of(fs::recursive_directory_iterator(path, error), fs::recursive_directory_iterator(),
                                      [](const fs::directory_entry& entry) { return entry.is_regular_file(); });
    return !any_file || folder_holds_images(path) ? "image" : "text";
  }
  return "image";  // load_dataset's error names the unknown data and lists the known names
}

RunInputs load_pretraining_inputs(const std::string& data, const EncoderConfig& encoder, const InputOptions& options,
                                  const std::map<std::string, std::string>& reuse_assets) {
  RunInputs inputs;
  inputs.modality = detect_modality(data, options.modality);
  inputs.encoder = encoder;
  if (inputs.modality == "image") {
    auto images = load_dataset(data, "train", options.images);
    auto [mean, std] = channel_statistics(images->images());
    inputs.train = images;
    inputs.normalization = Normalization{mean, std};
    inputs.preprocessor = std::make_shared<ImagePreprocessor>(inputs.normalization);
    inputs.encoder.in_channels = images->channels();
    inputs.encoder.image_size = images->height();
    inputs.encoder = inputs.encoder.resolved();
    inputs.config = {{"preprocessing", inputs.preprocessor->to_json()}};
    inputs.summary = images->source() + ": " + std::to_string(images->size()) + " images " +
                     std::to_string(images->height()) + "×" + std::to_string(images->width()) + "×" +
                     std::to_string(images->channels());
    return inputs;
  }

  options.windows.validate();
  TextCorpus corpus = read_corpus(data, "train", options);
  auto reused = reuse_assets.find("tokenizer");
  Tokenizer tokenizer = [&] {
    if (reused != reuse_assets.end()) {
      Tokenizer resumed = Tokenizer::from_bytes(reused->second, "the checkpoint's tokenizer");
      if (!options.tokenizer_path.empty()) {
        // A resumed run keeps its vocabulary: token ids mean nothing under another tokenizer.
        Tokenizer given = Tokenizer::load(options.tokenizer_path);
        const std::string ours = resumed.summary().value("fingerprint", "");
        const std::string theirs = given.summary().value("fingerprint", "");
        PRETEXT_CHECK(ours == theirs, ConfigError, "--tokenizer ", options.tokenizer_path, " (", given.vocab_size(),
                      " pieces, fingerprint ", theirs, ") is not the tokenizer of the checkpoint being resumed (",
                      resumed.vocab_size(), " pieces, fingerprint ", ours,
                      "); drop --tokenizer to keep the checkpoint's, or start a new run");
      }
      return resumed;
    }
    if (!options.tokenizer_path.empty()) return Tokenizer::load(options.tokenizer_path);
    log::info("tokenizer: training a ", options.tokenizer.model_type, " model of ", options.tokenizer.vocab_size,
              " pieces on ", corpus.documents.size(), " documents");
    return Tokenizer::train(corpus, options.tokenizer);
  }();
  auto dataset = std::make_shared<TextDataset>(corpus, tokenizer, options.windows);
  inputs.train = dataset;
  inputs.preprocessor = std::make_shared<TextPreprocessor>(options.windows.max_length);
  inputs.encoder.vocab_size = tokenizer.vocab_size();
  inputs.encoder.max_length = options.windows.max_length;
  inputs.encoder = inputs.encoder.resolved();
  inputs.assets["tokenizer"] = tokenizer.bytes();
  inputs.config = {{"preprocessing", inputs.preprocessor->to_json()},
                   {"tokenizer", tokenizer.summary()},
                   {"windows", options.windows.to_json()}};
  inputs.summary = dataset->source() + ": " + std::to_string(dataset->size()) + " windows of ≤ " +
                   std::to_string(options.windows.window_tokens()) + " tokens from " +
                   std::to_string(dataset->num_documents()) + " documents (" + std::to_string(dataset->total_tokens()) +
                   " tokens, vocabulary " + std::to_string(tokenizer.vocab_size()) + ")";
  return inputs;
}

DatasetPtr load_evaluation_split(const std::string& data, const std::string& split,
                                 const nlohmann::json& checkpoint_config,
                                 const std::map<std::string, std::string>& assets, const InputOptions& options) {
  PreprocessorPtr preprocessor = preprocessor_from_config(checkpoint_config);
  const auto* text = dynamic_cast<const TextPreprocessor*>(preprocessor.get());
  const std::string modality = detect_modality(data, options.modality);
  if (text == nullptr) {
    PRETEXT_CHECK(modality == "image", InputError, data, " is text, but the checkpoint's encoder reads images");
    EncoderConfig encoder = EncoderConfig::from_json(checkpoint_config.at("encoder"));
    DataOptions images = options.images;
    if (images.image_folder.image_size == 0) images.image_folder.image_size = encoder.image_size;
    images.image_folder.channels = encoder.in_channels;
    auto dataset = load_dataset(data, split, images);
    PRETEXT_CHECK(dataset->channels() == encoder.in_channels && dataset->height() == encoder.image_size, InputError,
                  "the data ", dataset->source(), " has ", dataset->channels(), "-channel ", dataset->height(),
                  "-pixel images but the checkpoint's encoder expects ", encoder.in_channels, "-channel ",
                  encoder.image_size, "-pixel images");
    return dataset;
  }
  PRETEXT_CHECK(modality == "text", InputError, data, " holds images, but the checkpoint's encoder reads text");
  auto tokenizer_bytes = assets.find("tokenizer");
  PRETEXT_CHECK(tokenizer_bytes != assets.end(), InputError,
                "the checkpoint's encoder reads text but the checkpoint holds no tokenizer");
  Tokenizer tokenizer = Tokenizer::from_bytes(tokenizer_bytes->second, "the checkpoint's tokenizer");
  const EncoderConfig encoder = EncoderConfig::from_json(checkpoint_config.at("encoder"));
  PRETEXT_CHECK(tokenizer.vocab_size() == encoder.vocab_size, InputError, "the checkpoint's tokenizer has ",
                tokenizer.vocab_size(), " pieces but its encoder ", encoder.name, " was built for a vocabulary of ",
                encoder.vocab_size, "; the checkpoint's tokenizer and encoder do not belong together");
  TextWindowOptions windows = options.windows;
  windows.max_length = text->max_length();
  return std::make_shared<TextDataset>(read_corpus(data, split, options), tokenizer, windows);
}

}  // namespace pretext
