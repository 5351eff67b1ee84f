#include "pretext/data/audio.h"

#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/log.h"
#include "pretext/core/options.h"
#include "pretext/core/runtime.h"
#include "pretext/data/readers.h"
#include "audio_bytes.h"

namespace pretext {
namespace fs = std::filesystem;

namespace {

// --- libsndfile on bytes in memory (virtual I/O): one decoder for files, pipes and the fuzzer ---

struct MemoryFile {
  std::string bytes;
  sf_count_t position = 0;
};

sf_count_t memory_length(void* user) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(user)->bytes.size()); }

sf_count_t memory_seek(sf_count_t offset, int whence, void* user) {
  auto* file = static_cast<MemoryFile*>(user);
  sf_count_t base = whence == SEEK_CUR ? file->position : whence == SEEK_END ? memory_length(user) : 0;
  sf_count_t target = base + offset;
  if (target < 0) return -1;
  file->position = target;
  return target;
}

sf_count_t memory_read(void* out, sf_count_t count, void* user) {
  auto* file = static_cast<MemoryFile*>(user);
  sf_count_t available = std::max<sf_count_t>(0, memory_length(user) - file->position);
  sf_count_t n = std::clamp<sf_count_t>(count, 0, available);
  if (n > 0) std::memcpy(out, file->bytes.data() + file->position, static_cast<size_t>(n));
  file->position += n;
  return n;
}

sf_count_t memory_write(const void* in, sf_count_t count, void* user) {
  auto* file = static_cast<MemoryFile*>(user);
  if (count <= 0) return 0;
  auto end = static_cast<size_t>(file->position + count);
  if (end > file->bytes.size()) file->bytes.resize(end);
  std::memcpy(file->bytes.data() + file->position, in, static_cast<size_t>(count));
  file->position += count;
  return count;
}

sf_count_t memory_tell(void* user) { return static_cast<MemoryFile*>(user)->position; }

SF_VIRTUAL_IO memory_io() { return {memory_length, memory_seek, memory_read, memory_write, memory_tell}; }

struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using SndfilePtr = std::unique_ptr<SNDFILE, SndfileCloser>;

// --- truncation: what the header declares against what the file holds ---

// A data length at or above this is a placeholder written before the length was known (a WAV
// streamed to a pipe: espeak-ng --stdout writes 0x7FFFF000, others 0xFFFFFFFF), not a promise.
constexpr uint64_t kStreamedLength = 0x7FFFF000;

uint64_t integer_at(const std::string& bytes, size_t at, bool big_endian) {
  uint64_t value = 0;
  for (size_t i = 0; i < 4; ++i) {
    value = value << 8 | static_cast<unsigned char>(bytes[at + (big_endian ? i : 3 - i)]);
  }
  return value;
}

// libsndfile quietly shortens a WAV, AIFF or AU file whose sample data ends before its header
// says (its log notes "should be …", sf_readf_float then reads what is there), so a file cut in
// half would read as a shorter recording. These three formats are checked here, on the header's
// own numbers; FLAC and the others declare a frame count that sf_readf_float falls short of.
void check_declared_length(const std::string& bytes, const std::string& name) {
  const size_t size = bytes.size();
  auto refuse = [&](const char* format, uint64_t declared, uint64_t available) {
    throw InputError(detail::str_cat(name, " is truncated: its ", format, " header declares ", declared,
                                      " bytes of samples, the file holds ", available));
  };
  if (size >= 12 && (bytes.compare(0, 4, "RIFF") == 0 || bytes.compare(0, 4, "RIFX") == 0) &&
      bytes.compare(8, 4, "WAVE") == 0) {
    const bool big = bytes[3] == 'X';
    for (uint64_t at = 12; at + 8 <= size;) {
      const uint64_t length = integer_at(bytes, static_cast<size_t>(at) + 4, big);
      if (bytes.compare(static_cast<size_t>(at), 4, "data") == 0) {
        const uint64_t available = size - at - 8;
        if (length > available && length < kStreamedLength) refuse("WAV", length, available);
        return;
      }
      at += 8 + length + (length & 1);  // chunks are padded to an even length
    }
    return;
  }
  if (size >= 12 && bytes.compare(0, 4, "FORM") == 0 &&
      (bytes.compare(8, 4, "AIFF") == 0 || bytes.compare(8, 4, "AIFC") == 0)) {
    for (uint64_t at = 12; at + 8 <= size;) {
      const uint64_t length = integer_at(bytes, static_cast<size_t>(at) + 4, true);
      if (bytes.compare(static_cast<size_t>(at), 4, "SSND") == 0) {
        const uint64_t available = size - at - 8;
        if (length > available && length < kStreamedLength) refuse("AIFF", length, available);
        return;
      }
      at += 8 + length + (length & 1);
    }
    return;
  }
  if (size >= 12 && bytes.compare(0, 4, ".snd") == 0) {
    const uint64_t offset = integer_at(bytes, 4, true);
    const uint64_t length = integer_at(bytes, 8, true);
    if (offset <= size && length != 0xFFFFFFFF && length > size - offset && length < kStreamedLength) {
      refuse("AU", length, size - offset);
    }
  }
}

// The most one recording may hold (mono samples, 1 GiB as float32; about 4.6 hours at 16 kHz):
// a few bytes of FLAC can declare, and decode to, far more.
constexpr int64_t kMaxFrames = int64_t{1} << 28;

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool is_audio_file(const fs::path& path) {
  static const std::set<std::string> kExtensions = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".au"};
  return kExtensions.count(lowercase(path.extension().string())) > 0;
}

std::vector<fs::path> sound_files(const fs::path& folder, bool recursive) {
  std::vector<fs::path> files;
  auto add = [&](const fs::directory_entry& entry) {
    if (entry.is_regular_file() && !is_hidden(entry.path()) && is_audio_file(entry.path())) files.push_back(entry.path());
  };
  if (recursive) {
    for (const auto& entry : fs::recursive_directory_iterator(folder)) add(entry);
  } else {
    for (const auto& entry : fs::directory_iterator(folder)) add(entry);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<fs::path> class_folders_of(const fs::path& folder) {
  std::vector<fs::path> folders;
  std::error_code error;
  if (!fs::is_directory(folder, error)) return folders;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_directory() && !is_hidden(entry.path())) folders.push_back(entry.path());
  }
  std::sort(folders.begin(), folders.end());
  return folders;
}

double default_target(const std::string& mode) { return mode == "rms" ? 0.1 : 0.9; }

// One file as the dataset holds it: mono, at the options' rate, at most max_seconds, normalised.
torch::Tensor prepare_clip(const fs::path& path, const AudioReadOptions& options) {
  AudioClip clip = read_audio(path.string());
  // Cut before resampling (less to convert), with a little to spare for the filter's edge.
  const auto source_keep = static_cast<int64_t>(std::ceil(options.max_seconds * static_cast<double>(clip.sample_rate))) + 64;
  if (clip.samples.size(0) > source_keep) clip.samples = clip.samples.slice(0, 0, source_keep);
  torch::Tensor samples;
  try {
    samples = resample(clip.samples, clip.sample_rate, options.sample_rate);
  } catch (const InputError& error) {
    throw InputError(path.string() + ": " + error.what());
  }
  const auto keep = std::max<int64_t>(1, std::llround(options.max_seconds * static_cast<double>(options.sample_rate)));
  if (samples.size(0) > keep) samples = samples.slice(0, 0, keep);
  if (samples.size(0) == 0) samples = torch::zeros({1});  // a single frame resampled down to nothing
  samples = samples.clamp(-1, 1);  // the sinc filter can ring slightly past full scale
  return normalize_audio(samples, options.normalize, options.normalize_target).contiguous();
}

std::string shape_string(const torch::Tensor& tensor) {
  std::ostringstream out;
  out << tensor.sizes();
  return out.str();
}

}  // namespace

// Decodes a whole sound file held in `bytes` and mixes it down to mono.
AudioClip decode_audio(std::string bytes, const std::string& name) {
  check_declared_length(bytes, name);
  MemoryFile file{std::move(bytes), 0};
  SF_VIRTUAL_IO io = memory_io();
  SF_INFO info{};
  SndfilePtr sound(sf_open_virtual(&io, SFM_READ, &info, &file));
  // sf_strerror(nullptr) reads libsndfile's process-wide last error: another thread's failure
  // could show here, but only in the wording of this message.
  PRETEXT_CHECK(sound != nullptr, InputError, name, " is not a sound file libsndfile can read (",
                sf_strerror(nullptr), ")");
  PRETEXT_CHECK(info.channels > 0, InputError, name, ": the header declares ", info.channels, " channels");
  PRETEXT_CHECK(info.samplerate > 0, InputError, name, ": the header declares a sample rate of ", info.samplerate,
                " Hz");
  PRETEXT_CHECK(info.frames > 0, InputError, name, " has no samples (0 frames)");
  PRETEXT_CHECK(info.frames <= kMaxFrames, InputError, name, " declares ", info.frames,
                " frames, more than pretext reads (", kMaxFrames, ")");
  const int64_t channels = info.channels;
  const int64_t declared = info.frames;

  // Read in chunks, mixing down as we go, so that a header's claims size no allocation beyond a
  // few MB until the samples are really there.
  std::vector<float> mono;
  mono.reserve(static_cast<size_t>(std::min<int64_t>(declared, int64_t{1} << 22)));
  const int64_t chunk_frames = std::max<int64_t>(1, (int64_t{1} << 16) / channels);
  std::vector<float> chunk(static_cast<size_t>(chunk_frames * channels));
  while (static_cast<int64_t>(mono.size()) < declared) {
    sf_count_t wanted = std::min<sf_count_t>(chunk_frames, declared - static_cast<int64_t>(mono.size()));
    sf_count_t got = sf_readf_float(sound.get(), chunk.data(), wanted);
    if (got <= 0) break;
    for (sf_count_t frame = 0; frame < got; ++frame) {
      double sum = 0;
      for (int64_t c = 0; c < channels; ++c) sum += chunk[static_cast<size_t>(frame * channels + c)];
      double mean = sum / static_cast<double>(channels);
      // Float files may hold values beyond full scale, or NaN: [-1, 1] is the contract.
      mono.push_back(std::isfinite(mean) ? static_cast<float>(std::clamp(mean, -1.0, 1.0)) : 0.0f);
    }
  }
  const int64_t read = static_cast<int64_t>(mono.size());
  if (read < declared) {
    const bool failed = sf_error(sound.get()) != SF_ERR_NO_ERROR;
    throw InputError(detail::str_cat(name, " is truncated or corrupt: its header declares ", declared,
                                      " frames, only ", read, " could be read",
                                      failed ? std::string(" (") + sf_strerror(sound.get()) + ")" : std::string()));
  }
  AudioClip clip;
  clip.samples = torch::from_blob(mono.data(), {read}, torch::kFloat32).clone();
  clip.sample_rate = info.samplerate;
  return clip;
}

AudioClip read_audio(const std::string& path) { return decode_audio(read_file(path), path); }

std::string encode_wav(const torch::Tensor& samples, int64_t sample_rate, const std::string& name) {
  PRETEXT_CHECK(samples.defined() && samples.dim() == 1, InputError, "cannot write ", name,
                ": expected samples of shape [L], got ", samples.defined() ? shape_string(samples) : "none");
  PRETEXT_CHECK(sample_rate > 0 && sample_rate <= 0x7FFFFFFF, InputError, "cannot write ", name,
                ": sample rate must be positive, got ", sample_rate);
  torch::Tensor data = torch::nan_to_num(samples.detach().to(torch::kCPU, torch::kFloat32), 0.0, 0.0, 0.0)
                           .clamp(-1, 1)
                           .contiguous();
  MemoryFile file;
  SF_VIRTUAL_IO io = memory_io();
  SF_INFO info{};
  info.samplerate = static_cast<int>(sample_rate);
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SndfilePtr sound(sf_open_virtual(&io, SFM_WRITE, &info, &file));
  PRETEXT_CHECK(sound != nullptr, IoError, "cannot encode ", name, " as WAV: ", sf_strerror(nullptr));
  sf_command(sound.get(), SFC_SET_CLIPPING, nullptr, SF_TRUE);
  const sf_count_t frames = data.numel();
  PRETEXT_CHECK(sf_writef_float(sound.get(), data.data_ptr<float>(), frames) == frames, IoError, "cannot encode ",
                name, " as WAV: ", sf_strerror(sound.get()));
  sound.reset();  // sf_close writes the final header
  return std::move(file.bytes);
}

void write_audio(const std::string& path, const torch::Tensor& samples, int64_t sample_rate) {
  write_file_atomic(path, encode_wav(samples, sample_rate, path));
}

torch::Tensor resample(const torch::Tensor& samples, int64_t from_rate, int64_t to_rate) {
  PRETEXT_CHECK(from_rate > 0 && to_rate > 0, InputError, "cannot resample from ", from_rate, " Hz to ", to_rate,
                " Hz: rates must be positive");
  if (from_rate == to_rate) return samples;
  PRETEXT_CHECK(samples.dim() == 1, InputError, "resample expects samples of shape [L], got ", shape_string(samples));
  const double ratio = static_cast<double>(to_rate) / static_cast<double>(from_rate);
  PRETEXT_CHECK(src_is_valid_ratio(ratio) != 0, InputError, "cannot resample from ", from_rate, " Hz to ", to_rate,
                " Hz: libsamplerate converts by at most a factor of 256");
  torch::Tensor input = samples.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t frames = input.size(0);
  if (frames == 0) return torch::zeros({0});
  torch::Tensor output = torch::empty({static_cast<int64_t>(std::ceil(static_cast<double>(frames) * ratio)) + 16});
  SRC_DATA data{};
  data.data_in = input.data_ptr<float>();
  data.data_out = output.data_ptr<float>();
  data.input_frames = static_cast<long>(frames);
  data.output_frames = static_cast<long>(output.size(0));
  data.src_ratio = ratio;
  int status = src_simple(&data, SRC_SINC_MEDIUM_QUALITY, 1);
  PRETEXT_CHECK(status == 0, InputError, "cannot resample from ", from_rate, " Hz to ", to_rate,
                " Hz: libsamplerate: ", src_strerror(status));
  return output.slice(0, 0, data.output_frames_gen).clone();
}

torch::Tensor normalize_audio(const torch::Tensor& samples, const std::string& mode, double target) {
  PRETEXT_CHECK(mode == "peak" || mode == "rms" || mode == "none", ConfigError,
                "normalize must be peak, rms or none, got '", mode, "'");
  if (mode == "none" || samples.numel() == 0) return samples;
  torch::NoGradGuard no_grad;
  const double wanted = target > 0 ? target : default_target(mode);
  const double level = mode == "peak" ? samples.abs().max().item<double>()
                                      : samples.to(torch::kFloat64).square().mean().sqrt().item<double>();
  if (!(level > 0) || !std::isfinite(level)) return samples;  // silence stays silent
  torch::Tensor scaled = samples * (wanted / level);
  return mode == "rms" ? scaled.clamp(-1, 1) : scaled;
}

void AudioReadOptions::validate() const {
  PRETEXT_CHECK(sample_rate >= 1000 && sample_rate <= 768000, ConfigError,
                "sample_rate must be between 1000 and 768000 Hz, got ", sample_rate);
  PRETEXT_CHECK(normalize == "peak" || normalize == "rms" || normalize == "none", ConfigError,
                "normalize must be peak, rms or none, got '", normalize, "'");
  PRETEXT_CHECK(normalize_target >= 0 && normalize_target <= 1, ConfigError,
                "normalize_target must be in [0, 1] (0 = the mode's default), got ", normalize_target);
  PRETEXT_CHECK(max_seconds > 0 && std::isfinite(max_seconds), ConfigError, "max_seconds must be positive, got ",
                max_seconds);
  PRETEXT_CHECK(limit >= 0, ConfigError, "limit must be >= 0, got ", limit);
  PRETEXT_CHECK(on_bad_file == "skip" || on_bad_file == "fail", ConfigError,
                "--on-bad-file must be skip or fail, got '", on_bad_file, "'");
}

nlohmann::json AudioReadOptions::to_json() const {
  return {{"sample_rate", sample_rate},
          {"normalize", normalize},
          {"normalize_target", normalize_target},
          {"max_seconds", max_seconds},
          {"limit", limit}};
}

AudioReadOptions AudioReadOptions::from_json(const nlohmann::json& values) {
  const std::string where = "audio options";
  AudioReadOptions options;
  OptionReader reader(values, where);
  reader.read("sample_rate", options.sample_rate)
      .read("normalize", options.normalize)
      .read("normalize_target", options.normalize_target)
      .read("max_seconds", options.max_seconds)
      .read("limit", options.limit)
      .read("on_bad_file", options.on_bad_file);
  reader.finish();
  try {
    options.validate();
  } catch (const ConfigError& error) {
    throw ConfigError(where + ": " + error.what());
  }
  return options;
}

AudioDataset::AudioDataset(torch::Tensor waveforms, torch::Tensor lengths, torch::Tensor labels, torch::Tensor groups,
                           std::vector<std::string> class_names, int64_t sample_rate, std::string source)
    : class_names_(std::move(class_names)), sample_rate_(sample_rate), source_(std::move(source)) {
  PRETEXT_CHECK(waveforms.defined() && lengths.defined() && labels.defined(), InputError, source_,
                ": waveforms, lengths or labels missing");
  PRETEXT_CHECK(waveforms.scalar_type() == torch::kFloat32, InputError, source_, ": waveforms must be float32, got ",
                waveforms.scalar_type());
  PRETEXT_CHECK(waveforms.dim() == 2, InputError, source_, ": waveforms must be [N, L], got shape ",
                shape_string(waveforms));
  const int64_t count = waveforms.size(0);
  PRETEXT_CHECK(count > 0, InputError, "empty dataset: ", source_);
  PRETEXT_CHECK(waveforms.size(1) > 0, InputError, source_, ": waveforms have no samples, shape ",
                shape_string(waveforms));
  PRETEXT_CHECK(sample_rate_ > 0, InputError, source_, ": sample rate must be positive, got ", sample_rate_);
  if (!groups.defined()) groups = torch::full({count}, -1, torch::kInt64);
  auto check_vector = [&](const torch::Tensor& tensor, const char* what) {
    PRETEXT_CHECK(tensor.scalar_type() == torch::kInt64, InputError, source_, ": ", what, " must be int64, got ",
                  tensor.scalar_type());
    PRETEXT_CHECK(tensor.dim() == 1 && tensor.size(0) == count, InputError, source_, ": ", count,
                  " waveforms but ", what, " of shape ", shape_string(tensor));
  };
  check_vector(lengths, "lengths");
  check_vector(labels, "labels");
  check_vector(groups, "groups");
  lengths_ = lengths.cpu().contiguous();
  labels_ = labels.cpu().contiguous();
  groups_ = groups.cpu().contiguous();
  const int64_t shortest = lengths_.min().item<int64_t>();
  const int64_t longest = lengths_.max().item<int64_t>();
  PRETEXT_CHECK(shortest >= 1 && longest <= waveforms.size(1), InputError, source_, ": length ",
                shortest < 1 ? shortest : longest, " is outside [1, ", waveforms.size(1), "]");
  const int64_t lowest = labels_.min().item<int64_t>();
  const int64_t highest = labels_.max().item<int64_t>();
  PRETEXT_CHECK(lowest >= -1, InputError, source_, ": label ", lowest, " is below -1");
  PRETEXT_CHECK(highest < static_cast<int64_t>(class_names_.size()), InputError, source_, ": label ", highest,
                " is out of range for ", class_names_.size(), " classes");
  PRETEXT_CHECK(groups_.min().item<int64_t>() >= -1, InputError, source_, ": group ", groups_.min().item<int64_t>(),
                " is below -1");
  // get() promises zeros past each length. Checked row by row, so that data that already keeps
  // the promise (load_audio_folder's) is not copied; otherwise zeroed in a copy, so that the
  // caller's tensor is left alone.
  waveforms_ = waveforms.cpu().contiguous();
  const float* data = waveforms_.data_ptr<float>();
  const int64_t width = waveforms_.size(1);
  const int64_t* length = lengths_.data_ptr<int64_t>();
  bool padding_is_zero = true;
  for (int64_t row = 0; row < count && padding_is_zero; ++row) {
    padding_is_zero = std::all_of(data + row * width + length[row], data + (row + 1) * width,
                                  [](float x) { return x == 0.0f; });
  }
  if (!padding_is_zero) {
    torch::Tensor padding = torch::arange(width).unsqueeze(0) >= lengths_.unsqueeze(1);
    waveforms_ = waveforms_.masked_fill(padding, 0);
  }
}

Batch AudioDataset::get(const torch::Tensor& indices) const {
  Batch batch;
  batch.index = indices.to(torch::kInt64).cpu().reshape({-1});
  batch.extra = lengths_.index_select(0, batch.index);
  const int64_t longest = batch.extra.numel() > 0 ? batch.extra.max().item<int64_t>() : 0;
  batch.input = waveforms_.index_select(0, batch.index).slice(1, 0, longest).contiguous();
  batch.label = labels_.index_select(0, batch.index);
  batch.group = groups_.index_select(0, batch.index);
  return batch;
}

std::shared_ptr<AudioDataset> load_audio_folder(const std::string& path, const std::string& split,
                                                const AudioReadOptions& options) {
  PRETEXT_CHECK(split == "train" || split == "test", ConfigError, "split must be 'train' or 'test', got '", split, "'");
  options.validate();
  std::error_code error;
  const fs::path root(path);
  PRETEXT_CHECK(fs::is_directory(root, error), InputError, "no such folder: ", path);
  const bool has_train = fs::is_directory(root / "train", error);
  const bool has_test = fs::is_directory(root / "test", error);
  fs::path folder = root;
  std::vector<fs::path> classes;
  if (has_train || has_test) {
    PRETEXT_CHECK(split == "train" ? has_train : has_test, InputError, path, " has no ", split, " split (no ", split,
                  "/ sub-folder next to its ", split == "train" ? "test" : "train", "/)");
    folder = root / split;
  } else {
    PRETEXT_CHECK(split == "train", InputError, path,
                  " has no test split (no train/ and test/ sub-folders; the whole folder is the training set)");
  }
  // Classes: the union of both splits' sub-folders, so that a label means the same in each.
  std::set<std::string> class_set;
  for (const auto& part : has_train || has_test ? std::vector<fs::path>{root / "train", root / "test"}
                                                : std::vector<fs::path>{root}) {
    for (const auto& class_folder : class_folders_of(part)) class_set.insert(class_folder.filename().string());
  }
  std::vector<std::string> class_names(class_set.begin(), class_set.end());

  struct File {
    fs::path path;
    int64_t label;
  };
  std::vector<File> files;
  std::vector<fs::path> own_classes = class_folders_of(folder);
  if (own_classes.empty() && class_names.empty()) {
    for (auto& file : sound_files(folder, false)) files.push_back({std::move(file), -1});
  } else {
    auto loose = sound_files(folder, false);
    if (!loose.empty()) {
      log::warn(folder.string(), ": ignoring ", loose.size(), " sound file(s) next to the class sub-folders, e.g. ",
                loose.front().filename().string());
    }
    for (const auto& class_folder : own_classes) {
      auto found = std::lower_bound(class_names.begin(), class_names.end(), class_folder.filename().string());
      const auto label = static_cast<int64_t>(found - class_names.begin());
      for (auto& file : sound_files(class_folder, true)) files.push_back({std::move(file), label});
    }
  }
  PRETEXT_CHECK(!files.empty(), InputError, "no sound files found in ", folder.string(),
                " (looked for .wav .flac .ogg .oga .aiff .au)");
  if (options.limit > 0 && static_cast<int64_t>(files.size()) > options.limit) {
    files.resize(static_cast<size_t>(options.limit));
  }

  // Speakers: the text before the first '_' of a file name, numbered in sorted order.
  std::vector<std::string> speakers(files.size());
  std::map<std::string, int64_t> speaker_ids;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string name = files[i].path.filename().string();
    const size_t underscore = name.find('_');
    if (underscore != std::string::npos && underscore > 0) {
      speakers[i] = name.substr(0, underscore);
      speaker_ids.emplace(speakers[i], 0);
    }
  }
  int64_t next_id = 0;
  for (auto& entry : speaker_ids) entry.second = next_id++;

  // Read on all cores. Files are taken in order, so when one fails every earlier file has been
  // taken too, and the first bad file in path order is the one reported. With on_bad_file
  // "skip", a file that does not decode (an InputError) is left out instead.
  const bool skip_bad = options.on_bad_file == "skip";
  std::vector<torch::Tensor> clips(files.size());
  std::vector<std::string> bad_reasons(files.size());
  std::vector<std::exception_ptr> failures(files.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i = next++; i < files.size() && !failed; i = next++) {
      try {
        clips[i] = prepare_clip(files[i].path, options);
      } catch (const InputError& error) {
        if (skip_bad) {
          bad_reasons[i] = error.what();
        } else {
          failures[i] = std::current_exception();
          failed = true;
        }
      } catch (...) {
        failures[i] = std::current_exception();
        failed = true;
      }
    }
  };
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(1, usable_cores())), files.size());
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (auto& thread : threads) thread.join();
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  std::vector<std::string> skipped;
  for (size_t i = 0, kept = 0; i < files.size(); ++i) {
    if (!bad_reasons[i].empty()) {
      skipped.push_back(std::move(bad_reasons[i]));
      continue;
    }
    if (kept != i) {
      clips[kept] = std::move(clips[i]);
      files[kept] = std::move(files[i]);
      speakers[kept] = std::move(speakers[i]);
    }
    ++kept;
  }
  PRETEXT_CHECK(skipped.size() < files.size(), InputError, "no sound file in ", folder.string(), " could be decoded (",
                skipped.size(), " files), e.g. ", skipped.empty() ? "" : skipped.front());
  warn_skipped_files(folder, skipped, "of " + std::to_string(files.size()) + " files that could not be decoded");
  const size_t count = files.size() - skipped.size();
  files.resize(count);
  clips.resize(count);
  speakers.resize(count);

  int64_t longest = 0;
  for (const auto& clip : clips) longest = std::max(longest, clip.size(0));
  torch::Tensor waveforms = torch::zeros({static_cast<int64_t>(count), longest});
  std::vector<int64_t> lengths(count), labels(count), groups(count);
  for (size_t i = 0; i < count; ++i) {
    const auto row = static_cast<int64_t>(i);
    lengths[i] = clips[i].size(0);
    waveforms[row].slice(0, 0, lengths[i]).copy_(clips[i]);
    labels[i] = files[i].label;
    groups[i] = speakers[i].empty() ? -1 : speaker_ids.at(speakers[i]);
  }
  log::debug("read ", count, " sound files (", class_names.size(), " classes, ", speaker_ids.size(),
             " speakers, longest ", longest, " samples at ", options.sample_rate, " Hz) from ", folder.string());
  return std::make_shared<AudioDataset>(waveforms, torch::tensor(lengths, torch::kInt64),
                                        torch::tensor(labels, torch::kInt64), torch::tensor(groups, torch::kInt64),
                                        std::move(class_names), options.sample_rate, folder.string());
}

bool is_audio_path(const std::string& path) {
  std::error_code error;
  const fs::path target(path);
  if (fs::is_regular_file(target, error)) return is_audio_file(target);
  if (!fs::is_directory(target, error)) return false;
  int64_t seen = 0;
  for (auto it = fs::recursive_directory_iterator(target, fs::directory_options::skip_permission_denied, error);
       !error && it != fs::recursive_directory_iterator() && seen < 200; it.increment(error)) {
    if (!it->is_regular_file(error) || is_hidden(it->path())) continue;
    ++seen;
    if (is_audio_file(it->path())) return true;
  }
  return false;
}

}  // namespace pretext
