// Run inputs per modality: the one place that tells images from text. Pretraining reads its data
// here and gets back the dataset, the encoder's data-dependent fields, the preprocessor and the
// files a checkpoint must carry (the tokenizer); evaluation reads labelled data exactly as the
// checkpoint's pretraining did (the same tokenizer and window length, the same normalisation).
//   image — fashion-mnist, IDX, CIFAR binary and image folders (data/datasets.h)
//   text  — spam-assassin, sotu, text files, JSON lines, e-mail (data/text.h), tokenized with a
//           SentencePiece model trained on the pretraining corpus (text/tokenizer.h)
//   audio — spoken-words, spoken-digits and folders of sound files (data/audio.h), read at the
//           log-mel front end's sample rate (augment/audio.h)
//   video — moving-objects, moving-objects-class and folders of videos or frame folders
//           (data/video.h, data/moving_objects.h), seen as clips of clip_frames every clip_stride
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "pretext/augment/preprocess.h"
#include "pretext/data/audio.h"
#include "pretext/data/video.h"
#include "pretext/data/datasets.h"
#include "pretext/data/text.h"
#include "pretext/models/encoder.h"
#include "pretext/text/text_dataset.h"
#include "pretext/text/tokenizer.h"

namespace pretext {

struct InputOptions {
  std::string modality = "auto";  // auto | image | text | audio (or speech) | video
  DataOptions images;             // image folders; `limit` applies to text documents too
  TextReadOptions text;           // text readers
  TokenizerOptions tokenizer;     // the tokenizer trained on the pretraining corpus …
  std::string tokenizer_path;     // … unless this file (from `pretext tokenizer train`) is given
  // Windows for pretraining ("split": all the text). Evaluation classifies a document by its
  // first window ("truncate") unless long_documents says otherwise there.
  TextWindowOptions windows;
  AudioReadOptions audio;   // sound files; the sample rate is log_mel's
  LogMelOptions log_mel;    // the audio front end, fixed at pretraining
  VideoReadOptions video;   // video files and frame folders
  VideoClipOptions clips;   // the clips encoders see, fixed at pretraining
};

// "image", "text", "audio" or "video" for a --data value. `requested` wins over auto-detection
// ("speech" means audio); auto: a named dataset's modality; a sound file or a folder of them is
// audio; a video file or a folder of videos or frame folders in class folders is video; a
// .txt/.jsonl/.json/.eml/.mbox file, or a folder whose files are text (no images, IDX or CIFAR
// files) is text. Throws ConfigError for another `requested`.
std::string detect_modality(const std::string& name_or_path, const std::string& requested = "auto");

struct RunInputs {
  std::string modality;
  DatasetPtr train;                           // the train split, labels kept where it has them
  PreprocessorPtr preprocessor;               // how its batches reach an encoder outside a task
  EncoderConfig encoder;                      // with the data's fields filled in, resolved
  Normalization normalization;                // images: per-channel mean/std (the task context's)
  std::map<std::string, std::string> assets;  // for every checkpoint: "tokenizer" for text
  nlohmann::json config;                      // {"preprocessing": …, "tokenizer": summary}
  std::string summary;                        // one line for the log
};

// The train split of `data` for pretraining. Text: the tokenizer is `reuse_assets`' "tokenizer"
// when given (a resumed run must keep its vocabulary), else options.tokenizer_path, else one
// trained on this corpus. Throws InputError/ConfigError naming the data, file or field.
RunInputs load_pretraining_inputs(const std::string& data, const EncoderConfig& encoder, const InputOptions& options,
                                  const std::map<std::string, std::string>& reuse_assets = {});

// `split` ("train" | "test") of `data`, prepared as a checkpoint's pretraining prepared its data:
// `checkpoint_config` and `assets` as read from the checkpoint. Text documents become their
// first window unless options.windows.long_documents is "split". Throws InputError when the data
// does not fit the checkpoint (another modality, image shape, or a text checkpoint without its
// tokenizer).
DatasetPtr load_evaluation_split(const std::string& data, const std::string& split,
                                 const nlohmann::json& checkpoint_config,
                                 const std::map<std::string, std::string>& assets, const InputOptions& options);

}  // namespace pretext
