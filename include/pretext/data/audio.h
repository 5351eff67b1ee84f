// Audio input: sound files → mono float waveforms at the model's sample rate, and the dataset
// that holds them. What it represents: recordings of varying length, each a row of a zero-padded
// [N, L] float tensor with its true length beside it.
// Requires: WAV, FLAC or OGG/Vorbis files (anything libsndfile reads).
// Guarantees: samples are float32 in [-1, 1] before normalisation, mixed down to one channel
// (the mean of the channels), resampled with libsamplerate's sinc converter (never by dropping
// samples); a missing, corrupt or truncated file is an InputError naming it.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "pretext/data/dataset.h"

namespace pretext {

struct AudioClip {
  torch::Tensor samples;  // float32 [L], mono
  int64_t sample_rate = 0;
};

// Reads a whole file and mixes it down to mono. Throws InputError naming `path` when it is
// missing, not a sound file libsndfile knows, has no frames, or ends before its header says.
AudioClip read_audio(const std::string& path);

// Writes `samples` (float [L], clipped to [-1, 1]) as 16-bit PCM WAV, atomically (a temporary
// file renamed into place). Throws IoError naming `path`.
void write_audio(const std::string& path, const torch::Tensor& samples, int64_t sample_rate);

// `samples` (float [L]) converted from `from_rate` to `to_rate` Hz with libsamplerate
// (SRC_SINC_MEDIUM_QUALITY). Returns the input unchanged when the rates agree.
torch::Tensor resample(const torch::Tensor& samples, int64_t from_rate, int64_t to_rate);

// "peak": scaled so that max |x| = target (default 0.9); "rms": so that the root mean square is
// target (default 0.1), then clipped to [-1, 1]; "none": unchanged. A silent clip stays silent.
// Throws ConfigError for another mode.
torch::Tensor normalize_audio(const torch::Tensor& samples, const std::string& mode, double target);

struct AudioReadOptions {
  int64_t sample_rate = 16000;      // every clip is resampled to this rate
  std::string normalize = "peak";   // peak | rms | none
  double normalize_target = 0;      // 0 = the mode's default (peak 0.9, rms 0.1)
  double max_seconds = 4.0;         // longer clips keep their first max_seconds
  int64_t limit = 0;                // keep only the first `limit` files of the split (0 = all)
  // A folder's file that does not decode: skip (left out, counted in one warning) | fail. A
  // load-time policy, not a property of the data: not in to_json().
  std::string on_bad_file = "skip";
  void validate() const;            // ConfigError naming the bad field
  nlohmann::json to_json() const;
  static AudioReadOptions from_json(const nlohmann::json& values);
};

// Recordings in memory. waveforms: float [N, L] zero-padded on the right; lengths: int64 [N]
// (1 ≤ length ≤ L); labels int64 [N] (-1 = none); groups int64 [N] (the speaker or source a clip
// came from, -1 when unknown).
// get(): Batch.input = float [B, Lb] where Lb is the longest length in the batch (the rest is
// zero padding), Batch.extra = int64 [B] lengths, Batch.group = groups.
class AudioDataset : public Dataset {
 public:
  // Throws InputError (naming `source`) when shapes or types disagree, N is 0, or a label is
  // out of range.
  AudioDataset(torch::Tensor waveforms, torch::Tensor lengths, torch::Tensor labels, torch::Tensor groups,
               std::vector<std::string> class_names, int64_t sample_rate, std::string source);

  int64_t size() const override { return waveforms_.size(0); }
  Batch get(const torch::Tensor& indices) const override;
  torch::Tensor labels() const override { return labels_; }
  int64_t num_classes() const override { return static_cast<int64_t>(class_names_.size()); }
  std::vector<std::string> class_names() const override { return class_names_; }
  std::vector<int64_t> sample_shape() const override { return {waveforms_.size(1)}; }
  std::string source() const override { return source_; }

  const torch::Tensor& waveforms() const { return waveforms_; }
  const torch::Tensor& lengths() const { return lengths_; }
  const torch::Tensor& groups() const { return groups_; }
  int64_t sample_rate() const { return sample_rate_; }

 private:
  torch::Tensor waveforms_;
  torch::Tensor lengths_;
  torch::Tensor labels_;
  torch::Tensor groups_;
  std::vector<std::string> class_names_;
  int64_t sample_rate_;
  std::string source_;
};

// Split "train" or "test" of an audio folder: with train/ and test/ sub-folders those are the
// splits, else the folder is its own "train" split. Within a split, each sub-folder is a class
// (sorted names); sound files directly in it (no sub-folders) make an unlabeled set. A file
// named "<speaker>_<anything>.<ext>" gets the group of its speaker prefix (the text before the
// first '_'), so that clips can be told apart by voice. Files are read in sorted path order, on
// all cores. Throws InputError naming the folder when it has no sound files or lacks the split.
std::shared_ptr<AudioDataset> load_audio_folder(const std::string& path, const std::string& split,
                                                const AudioReadOptions& options = {});

// Whether `path` (a file, or a folder judged by its first files) holds sound files
// (.wav .flac .ogg .oga .aiff .au).
bool is_audio_path(const std::string& path);

}  // namespace pretext
