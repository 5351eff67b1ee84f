// The speech demo's corpus, synthesised with espeak-ng (Debian's `espeak-ng` program): spoken
// words over many voices (an accent × a voice variant), speeds and pitches, with background noise
// mixed in at random SNRs. Reproducible from a seed: the same options write the same files.
// Layout under `out`:
//   pretrain/<voice>_<word>_<n>.wav         every word of the vocabulary, pretraining voices only,
//                                           flat (no labels)
//   digits/train/<digit>/<voice>_<n>.wav    the ten digits, held-out voices: the labelled pool
//   digits/test/<digit>/<voice>_<n>.wav     the ten digits, other held-out voices: the test set
//   manifest.json                           options, voices of each part, counts
// Parts are drawn by speaker: a speaker is one voice, except that en-us and en-us-nyc with the same
// variant are one speaker (espeak-ng says most digits alike in both accents), kept in one part.
// Guarantees: no voice appears in two parts; files are written under a temporary folder that is
// renamed to `out` at the end, so an interrupted run leaves nothing half-written under `out`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pretext {

struct SpokenWordsOptions {
  uint64_t seed = 0;
  int64_t sample_rate = 16000;
  int64_t pretrain_clips_per_word_voice = 1;  // pretraining: words × pretraining voices × this
  int64_t labelled_clips_per_digit_voice = 2; // digits/train and digits/test: digits × voices × this
  double held_out_voice_fraction = 0.3;       // of all speakers, split evenly between train and test
  double speed_min = 120, speed_max = 200;    // espeak-ng words per minute
  double pitch_min = 20, pitch_max = 80;      // espeak-ng pitch (0–99)
  double snr_min_db = 5, snr_max_db = 30;     // background noise (white, pink or brown)
  double clip_seconds = 1.2;                  // words are centred in a clip of this length (longer ones cut)
  double jitter_seconds = 0.1;                // … then moved by up to ± this (within the clip)
  int64_t vocabulary_limit = 0;               // the first N words of the vocabulary only (0 = all); for tests
  int64_t speaker_limit = 0;                  // the first N speakers of the seeded order only (0 = all, ≥ 3)
  int64_t jobs = 0;                           // clips made at once (espeak-ng says one word at a
                                              // time; trimming, noise and writing run in parallel);
                                              // 0 = twice the cores; not in to_json: it changes no file
  void validate() const;                      // ConfigError naming the field
  nlohmann::json to_json() const;
};

// The vocabulary: the ten digits ("zero" … "nine") first, then the other words.
std::vector<std::string> spoken_words_vocabulary();

// Writes the corpus to `out` (InputError if it exists and is not a finished corpus with the same
// options; returns at once when it is). `progress(done, total)` is called as clips are made, from
// the worker threads, one call at a time.
// Throws IoError when espeak-ng's library is missing (naming the Debian package) or fails.
void make_spoken_words(const std::string& out, const SpokenWordsOptions& options,
                       const std::function<void(int64_t, int64_t)>& progress = {});

// Where the named dataset lives: <data cache>/spoken-words ($PRETEXT_DATA, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/pretext, as for the text corpora).
std::string spoken_words_folder();

}  // namespace pretext
