#include "pretext/data/spoken_words.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "audio_bytes.h"
#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/hash.h"
#include "pretext/core/log.h"
#include "pretext/core/runtime.h"
#include "pretext/data/audio.h"
#include "pretext/data/espeak_protocol.h"
#include "pretext/data/text.h"
#include "pretext_build_paths.h"

extern char** environ;

namespace pretext {
namespace fs = std::filesystem;

namespace {

// English accents of espeak-ng 1.51 (`espeak-ng --voices=en`). Not "en": it is en-gb under
// another name (the same bytes). Not the mbrola voices: they need the mbrola program and voices.
const std::vector<std::string> kAccents = {"en-us",          "en-us-nyc",      "en-gb",  "en-gb-x-rp",
                                           "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029"};
// Voice variants (`espeak-ng --voices=variant`; file names under espeak-ng-data/voices/!v).
// espeak-ng falls back to the plain voice, silently, for a variant it does not know.
const std::vector<std::string> kVariants = {"m1", "m2", "m3", "m4", "m5",    "m6",      "m7",      "m8",    "f1",
                                            "f2", "f3", "f4", "f5", "Annie", "Andy", "grandma", "grandpa", "klatt"};

constexpr int kDigits = 10;

// Leading and trailing samples quieter than this fraction of the word's peak (-40 dB) are the
// synthesiser's silence.
constexpr double kSilenceThreshold = 0.01;
constexpr double kPeak = 0.9;  // every clip is peak-normalised to this
constexpr int64_t kManifestVersion = 1;

struct Voice {
  std::string accent, variant;
  std::string espeak_name() const { return accent + "+" + variant; }
  std::string file_name() const { return accent + "-" + variant; }  // no '_': the speaker prefix
};

// --- randomness that reads the same on every platform (std's distributions do not) ---

uint64_t splitmix64(uint64_t value) {
  value += 0x9E3779B97F4A7C15ULL;
  value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ULL;
  value = (value ^ (value >> 27)) * 0x94D049BB133111EBULL;
  return value ^ (value >> 31);
}

class Random {
 public:
  explicit Random(uint64_t seed) : engine_(splitmix64(seed)) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  int64_t below(int64_t count) { return std::min(count - 1, static_cast<int64_t>(uniform() * static_cast<double>(count))); }
  double normal() {  // Box–Muller
    const double u = 1.0 - uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * 3.14159265358979323846 * uniform());
  }

 private:
  std::mt19937_64 engine_;
};

template <class T>
void shuffle(std::vector<T>& items, Random& random) {
  for (int64_t i = static_cast<int64_t>(items.size()) - 1; i > 0; --i) {
    std::swap(items[static_cast<size_t>(i)], items[static_cast<size_t>(random.below(i + 1))]);
  }
}

// --- espeak-ng, through the pretext-espeak helper ---
// The helper (apps/pretext-espeak/main.cpp says why it is a program of its own) starts libespeak-ng
// once and says each word in a fork of itself, so every clip is the same bytes as the espeak-ng
// program makes, whatever else is made and in whatever order. Each worker thread has its own
// helper. Starting the espeak-ng program for each clip instead cost 32 ms, nearly all in the
// kernel: 140 s of the corpus's 4,900 clips, against 15 s now (docs/RESULTS.md).


// The helper: $PRETEXT_ESPEAK_HELPER, else next to this program, else in the build folder.
std::string espeak_helper_path() {
  if (const char* chosen = std::getenv("PRETEXT_ESPEAK_HELPER"); chosen != nullptr && *chosen != 0) return chosen;
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    const fs::path beside = self.parent_path() / "pretext-espeak";
    if (fs::exists(beside, error)) return beside.string();
  }
  return (fs::path(PRETEXT_BUILD_BIN_DIR) / "pretext-espeak").string();
}

class EspeakHelper {
 public:
  // Throws IoError naming the helper, and the Debian package, when it cannot start.
  EspeakHelper() : path_(espeak_helper_path()) {
    const std::string install = "; install Debian's libespeak-ng1 (scripts/setup does)";
    std::error_code error;
    PRETEXT_CHECK(fs::exists(path_, error), IoError, "cannot find pretext's espeak-ng helper ", path_,
                  " (it is built and installed next to the pretext program)");
    int to_helper[2], from_helper[2];
    PRETEXT_CHECK(::pipe2(to_helper, O_CLOEXEC) == 0 && ::pipe2(from_helper, O_CLOEXEC) == 0, IoError,
                  "cannot create a pipe: ", std::strerror(errno));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to_helper[0], 0);  // dup2 clears close-on-exec
    posix_spawn_file_actions_adddup2(&actions, from_helper[1], 1);
    char* argv[] = {const_cast<char*>(path_.c_str()), nullptr};
    const int spawned = ::posix_spawn(&pid_, path_.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(to_helper[0]);
    ::close(from_helper[1]);
    to_ = to_helper[1];
    from_ = from_helper[0];
    if (spawned != 0) pid_ = -1;
    PRETEXT_CHECK(spawned == 0, IoError, "cannot start ", path_, ": ", std::strerror(spawned));
    uint32_t status = 0;
    std::string hello;
    PRETEXT_CHECK(read_frame(status, hello), IoError, path_, " could not start (", stopped_status(), ")", install);
    PRETEXT_CHECK(status == espeak_protocol::kOk, IoError, path_, ": ", hello, install);
    std::istringstream fields(hello);
    std::string rate;
    std::getline(fields, rate, '\t');
    std::getline(fields, version_, '\t');
    std::getline(fields, data_path_);
    sample_rate_ = std::atoi(rate.c_str());
    version_ = "eSpeak NG text-to-speech: " + version_;  // as `espeak-ng --version` says it
  }
  EspeakHelper(const EspeakHelper&) = delete;
  EspeakHelper& operator=(const EspeakHelper&) = delete;
  ~EspeakHelper() {
    if (to_ >= 0) ::close(to_);  // end of input: the helper exits
    if (from_ >= 0) ::close(from_);
    if (pid_ > 0) {
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  const std::string& version() const { return version_; }
  const std::string& data_path() const { return data_path_; }

  // The word said by `voice` ("en-us+f3") at `speed` words per minute and `pitch` (0–99).
  AudioClip say(const std::string& voice, long speed, long pitch, const std::string& word) {
    const std::string what = "espeak-ng -v " + voice + " '" + word + "'";
    const std::string request = voice + "\t" + std::to_string(speed) + "\t" + std::to_string(pitch) + "\t" + word + "\n";
    uint32_t status = 0;
    std::string payload;
    PRETEXT_CHECK(write_all(request) && read_frame(status, payload), IoError, what, ": ", path_, " stopped (",
                  stopped_status(), ")");
    PRETEXT_CHECK(status != espeak_protocol::kNoVoice, IoError, what, ": espeak-ng has no voice '", voice, "'");
    PRETEXT_CHECK(status == espeak_protocol::kOk, IoError, what, " failed (", path_, " status ", status,
                  payload.empty() ? "" : ": " + payload, ")");
    AudioClip clip;
    clip.sample_rate = sample_rate_;
    const auto count = static_cast<int64_t>(payload.size() / sizeof(int16_t));
    clip.samples = torch::empty({count});
    float* out = clip.samples.data_ptr<float>();
    for (int64_t i = 0; i < count; ++i) {
      int16_t sample;
      std::memcpy(&sample, payload.data() + i * static_cast<int64_t>(sizeof(int16_t)), sizeof(sample));
      out[i] = static_cast<float>(sample) / 32768.0f;  // as libsndfile reads 16-bit files
    }
    return clip;
  }

 private:
  bool write_all(const std::string& bytes) { return espeak_protocol::write_all(to_, bytes.data(), bytes.size()); }
  bool read_frame(uint32_t& status, std::string& payload) { return espeak_protocol::read_frame(from_, status, payload); }
  // How the helper ended, once its output closed early.
  std::string stopped_status() {
    if (pid_ <= 0) return "not running";
    int status = 0;
    pid_t got;
    while ((got = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    if (got != pid_) return "unknown status";
    pid_ = -1;
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    // 127: the dynamic loader could not find libespeak-ng (or the program could not run).
    return "exit status " + std::to_string(WEXITSTATUS(status));
  }

  std::string path_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  int sample_rate_ = 0;
  std::string version_, data_path_;
};

// --- one clip ---

struct Clip {
  std::string word;
  Voice voice;
  std::string path;  // relative to the corpus folder
};

enum class Noise { white, pink, brown };

// Unit-RMS noise of `count` samples.
std::vector<double> make_noise(Noise kind, size_t count, Random& random) {
  std::vector<double> noise(count);
  double b0 = 0, b1 = 0, b2 = 0, brown = 0;
  for (size_t i = 0; i < count; ++i) {
    const double white = random.normal();
    switch (kind) {
      case Noise::white:
        noise[i] = white;
        break;
      case Noise::pink:  // Paul Kellet's economy filter: -3 dB/octave within ±0.5 dB
        b0 = 0.99765 * b0 + white * 0.0990460;
        b1 = 0.96300 * b1 + white * 0.2965164;
        b2 = 0.57000 * b2 + white * 1.0526913;
        noise[i] = b0 + b1 + b2 + white * 0.1848;
        break;
      case Noise::brown:  // integrated white noise (-6 dB/octave), leaky so that it stays bounded
        brown = 0.998 * brown + white;
        noise[i] = brown;
        break;
    }
  }
  double mean = 0;
  for (double x : noise) mean += x;
  mean /= static_cast<double>(std::max<size_t>(1, count));
  double power = 0;
  for (double& x : noise) {
    x -= mean;
    power += x * x;
  }
  const double rms = std::sqrt(power / static_cast<double>(std::max<size_t>(1, count)));
  if (rms > 0) {
    for (double& x : noise) x /= rms;
  }
  return noise;
}

// The word as espeak-ng said it, without its silence, at the corpus's rate.
torch::Tensor trimmed_word(const AudioClip& speech, int64_t sample_rate) {
  torch::Tensor samples = speech.samples;
  const float* data = samples.data_ptr<float>();
  const int64_t count = samples.size(0);
  float peak = 0;
  for (int64_t i = 0; i < count; ++i) peak = std::max(peak, std::abs(data[i]));
  if (peak <= 0) return torch::Tensor();
  const float threshold = static_cast<float>(kSilenceThreshold) * peak;
  int64_t first = 0, last = count - 1;
  while (first < last && std::abs(data[first]) < threshold) ++first;
  while (last > first && std::abs(data[last]) < threshold) --last;
  return resample(samples.slice(0, first, last + 1), speech.sample_rate, sample_rate);
}

void make_clip(const Clip& clip, EspeakHelper& espeak, const fs::path& folder, const SpokenWordsOptions& options) {
  // A clip's randomness comes from the seed and its own name only: the same file whatever else
  // is made, and in whatever order the workers get to it.
  Random random(options.seed ^ fnv1a(clip.path));
  const auto speed = std::lround(random.uniform(options.speed_min, options.speed_max));
  const auto pitch = std::lround(random.uniform(options.pitch_min, options.pitch_max));
  const AudioClip speech = espeak.say(clip.voice.espeak_name(), speed, pitch, clip.word);
  const std::string what = "espeak-ng -v " + clip.voice.espeak_name() + " '" + clip.word + "'";
  torch::Tensor word = trimmed_word(speech, options.sample_rate);
  PRETEXT_CHECK(word.defined() && word.numel() > 0, IoError, what, " produced only silence");

  const auto length = std::max<int64_t>(1, std::llround(options.clip_seconds * static_cast<double>(options.sample_rate)));
  const int64_t spoken = std::min(word.size(0), length);  // a longer word keeps its start
  const int64_t room = length - spoken;
  const double jitter = std::min(options.jitter_seconds * static_cast<double>(options.sample_rate), room / 2.0);
  const int64_t offset =
      std::clamp<int64_t>(std::llround(room / 2.0 + random.uniform(-jitter, jitter)), 0, room);

  std::vector<double> samples(static_cast<size_t>(length), 0.0);
  const float* speech_data = word.data_ptr<float>();
  double power = 0;
  for (int64_t i = 0; i < spoken; ++i) {
    samples[static_cast<size_t>(offset + i)] = speech_data[i];
    power += static_cast<double>(speech_data[i]) * speech_data[i];
  }
  const auto kind = static_cast<Noise>(random.below(3));
  const double snr_db = random.uniform(options.snr_min_db, options.snr_max_db);
  // The SNR is the word's own power against the noise's (the active-speech level, not the clip's).
  const double noise_rms = std::sqrt(power / static_cast<double>(spoken)) * std::pow(10.0, -snr_db / 20.0);
  std::vector<double> noise = make_noise(kind, samples.size(), random);
  torch::Tensor mixed = torch::empty({length});
  float* out = mixed.data_ptr<float>();
  for (size_t i = 0; i < samples.size(); ++i) out[i] = static_cast<float>(samples[i] + noise_rms * noise[i]);
  // Not write_audio(): its fsync per file took a fifth of the time. The corpus is made durable
  // once, as a whole, before its folder is renamed into place.
  const fs::path path = folder / clip.path;
  const std::string bytes = encode_wav(normalize_audio(mixed, "peak", kPeak), options.sample_rate, path.string());
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  PRETEXT_CHECK(file.good(), IoError, "cannot write ", path.string());
}

// --- the corpus ---

struct Parts {
  std::vector<Voice> pretrain, train, test;
};

// Speakers in the seeded order, then cut into digits/train, digits/test and pretraining.
Parts choose_voices(const SpokenWordsOptions& options) {
  std::vector<std::vector<Voice>> speakers;
  for (const auto& variant : kVariants) {
    for (const auto& accent : kAccents) {
      if (accent == "en-us-nyc") continue;  // with en-us: one speaker
      std::vector<Voice> speaker = {{accent, variant}};
      if (accent == "en-us") speaker.push_back({"en-us-nyc", variant});
      speakers.push_back(speaker);
    }
  }
  Random random(options.seed);
  shuffle(speakers, random);
  if (options.speaker_limit > 0 && options.speaker_limit < static_cast<int64_t>(speakers.size())) {
    speakers.resize(static_cast<size_t>(options.speaker_limit));
  }
  const auto count = static_cast<int64_t>(speakers.size());
  const int64_t held_out =
      std::clamp<int64_t>(std::llround(options.held_out_voice_fraction * static_cast<double>(count)), 2, count - 1);
  const int64_t train = (held_out + 1) / 2;
  Parts parts;
  for (int64_t i = 0; i < count; ++i) {
    auto& part = i < train ? parts.train : i < held_out ? parts.test : parts.pretrain;
    for (auto& voice : speakers[static_cast<size_t>(i)]) part.push_back(voice);
  }
  for (auto* part : {&parts.pretrain, &parts.train, &parts.test}) {
    std::sort(part->begin(), part->end(),
              [](const Voice& a, const Voice& b) { return a.file_name() < b.file_name(); });
  }
  return parts;
}

std::vector<std::string> voice_names(const std::vector<Voice>& voices) {
  std::vector<std::string> names;
  for (const auto& voice : voices) names.push_back(voice.file_name());
  return names;
}

// The words this corpus uses (the vocabulary, or its first vocabulary_limit words).
std::vector<std::string> corpus_words(const SpokenWordsOptions& options) {
  std::vector<std::string> words = spoken_words_vocabulary();
  if (options.vocabulary_limit > 0 && options.vocabulary_limit < static_cast<int64_t>(words.size())) {
    words.resize(static_cast<size_t>(options.vocabulary_limit));
  }
  return words;
}

// Whether `folder` is a finished corpus made with `options` (InputError when it is something else).
bool finished_corpus(const fs::path& folder, const nlohmann::json& options) {
  std::error_code error;
  if (!fs::exists(folder, error)) return false;
  const fs::path manifest_path = folder / "manifest.json";
  PRETEXT_CHECK(fs::is_regular_file(manifest_path, error), InputError, folder.string(),
                " exists but is not a finished spoken-words corpus (no manifest.json); remove it or choose another "
                "folder");
  nlohmann::json manifest = nlohmann::json::parse(read_file(manifest_path), nullptr, /*allow_exceptions=*/false);
  PRETEXT_CHECK(manifest.is_object() && manifest.contains("options"), InputError, manifest_path.string(),
                " is not a spoken-words manifest; remove ", folder.string(), " or choose another folder");
  if (manifest["options"] == options) return true;
  std::string differing;
  for (const auto& item : options.items()) {
    if (!manifest["options"].contains(item.key()) || manifest["options"][item.key()] != item.value()) {
      differing += (differing.empty() ? "" : ", ") + item.key();
    }
  }
  throw InputError(folder.string() + " holds a spoken-words corpus made with other options (" +
                   (differing.empty() ? std::string("other keys") : differing) +
                   "); remove it or choose another folder");
}

// Flushes everything written to the filesystem that holds `folder` (one syncfs, not one fsync
// per clip).
void sync_filesystem(const fs::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  PRETEXT_CHECK(fd >= 0, IoError, "cannot open ", folder.string(), ": ", std::strerror(errno));
  const int synced = ::syncfs(fd);
  const int saved_errno = errno;
  ::close(fd);
  PRETEXT_CHECK(synced == 0, IoError, "cannot flush ", folder.string(), " to disk: ", std::strerror(saved_errno));
}

// Removes partial folders that dead runs left next to `target` (".<name>.partial-<pid>").
void remove_stale_partials(const fs::path& target) {
  const std::string prefix = "." + target.filename().string() + ".partial-";
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(target.parent_path(), error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    if (::kill(pid, 0) != 0 && errno == ESRCH) fs::remove_all(entry.path(), error);
  }
}

}  // namespace

std::vector<std::string> spoken_words_vocabulary() {
  return {"zero",  "one",   "two",     "three",    "four",   "five",  "six",   "seven", "eight", "nine",
          // Speech Commands' other words (Warden 2018), then five more of one or two syllables.
          "yes",   "no",    "up",      "down",     "left",   "right", "on",    "off",   "stop",  "go",
          "bed",   "bird",  "cat",     "dog",      "happy",  "house", "marvin", "sheila", "tree", "wow",
          "backward", "forward", "follow", "learn", "visual", "hello", "open", "water", "music", "green"};
}

void SpokenWordsOptions::validate() const {
  PRETEXT_CHECK(sample_rate >= 8000 && sample_rate <= 48000, ConfigError,
                "sample_rate must be between 8000 and 48000 Hz, got ", sample_rate);
  PRETEXT_CHECK(pretrain_clips_per_word_voice >= 1, ConfigError, "pretrain_clips_per_word_voice must be >= 1, got ",
                pretrain_clips_per_word_voice);
  PRETEXT_CHECK(labelled_clips_per_digit_voice >= 1, ConfigError, "labelled_clips_per_digit_voice must be >= 1, got ",
                labelled_clips_per_digit_voice);
  PRETEXT_CHECK(held_out_voice_fraction > 0 && held_out_voice_fraction < 1, ConfigError,
                "held_out_voice_fraction must be in (0, 1), got ", held_out_voice_fraction);
  // espeak-ng's own limits: 80–450 words per minute, pitch 0–99.
  PRETEXT_CHECK(speed_min >= 80 && speed_min <= speed_max && speed_max <= 450, ConfigError,
                "speed_min and speed_max must satisfy 80 <= speed_min <= speed_max <= 450, got ", speed_min, " and ",
                speed_max);
  PRETEXT_CHECK(pitch_min >= 0 && pitch_min <= pitch_max && pitch_max <= 99, ConfigError,
                "pitch_min and pitch_max must satisfy 0 <= pitch_min <= pitch_max <= 99, got ", pitch_min, " and ",
                pitch_max);
  PRETEXT_CHECK(std::isfinite(snr_min_db) && std::isfinite(snr_max_db) && snr_min_db <= snr_max_db, ConfigError,
                "snr_min_db must be <= snr_max_db, got ", snr_min_db, " and ", snr_max_db);
  PRETEXT_CHECK(clip_seconds > 0 && clip_seconds <= 10, ConfigError, "clip_seconds must be in (0, 10], got ",
                clip_seconds);
  PRETEXT_CHECK(jitter_seconds >= 0 && jitter_seconds <= clip_seconds, ConfigError,
                "jitter_seconds must be in [0, clip_seconds], got ", jitter_seconds);
  PRETEXT_CHECK(vocabulary_limit >= 0, ConfigError, "vocabulary_limit must be >= 0, got ", vocabulary_limit);
  PRETEXT_CHECK(speaker_limit == 0 || speaker_limit >= 3, ConfigError,
                "speaker_limit must be 0 (all) or >= 3 (one speaker for each part), got ", speaker_limit);
  PRETEXT_CHECK(jobs >= 0, ConfigError, "jobs must be >= 0 (0 = the cores), got ", jobs);
}

nlohmann::json SpokenWordsOptions::to_json() const {
  return {{"seed", seed},
          {"sample_rate", sample_rate},
          {"pretrain_clips_per_word_voice", pretrain_clips_per_word_voice},
          {"labelled_clips_per_digit_voice", labelled_clips_per_digit_voice},
          {"held_out_voice_fraction", held_out_voice_fraction},
          {"speed_min", speed_min},
          {"speed_max", speed_max},
          {"pitch_min", pitch_min},
          {"pitch_max", pitch_max},
          {"snr_min_db", snr_min_db},
          {"snr_max_db", snr_max_db},
          {"clip_seconds", clip_seconds},
          {"jitter_seconds", jitter_seconds},
          {"vocabulary_limit", vocabulary_limit},
          {"speaker_limit", speaker_limit}};
}

void make_spoken_words(const std::string& out, const SpokenWordsOptions& options,
                       const std::function<void(int64_t, int64_t)>& progress) {
  options.validate();
  PRETEXT_CHECK(!out.empty(), ConfigError, "spoken words: no output folder given");
  fs::path target = fs::absolute(fs::path(out)).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();  // "corpus/"
  const nlohmann::json wanted = options.to_json();
  if (finished_corpus(target, wanted)) {
    log::debug(target.string(), ": the spoken-words corpus is already there");
    return;
  }
  EspeakHelper espeak;  // the main thread's; each other worker starts its own
  const std::string& espeak_version = espeak.version();
  if (!espeak.data_path().empty()) {
    const fs::path data = espeak.data_path();
    std::error_code error;
    for (const auto& variant : kVariants) {
      const fs::path file = data / "voices" / "!v" / variant;
      // Else espeak-ng would quietly speak with the plain voice, and two "voices" would be one.
      PRETEXT_CHECK(!fs::is_directory(data / "voices" / "!v", error) || fs::exists(file, error), IoError,
                    "espeak-ng (", espeak_version, ") lacks the voice variant '", variant, "' (", file.string(),
                    "); the corpus needs the variants of espeak-ng 1.51");
    }
  }

  const std::vector<std::string> words = corpus_words(options);
  const std::vector<std::string> digits(words.begin(), words.begin() + std::min<size_t>(kDigits, words.size()));
  const Parts parts = choose_voices(options);
  std::vector<Clip> clips;
  for (const auto& voice : parts.pretrain) {
    for (const auto& word : words) {
      for (int64_t n = 0; n < options.pretrain_clips_per_word_voice; ++n) {
        clips.push_back({word, voice, "pretrain/" + voice.file_name() + "_" + word + "_" + std::to_string(n) + ".wav"});
      }
    }
  }
  const size_t pretrain_count = clips.size();
  for (const auto& [split, voices] : {std::pair{"train", &parts.train}, std::pair{"test", &parts.test}}) {
    for (const auto& voice : *voices) {
      for (const auto& digit : digits) {
        for (int64_t n = 0; n < options.labelled_clips_per_digit_voice; ++n) {
          clips.push_back({digit, voice,
                           std::string("digits/") + split + "/" + digit + "/" + voice.file_name() + "_" +
                               std::to_string(n) + ".wav"});
        }
      }
    }
  }
  const size_t train_count = parts.train.size() * digits.size() * static_cast<size_t>(options.labelled_clips_per_digit_voice);

  ensure_directory(target.parent_path());
  remove_stale_partials(target);
  const fs::path partial = target.parent_path() / ("." + target.filename().string() + ".partial-" + std::to_string(::getpid()));
  std::error_code error;
  fs::remove_all(partial, error);
  for (const char* folder : {"pretrain", "digits/train", "digits/test"}) ensure_directory(partial / folder);
  for (const auto& digit : digits) {
    ensure_directory(partial / "digits/train" / digit);
    ensure_directory(partial / "digits/test" / digit);
  }

  const auto total = static_cast<int64_t>(clips.size());
  const int64_t jobs = std::min<int64_t>(options.jobs > 0 ? options.jobs : 2 * std::max(1, usable_cores()), total);
  log::info("spoken words: ", total, " clips (", pretrain_count, " pretraining, ", train_count, " + ",
            clips.size() - pretrain_count - train_count, " labelled) from ",
            parts.pretrain.size() + parts.train.size() + parts.test.size(), " voices, ", jobs,
            " at a time, into ", target.string());
  const auto start = std::chrono::steady_clock::now();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;  // guards done, failure and the progress callback
  int64_t done = 0;
  std::exception_ptr failure;
  auto work = [&](EspeakHelper* own) {
    std::unique_ptr<EspeakHelper> started;
    for (size_t i = next++; i < clips.size() && !failed; i = next++) {
      try {
        if (own == nullptr) own = (started = std::make_unique<EspeakHelper>()).get();
        make_clip(clips[i], *own, partial, options);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        failed = true;
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      ++done;
      if (progress) progress(done, total);
    }
  };
  std::vector<std::thread> threads;
  for (int64_t w = 1; w < jobs; ++w) threads.emplace_back(work, nullptr);
  work(&espeak);
  for (auto& thread : threads) thread.join();
  if (failure) {
    fs::remove_all(partial, error);
    std::rethrow_exception(failure);
  }

  nlohmann::json manifest = {
      {"corpus", "spoken-words"},
      {"version", kManifestVersion},
      {"options", wanted},
      {"espeak_ng", espeak_version},
      {"words", words},
      {"digits", digits},
      {"voices", {{"pretrain", voice_names(parts.pretrain)},
                  {"digits/train", voice_names(parts.train)},
                  {"digits/test", voice_names(parts.test)}}},
      {"clips", {{"pretrain", pretrain_count},
                 {"digits/train", train_count},
                 {"digits/test", clips.size() - pretrain_count - train_count}}}};
  try {
    write_file_atomic(partial / "manifest.json", manifest.dump(2) + "\n");
    sync_filesystem(partial);
  } catch (...) {
    fs::remove_all(partial, error);
    throw;
  }
  fs::rename(partial, target, error);
  if (error) {
    fs::remove_all(partial);
    // Another run may have finished the same corpus first.
    if (finished_corpus(target, wanted)) return;
    throw IoError("cannot rename " + partial.string() + " to " + target.string() + ": " + error.message());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("spoken words: ", total, " clips in ", std::lround(seconds), " s, in ", target.string());
}

std::string spoken_words_folder() { return (text_data_cache() / "spoken-words").string(); }

}  // namespace pretext
