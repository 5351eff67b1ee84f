#include "pretext/train/inputs.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/data/moving_objects.h"
#include "pretext/data/spoken_words.h"

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

bool is_named_video(const std::string& name) { return name == "moving-objects" || name == "moving-objects-class"; }
bool is_named_audio(const std::string& name) { return name == "spoken-words" || name == "spoken-digits"; }

// Split `split` of audio `data`, read at `sample_rate`: spoken-words is the corpus' unlabeled
// pretraining part, spoken-digits its labelled digits (held-out voices), else a folder.
std::shared_ptr<AudioDataset> load_audio_data(const std::string& data, const std::string& split,
                                              AudioReadOptions options, int64_t sample_rate, int64_t limit) {
  options.sample_rate = sample_rate;
  if (options.limit == 0) options.limit = limit;
  if (!is_named_audio(data)) return load_audio_folder(data, split, options);
  const fs::path folder = spoken_words_folder();
  PRETEXT_CHECK(fs::exists(folder / "manifest.json"), InputError, data, ": the spoken-words corpus is not at ",
                folder.string(), "; make it with `pretext data spoken-words` (about two minutes; needs espeak-ng)");
  if (data == "spoken-digits") return load_audio_folder((folder / "digits").string(), split, options);
  PRETEXT_CHECK(split == "train", InputError, "spoken-words is the unlabeled pretraining part of the corpus and has "
                "no '", split, "' split; use spoken-digits for labelled train and test sets");
  return load_audio_folder((folder / "pretrain").string(), "train", options);
}

DatasetPtr load_video_data(const std::string& data, const std::string& split, const VideoReadOptions& options,
                           int64_t limit) {
  if (is_named_video(data)) return load_moving_objects(data, split, options.limit > 0 ? options.limit : limit);
  VideoReadOptions read = options;
  if (read.limit == 0) read.limit = limit;
  return load_video_folder(data, split, read);
}

// Per-channel mean and std of videos [N, T, H, W, C] (their frames as images).
Normalization video_statistics(const torch::Tensor& videos) {
  auto frames = videos.reshape({-1, videos.size(2), videos.size(3), videos.size(4)});
  auto [mean, std] = channel_statistics(frames);
  return Normalization{mean, std};
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
  PRETEXT_CHECK(requested == "auto" || requested == "image" || requested == "text" || requested == "audio" ||
                    requested == "speech" || requested == "video",
                ConfigError, "--modality must be auto, image, text, audio (or speech) or video, got '", requested, "'");
  if (requested == "speech") return "audio";
  if (requested != "auto") return requested;
  if (is_named(named_datasets(), name_or_path)) return "image";
  if (is_named(named_text_datasets(), name_or_path)) return "text";
  if (is_named_audio(name_or_path)) return "audio";
  if (is_named_video(name_or_path)) return "video";
  std::error_code error;
  const fs::path path(name_or_path);
  if (fs::exists(path, error) && is_audio_path(name_or_path)) return "audio";
  if (fs::exists(path, error) && is_video_path(name_or_path)) return "video";
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
  if (inputs.modality == "audio") {
    options.log_mel.validate();
    auto audio = load_audio_data(data, "train", options.audio, options.log_mel.sample_rate, options.images.limit);
    inputs.train = audio;
    inputs.preprocessor = std::make_shared<AudioPreprocessor>(options.log_mel);
    inputs.encoder.mels = options.log_mel.mels;
    inputs.encoder.in_channels = 1;
    inputs.encoder = inputs.encoder.resolved();
    inputs.config = {{"preprocessing", inputs.preprocessor->to_json()}};
    const double seconds = audio->lengths().sum().item<double>() / static_cast<double>(audio->sample_rate());
    inputs.summary = audio->source() + ": " + std::to_string(audio->size()) + " recordings, " +
                     std::to_string(static_cast<int64_t>(seconds / 60.0 + 0.5)) + " min at " +
                     std::to_string(audio->sample_rate()) + " Hz, " + std::to_string(options.log_mel.mels) + " mel bins";
    return inputs;
  }
  if (inputs.modality == "video") {
    options.clips.validate("video clips");
    DatasetPtr videos = load_video_data(data, "train", options.video, options.images.limit);
    const auto* held = dynamic_cast<const VideoDataset*>(videos.get());
    const torch::Tensor all = held != nullptr ? held->videos() : videos->get(torch::arange(videos->size())).input;
    inputs.train = videos;
    inputs.normalization = video_statistics(all);
    inputs.preprocessor = std::make_shared<VideoPreprocessor>(inputs.normalization, options.clips);
    inputs.encoder.in_channels = all.size(4);
    inputs.encoder.image_size = all.size(2);
    inputs.encoder = inputs.encoder.resolved();
    inputs.config = {{"preprocessing", inputs.preprocessor->to_json()}};
    inputs.summary = videos->source() + ": " + std::to_string(videos->size()) + " videos of " +
                     std::to_string(all.size(1)) + " frames " + std::to_string(all.size(2)) + "×" +
                     std::to_string(all.size(3)) + "×" + std::to_string(all.size(4)) + ", clips of " +
                     std::to_string(clip_span(options.clips, all.size(1))) + " frames";
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
                   std::to_string(options.windows.window_tokens()) + " tokens" +
                   (options.windows.packing == "corpus" ? " (packed across documents)" : "") + " from " +
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
  const std::string expected = checkpoint_config.contains("preprocessing")
                                   ? checkpoint_config["preprocessing"].value("modality", std::string("image"))
                                   : std::string("image");
  PRETEXT_CHECK(modality == expected, InputError, data, " is ", modality, " data, but the checkpoint's encoder reads ",
                expected);
  if (const auto* audio = dynamic_cast<const AudioPreprocessor*>(preprocessor.get())) {
    return load_audio_data(data, split, options.audio, audio->log_mel_options().sample_rate, options.images.limit);
  }
  if (dynamic_cast<const VideoPreprocessor*>(preprocessor.get()) != nullptr) {
    const EncoderConfig encoder = EncoderConfig::from_json(checkpoint_config.at("encoder"));
    VideoReadOptions read = options.video;
    if (read.size == 0) read.size = encoder.image_size;
    if (read.channels == 0) read.channels = encoder.in_channels;
    DatasetPtr videos = load_video_data(data, split, read, options.images.limit);
    const auto shape = videos->sample_shape();  // {T, H, W, C}
    PRETEXT_CHECK(shape.size() == 4 && shape[1] == encoder.image_size && shape[3] == encoder.in_channels, InputError,
                  "the videos of ", videos->source(), " do not match the checkpoint's encoder (", encoder.in_channels,
                  "-channel ", encoder.image_size, "-pixel frames)");
    return videos;
  }
  if (text == nullptr) {
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
