// Audio files and datasets on tiny files written here: WAV round trips, stereo mix-down, the
// resampler, corrupt and truncated files, normalisation, AudioDataset and audio folders.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/data/audio.h"
#include "test_files.h"

namespace pretext {
namespace {
namespace fs = std::filesystem;

fs::path audio_dir(const std::string& name) { return testing_files::fresh_dir("audio_" + name); }
using testing_files::write_bytes;

using testing_files::kPi;

torch::Tensor tone(double hertz, int64_t sample_rate, int64_t count, double amplitude = 0.5) {
  return (torch::arange(count, torch::kFloat64) * (2 * kPi * hertz / static_cast<double>(sample_rate))).sin().mul(amplitude).to(torch::kFloat32);
}

using testing_files::error_message;

// A file written with libsndfile directly: `interleaved` holds frames × channels samples.
void write_with_sndfile(const fs::path& path, const std::vector<float>& interleaved, int channels, int sample_rate,
                        int format) {
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  const auto frames = static_cast<sf_count_t>(interleaved.size() / static_cast<size_t>(channels));
  EXPECT_EQ(sf_writef_float(file, interleaved.data(), frames), frames);
  sf_close(file);
}

std::vector<float> as_floats(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.to(torch::kFloat32).contiguous();
  return {flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel()};
}

std::vector<int64_t> as_ints(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.to(torch::kInt64).contiguous();
  return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

TEST(AudioFiles, WriteThenReadRoundTripsAt16Bits) {
  fs::path path = audio_dir("round_trip") / "tone.wav";
  torch::Tensor samples = tone(440, 16000, 1600);
  write_audio(path.string(), samples, 16000);
  AudioClip clip = read_audio(path.string());
  EXPECT_EQ(clip.sample_rate, 16000);
  ASSERT_EQ(clip.samples.sizes(), samples.sizes());
  EXPECT_EQ(clip.samples.scalar_type(), torch::kFloat32);
  // 16 bits: libsndfile writes x·32767 rounded and reads n/32768, so one step and a little more.
  constexpr double kStep = 2.0 / 32768;
  EXPECT_LE((clip.samples - samples).abs().max().item<double>(), kStep);
  // Out-of-range values are clipped, not wrapped; nothing is left beside the file.
  write_audio(path.string(), torch::tensor({2.0f, -3.0f, 0.25f}), 8000);
  std::vector<float> clipped = as_floats(read_audio(path.string()).samples);
  EXPECT_NEAR(clipped[0], 1.0, kStep);
  EXPECT_NEAR(clipped[1], -1.0, kStep);
  EXPECT_NEAR(clipped[2], 0.25, kStep);
  EXPECT_EQ(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator()), 1);
}

TEST(AudioFiles, WriteRefusesBadInputAndUnwritablePaths) {
  fs::path dir = audio_dir("write_errors");
  EXPECT_THROW(write_audio((dir / "a.wav").string(), torch::zeros({2, 10}), 16000), InputError);
  EXPECT_THROW(write_audio((dir / "a.wav").string(), torch::zeros({10}), 0), InputError);
  write_bytes(dir / "file", "x");
  EXPECT_CONTAINS(error_message<IoError>([&] { write_audio((dir / "file" / "a.wav").string(), torch::zeros({10}), 16000); }),
                  "file");
}

TEST(AudioFiles, StereoMixesDownToTheMeanOfItsChannels) {
  fs::path path = audio_dir("stereo") / "stereo.wav";
  std::vector<float> interleaved;
  for (int i = 0; i < 800; ++i) {
    interleaved.push_back(static_cast<float>(0.5 * std::sin(i * 0.05)));
    interleaved.push_back(0.25f);
  }
  write_with_sndfile(path, interleaved, 2, 22050, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  AudioClip clip = read_audio(path.string());
  EXPECT_EQ(clip.sample_rate, 22050);
  ASSERT_EQ(clip.samples.size(0), 800);
  std::vector<float> mono = as_floats(clip.samples);
  for (int i = 0; i < 800; i += 37) EXPECT_NEAR(mono[i], (0.5 * std::sin(i * 0.05) + 0.25) / 2, 1e-4) << i;
}

TEST(AudioFiles, ReadsFlacAndAiff) {
  fs::path dir = audio_dir("formats");
  std::vector<float> samples = as_floats(tone(300, 8000, 4000));
  write_with_sndfile(dir / "a.flac", samples, 1, 8000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  write_with_sndfile(dir / "a.aiff", samples, 1, 8000, SF_FORMAT_AIFF | SF_FORMAT_PCM_16);
  for (const char* name : {"a.flac", "a.aiff"}) {
    AudioClip clip = read_audio((dir / name).string());
    EXPECT_EQ(clip.sample_rate, 8000) << name;
    EXPECT_EQ(clip.samples.size(0), 4000) << name;
  }
}

TEST(AudioFiles, ResampleKeepsAToneItsFrequencyAndTheLengthItsRatio) {
  const int64_t from = 22050, to = 16000;
  torch::Tensor input = tone(1000, from, from);  // one second
  torch::Tensor output = resample(input, from, to);
  EXPECT_NEAR(output.size(0), to, 2);
  // The spectrum's peak, away from the edges, is at 1 kHz: bins are 1 Hz apart over one second.
  torch::Tensor middle = output.slice(0, 1000, 1000 + 8000);
  torch::Tensor spectrum = torch::fft::rfft(middle * torch::hann_window(8000)).abs();
  const double peak_hz = spectrum.argmax().item<int64_t>() * static_cast<double>(to) / 8000.0;
  EXPECT_NEAR(peak_hz, 1000, 2.0);
  // A sinc converter, not sample dropping: the amplitude survives and little else is added.
  EXPECT_NEAR(middle.abs().max().item<double>(), 0.5, 0.01);
  // Upsampling too, and the same rate is the identity.
  EXPECT_NEAR(resample(input, from, 44100).size(0), 44100, 2);
  EXPECT_TRUE(resample(input, from, from).equal(input));
  EXPECT_THROW(resample(input, 1, 16000), InputError);  // beyond libsamplerate's 1:256
  EXPECT_THROW(resample(input, 0, 16000), InputError);
}

TEST(AudioFiles, MissingCorruptAndEmptyFilesAreInputErrorsNamingThem) {
  fs::path dir = audio_dir("corrupt");
  EXPECT_CONTAINS(error_message<InputError>([&] { read_audio((dir / "missing.wav").string()); }), "missing.wav");
  std::mt19937 random(7);
  std::string noise(3000, '\0');
  for (char& c : noise) c = static_cast<char>(random() & 0xFF);
  write_bytes(dir / "noise.wav", noise);
  std::string message = error_message<InputError>([&] { read_audio((dir / "noise.wav").string()); });
  EXPECT_CONTAINS(message, "noise.wav");
  EXPECT_CONTAINS(message, "not a sound file");
  // A header with no samples.
  write_with_sndfile(dir / "empty.wav", {}, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  message = error_message<InputError>([&] { read_audio((dir / "empty.wav").string()); });
  EXPECT_CONTAINS(message, "empty.wav");
  EXPECT_CONTAINS(message, "no samples");
}

TEST(AudioFiles, TruncatedFilesAreInputErrorsNamingThem) {
  fs::path dir = audio_dir("truncated");
  std::vector<float> samples = as_floats(tone(440, 16000, 16000));
  // libsndfile itself reads a WAV cut in half as a shorter file (it only logs the mismatch):
  // the check against the header is ours.
  write_with_sndfile(dir / "whole.wav", samples, 1, 16000, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  std::string bytes = read_file(dir / "whole.wav");
  write_bytes(dir / "half.wav", bytes.substr(0, bytes.size() / 2));
  std::string message = error_message<InputError>([&] { read_audio((dir / "half.wav").string()); });
  EXPECT_CONTAINS(message, "half.wav");
  EXPECT_CONTAINS(message, "truncated");
  // FLAC declares its frame count; decoding falls short of it.
  write_with_sndfile(dir / "whole.flac", samples, 1, 16000, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  bytes = read_file(dir / "whole.flac");
  write_bytes(dir / "half.flac", bytes.substr(0, bytes.size() / 2));
  message = error_message<InputError>([&] { read_audio((dir / "half.flac").string()); });
  EXPECT_CONTAINS(message, "half.flac");
  EXPECT_CONTAINS(message, "truncated");
  // AIFF and AU keep the data length in their headers too.
  for (auto [name, format] : {std::pair{"whole.aiff", SF_FORMAT_AIFF}, std::pair{"whole.au", SF_FORMAT_AU}}) {
    write_with_sndfile(dir / name, samples, 1, 16000, format | SF_FORMAT_PCM_16);
    bytes = read_file(dir / name);
    const std::string cut = std::string("half") + fs::path(name).extension().string();
    write_bytes(dir / cut, bytes.substr(0, bytes.size() / 2));
    message = error_message<InputError>([&] { read_audio((dir / cut).string()); });
    EXPECT_CONTAINS(message, cut);
    EXPECT_CONTAINS(message, "truncated");
  }
  // A WAV streamed to a pipe (espeak-ng --stdout) carries a placeholder length: not truncated.
  bytes = read_file(dir / "whole.wav");
  for (size_t at : {size_t{4}, size_t{40}}) {
    bytes[at] = '\x00';
    bytes[at + 1] = '\xf0';
    bytes[at + 2] = '\xff';
    bytes[at + 3] = '\x7f';
  }
  write_bytes(dir / "streamed.wav", bytes);
  EXPECT_EQ(read_audio((dir / "streamed.wav").string()).samples.size(0), 16000);
}

TEST(AudioFiles, NormalizeModes) {
  torch::Tensor samples = tone(100, 8000, 800, 0.2);
  EXPECT_NEAR(normalize_audio(samples, "peak", 0.9).abs().max().item<double>(), 0.9, 1e-5);
  EXPECT_NEAR(normalize_audio(samples, "peak", 0).abs().max().item<double>(), 0.9, 1e-5);  // 0: the default
  EXPECT_NEAR(normalize_audio(samples, "peak", 0.5).abs().max().item<double>(), 0.5, 1e-5);
  EXPECT_NEAR(normalize_audio(samples, "rms", 0.1).square().mean().sqrt().item<double>(), 0.1, 1e-4);
  EXPECT_NEAR(normalize_audio(samples, "rms", 0).square().mean().sqrt().item<double>(), 0.1, 1e-4);
  EXPECT_TRUE(normalize_audio(samples, "none", 0).equal(samples));
  // rms clips what it pushes past full scale.
  torch::Tensor spiky = torch::zeros({1000});
  spiky[0] = 0.01f;
  EXPECT_LE(normalize_audio(spiky, "rms", 0.5).abs().max().item<double>(), 1.0);
  torch::Tensor silence = torch::zeros({100});
  EXPECT_TRUE(normalize_audio(silence, "peak", 0.9).equal(silence));
  EXPECT_TRUE(normalize_audio(silence, "rms", 0.1).equal(silence));
  EXPECT_CONTAINS(error_message<ConfigError>([&] { normalize_audio(samples, "loud", 1); }), "loud");
}

TEST(AudioFiles, ReadOptionsRoundTripAndRefuseUnknownKeys) {
  AudioReadOptions options;
  options.sample_rate = 8000;
  options.normalize = "rms";
  options.normalize_target = 0.05;
  options.max_seconds = 2.5;
  options.limit = 7;
  AudioReadOptions back = AudioReadOptions::from_json(options.to_json());
  EXPECT_EQ(back.to_json(), options.to_json());
  EXPECT_EQ(AudioReadOptions::from_json(nlohmann::json::object()).to_json(), AudioReadOptions{}.to_json());
  EXPECT_CONTAINS(error_message<ConfigError>([&] { AudioReadOptions::from_json({{"sample_rat", 8000}}); }),
                  "sample_rat");
  EXPECT_CONTAINS(error_message<ConfigError>([&] { AudioReadOptions::from_json({{"normalize", "loud"}}); }), "normalize");
  EXPECT_CONTAINS(error_message<ConfigError>([&] { AudioReadOptions::from_json({{"max_seconds", 0}}); }), "max_seconds");
  EXPECT_CONTAINS(error_message<ConfigError>([&] { AudioReadOptions::from_json({{"sample_rate", "fast"}}); }),
                  "sample_rate");
  AudioReadOptions bad;
  bad.limit = -1;
  EXPECT_THROW(bad.validate(), ConfigError);
}

TEST(AudioDatasets, GetCutsBatchesToTheirLongestClip) {
  torch::Tensor waveforms = torch::rand({4, 10}) + 0.5;  // padding not zero yet: the dataset zeroes it
  torch::Tensor lengths = torch::tensor({10, 3, 6, 1}, torch::kInt64);
  AudioDataset dataset(waveforms, lengths, torch::tensor({0, 1, -1, 1}, torch::kInt64),
                       torch::tensor({5, 5, 2, -1}, torch::kInt64), {"a", "b"}, 16000, "memory");
  EXPECT_EQ(dataset.size(), 4);
  EXPECT_EQ(dataset.num_classes(), 2);
  EXPECT_EQ(dataset.sample_shape(), std::vector<int64_t>{10});
  EXPECT_EQ(dataset.sample_rate(), 16000);
  EXPECT_FALSE((waveforms == 0).any().item<bool>());  // the caller's tensor is left alone
  Batch batch = dataset.get(torch::tensor({1, 2}, torch::kInt64));
  EXPECT_EQ(batch.input.sizes(), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(as_ints(batch.extra), (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(as_ints(batch.label), (std::vector<int64_t>{1, -1}));
  EXPECT_EQ(as_ints(batch.group), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(as_ints(batch.index), (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(batch.input[0].slice(0, 3).eq(0).all().item<bool>());
  EXPECT_TRUE(batch.input[0].slice(0, 0, 3).equal(waveforms[1].slice(0, 0, 3)));
  EXPECT_TRUE(batch.input[1].equal(waveforms[2].slice(0, 0, 6)));
  batch = dataset.get(torch::tensor({3}, torch::kInt64));
  EXPECT_EQ(batch.input.sizes(), (std::vector<int64_t>{1, 1}));
}

TEST(AudioDatasets, RefusesInconsistentTensors) {
  auto make = [](torch::Tensor waveforms, torch::Tensor lengths, torch::Tensor labels) {
    AudioDataset(waveforms, lengths, labels, torch::Tensor(), {"a"}, 16000, "bad-source");
  };
  torch::Tensor ok_lengths = torch::tensor({4, 4}, torch::kInt64);
  torch::Tensor ok_labels = torch::tensor({0, 0}, torch::kInt64);
  EXPECT_CONTAINS(error_message<InputError>([&] { make(torch::zeros({2, 4}, torch::kFloat64), ok_lengths, ok_labels); }),
                  "bad-source");
  EXPECT_THROW(make(torch::zeros({2, 4, 1}), ok_lengths, ok_labels), InputError);
  EXPECT_THROW(make(torch::zeros({0, 4}), torch::zeros({0}, torch::kInt64), torch::zeros({0}, torch::kInt64)), InputError);
  EXPECT_THROW(make(torch::zeros({2, 4}), torch::tensor({4, 5}, torch::kInt64), ok_labels), InputError);
  EXPECT_THROW(make(torch::zeros({2, 4}), torch::tensor({0, 4}, torch::kInt64), ok_labels), InputError);
  EXPECT_THROW(make(torch::zeros({2, 4}), ok_lengths, torch::tensor({0, 1}, torch::kInt64)), InputError);
  EXPECT_THROW(make(torch::zeros({2, 4}), ok_lengths, torch::tensor({0}, torch::kInt64)), InputError);
  // Without groups, every clip's group is unknown.
  AudioDataset dataset(torch::zeros({2, 4}), ok_lengths, ok_labels, torch::Tensor(), {"a"}, 8000, "x");
  EXPECT_EQ(as_ints(dataset.groups()), (std::vector<int64_t>{-1, -1}));
}

// <root>/<split>/<class>/<speaker>_<n>.wav: tones whose length and rate vary.
void write_labelled_folder(const fs::path& root) {
  int n = 0;
  for (const char* split : {"train", "test"}) {
    for (const char* label : {"low", "high"}) {
      for (const char* speaker : {"anna", "bo"}) {
        const int64_t rate = n % 2 == 0 ? 16000 : 8000;
        write_audio((root / split / label / (std::string(speaker) + "_" + std::to_string(n) + ".wav")).string(),
                    tone(label[0] == 'l' ? 200 : 900, rate, rate / 4 + n * 100), rate);
        ++n;
      }
    }
  }
}

TEST(AudioFolders, ClassSubFoldersSplitsAndSpeakers) {
  fs::path root = audio_dir("labelled");
  write_labelled_folder(root);
  AudioReadOptions options;
  options.sample_rate = 16000;
  auto train = load_audio_folder(root.string(), "train", options);
  EXPECT_EQ(train->size(), 4);
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"high", "low"}));
  EXPECT_EQ(as_ints(train->labels()), (std::vector<int64_t>{0, 0, 1, 1}));  // sorted paths: high/ first
  EXPECT_EQ(as_ints(train->groups()), (std::vector<int64_t>{0, 1, 0, 1}));  // anna, bo
  EXPECT_EQ(train->sample_rate(), 16000);
  // Files 2, 3 (high) then 0, 1 (low); odd ones were written at 8 kHz and come back at 16 kHz.
  std::vector<int64_t> lengths = as_ints(train->lengths());
  EXPECT_EQ(lengths[0], 4000 + 200);
  EXPECT_NEAR(lengths[1], 2 * (2000 + 300), 2);
  EXPECT_EQ(lengths[2], 4000);
  EXPECT_NEAR(lengths[3], 2 * (2000 + 100), 2);
  EXPECT_EQ(train->waveforms().size(1), *std::max_element(lengths.begin(), lengths.end()));
  EXPECT_NEAR(train->waveforms().abs().max().item<double>(), 0.9, 1e-4);  // peak-normalised
  auto test = load_audio_folder(root.string(), "test", options);
  EXPECT_EQ(test->size(), 4);
  EXPECT_EQ(test->class_names(), train->class_names());
  EXPECT_CONTAINS(test->source(), "test");
  // limit and max_seconds.
  options.limit = 3;
  options.max_seconds = 0.1;
  auto limited = load_audio_folder(root.string(), "train", options);
  EXPECT_EQ(limited->size(), 3);
  EXPECT_EQ(limited->waveforms().size(1), 1600);
}

TEST(AudioFolders, ClassesAreTheUnionOfBothSplits) {
  fs::path root = audio_dir("union");
  write_audio((root / "train" / "yes" / "a_0.wav").string(), tone(300, 8000, 800), 8000);
  write_audio((root / "test" / "no" / "a_0.wav").string(), tone(300, 8000, 800), 8000);
  auto train = load_audio_folder(root.string(), "train");
  auto test = load_audio_folder(root.string(), "test");
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"no", "yes"}));
  EXPECT_EQ(as_ints(train->labels()), std::vector<int64_t>{1});
  EXPECT_EQ(as_ints(test->labels()), std::vector<int64_t>{0});
}

TEST(AudioFolders, FlatFolderIsUnlabeledWithoutATestSplit) {
  fs::path root = audio_dir("flat");
  write_audio((root / "en-us-f3_yes_0.wav").string(), tone(300, 16000, 1000), 16000);
  write_audio((root / "en-gb-m1_no_0.wav").string(), tone(300, 16000, 2000), 16000);
  write_audio((root / "nospeaker.wav").string(), tone(300, 16000, 500), 16000);
  write_bytes(root / "notes.txt", "not sound");
  auto dataset = load_audio_folder(root.string(), "train");
  EXPECT_EQ(dataset->size(), 3);
  EXPECT_EQ(dataset->num_classes(), 0);
  EXPECT_EQ(as_ints(dataset->labels()), (std::vector<int64_t>{-1, -1, -1}));
  EXPECT_EQ(as_ints(dataset->groups()), (std::vector<int64_t>{0, 1, -1}));  // en-gb-m1, en-us-f3, none
  EXPECT_EQ(as_ints(dataset->lengths()), (std::vector<int64_t>{2000, 1000, 500}));
  std::string message = error_message<InputError>([&] { load_audio_folder(root.string(), "test"); });
  EXPECT_CONTAINS(message, root.string());
  EXPECT_CONTAINS(message, "test");
  EXPECT_THROW(load_audio_folder(root.string(), "valid"), ConfigError);
}

TEST(AudioFolders, EmptyMissingAndBadFoldersAreInputErrors) {
  fs::path root = audio_dir("bad_folders");
  write_bytes(root / "empty" / "readme.txt", "nothing to hear");
  EXPECT_CONTAINS(error_message<InputError>([&] { load_audio_folder((root / "empty").string(), "train"); }), "empty");
  EXPECT_CONTAINS(error_message<InputError>([&] { load_audio_folder((root / "nowhere").string(), "train"); }),
                  "nowhere");
  fs::path only_train = root / "only_train";
  write_audio((only_train / "train" / "a" / "x_0.wav").string(), tone(300, 8000, 800), 8000);
  EXPECT_CONTAINS(error_message<InputError>([&] { load_audio_folder(only_train.string(), "test"); }), "no test split");
  // Bad files among good ones are left out with one warning (on_bad_file "skip", the default);
  // with "fail" the first bad file in path order stops the read, named.
  fs::path mixed = root / "mixed";
  for (int i = 0; i < 6; ++i) {
    write_audio((mixed / ("s_" + std::to_string(i) + ".wav")).string(), tone(300, 8000, 800), 8000);
  }
  write_bytes(mixed / "s_3b.wav", "RIFF....WAVEjunk");
  write_bytes(mixed / "s_5b.wav", "RIFF....WAVEjunk");
  ::testing::internal::CaptureStderr();
  auto kept = load_audio_folder(mixed.string(), "train");
  const std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(kept->size(), 6);
  EXPECT_CONTAINS(warning, "skipped 2 of 8 files");
  EXPECT_CONTAINS(warning, "s_3b.wav");
  AudioReadOptions strict;
  strict.on_bad_file = "fail";
  EXPECT_CONTAINS(error_message<InputError>([&] { load_audio_folder(mixed.string(), "train", strict); }), "s_3b.wav");
  strict.on_bad_file = "maybe";
  EXPECT_THROW(strict.validate(), ConfigError);
  // Nothing that decodes at all is an error whatever the policy.
  fs::path broken = root / "broken";
  write_bytes(broken / "x_0.wav", "RIFF....WAVEjunk");
  EXPECT_CONTAINS(error_message<InputError>([&] { load_audio_folder(broken.string(), "train"); }), "x_0.wav");
}

TEST(AudioFolders, IsAudioPath) {
  fs::path root = audio_dir("is_audio");
  write_audio((root / "sounds" / "deep" / "a.wav").string(), tone(300, 8000, 80), 8000);
  write_bytes(root / "texts" / "a.txt", "hello");
  write_bytes(root / "b.FLAC", "x");
  EXPECT_TRUE(is_audio_path((root / "sounds").string()));
  EXPECT_TRUE(is_audio_path((root / "sounds" / "deep" / "a.wav").string()));
  EXPECT_TRUE(is_audio_path((root / "b.FLAC").string()));
  EXPECT_FALSE(is_audio_path((root / "texts").string()));
  EXPECT_FALSE(is_audio_path((root / "texts" / "a.txt").string()));
  EXPECT_FALSE(is_audio_path((root / "nowhere").string()));
}

}  // namespace
}  // namespace pretext
