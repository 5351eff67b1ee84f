// `pretext data …`: the shipped datasets that are made rather than installed.
//   spoken-words   — the speech corpus, synthesised with espeak-ng into the data cache
//   moving-objects — Fashion-MNIST objects moving in 48×48 frames, written as video files
#include <filesystem>
#include <iostream>
#include <memory>

#include "pretext/cli/commands.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/core/progress.h"
#include "pretext/data/moving_objects.h"
#include "pretext/data/spoken_words.h"

namespace pretext::cli {

namespace {

// A bar on a terminal, and a progress line every 5 s, with the rate and the time left.
std::function<void(int64_t, int64_t)> progress_printer(const std::string& what) {
  auto progress = std::make_shared<std::unique_ptr<Progress>>();
  return [what, progress](int64_t done, int64_t total) {
    if (!*progress) *progress = std::make_unique<Progress>(what, total, "clips", 5);
    if (done >= total) {
      progress->reset();  // the caller's summary line follows
      return;
    }
    (*progress)->update(done);
  };
}

}  // namespace

void ensure_spoken_words(const SpokenWordsOptions& options, const std::string& out) {
  const std::string folder = out.empty() ? spoken_words_folder() : out;
  // A finished corpus with these options returns at once (make_spoken_words checks the manifest).
  if (std::filesystem::exists(std::filesystem::path(folder) / "manifest.json")) {
    make_spoken_words(folder, options);
    return;
  }
  log::info("spoken-words: making the corpus in ", folder, " with espeak-ng (seed ", options.seed, ")");
  make_spoken_words(folder, options, progress_printer("spoken-words"));
}

int run_data(const DataFlags& flags, const RuntimeFlags& runtime_flags) {
  const Runtime runtime = start_runtime(runtime_flags);
  if (flags.dataset == "spoken-words") {
    PRETEXT_CHECK(flags.moving_objects.to_json() == MovingObjectsOptions().to_json(), ConfigError,
                  "pretext data spoken-words: --object-speed-*, --distractor* and --noise are moving-objects options");
    SpokenWordsOptions options = flags.spoken_words;
    options.seed = runtime.seed;  // --seed: the voices' split, speeds, pitches and noise
    ensure_spoken_words(options, flags.out);
    std::cout << "spoken-words: " << (flags.out.empty() ? spoken_words_folder() : flags.out) << "\n";
    return 0;
  }
  PRETEXT_CHECK(flags.spoken_words.to_json() == SpokenWordsOptions().to_json(), ConfigError,
                "pretext data ", flags.dataset, ": --speed-*, --pitch-* and --snr-* are spoken-words options");
  if (flags.dataset == "moving-objects") {
    PRETEXT_CHECK(!flags.out.empty(), ConfigError, "pretext data moving-objects needs --out FOLDER (the named datasets "
                  "moving-objects and moving-objects-class are made in memory and need no files)");
    for (const std::string split : {"train", "test"}) {
      MovingObjects made = named_moving_objects(split, flags.limit, flags.moving_objects);
      log::info("moving-objects: writing ", made.videos.size(0), " ", split, " videos to ", flags.out);
      write_moving_objects(made, flags.out, split);
    }
    std::cout << "moving-objects: " << flags.out << "/by-direction and " << flags.out << "/by-class\n";
    return 0;
  }
  throw ConfigError("pretext data: unknown dataset '" + flags.dataset + "' (spoken-words, moving-objects)");
}

}  // namespace pretext::cli
