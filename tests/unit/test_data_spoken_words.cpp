// The spoken-words corpus on a tiny scale (3 words, 4 speakers): reproducible bytes, parts that
// share no voice, labels from the folders, and the guards around an existing or missing corpus.
// Tests that run espeak-ng are skipped when it is not on the PATH.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/data/audio.h"
#include "pretext/data/spoken_words.h"
#include "test_files.h"

namespace pretext {
namespace {
namespace fs = std::filesystem;

fs::path spoken_dir(const std::string& name) { return testing_files::fresh_dir("spoken_" + name); }

bool espeak_available() {
  void* library = ::dlopen("libespeak-ng.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (library == nullptr) return false;
  ::dlclose(library);
  return true;
}

#define SKIP_WITHOUT_ESPEAK() \
  if (!espeak_available()) GTEST_SKIP() << "espeak-ng's library is not installed (Debian package libespeak-ng1)"

SpokenWordsOptions tiny_options() {
  SpokenWordsOptions options;
  options.seed = 11;
  options.vocabulary_limit = 3;  // zero, one, two
  options.speaker_limit = 4;     // 1 for digits/train, 1 for digits/test, 2 for pretraining
  options.labelled_clips_per_digit_voice = 1;
  options.clip_seconds = 1.0;
  options.jobs = 2;
  return options;
}

std::map<std::string, std::string> files_under(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) files[fs::relative(entry.path(), root).string()] = read_file(entry.path());
  }
  return files;
}

std::vector<int64_t> as_ints(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.to(torch::kInt64).contiguous();
  return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

TEST(SpokenWords, VocabularyStartsWithTheTenDigits) {
  std::vector<std::string> words = spoken_words_vocabulary();
  const std::vector<std::string> digits = {"zero", "one", "two", "three", "four",
                                           "five", "six", "seven", "eight", "nine"};
  ASSERT_GE(words.size(), 30u);
  EXPECT_EQ(std::vector<std::string>(words.begin(), words.begin() + 10), digits);
  EXPECT_EQ(std::set<std::string>(words.begin(), words.end()).size(), words.size());
  for (const auto& word : words) EXPECT_EQ(word.find('_'), std::string::npos) << word;
}

TEST(SpokenWords, OptionsAreValidated) {
  auto refuses = [](auto change, const char* field) {
    SpokenWordsOptions options;
    change(options);
    try {
      options.validate();
    } catch (const ConfigError& error) {
      EXPECT_CONTAINS(error.what(), field);
      return;
    }
    ADD_FAILURE() << "no ConfigError for " << field;
  };
  SpokenWordsOptions{}.validate();
  refuses([](SpokenWordsOptions& o) { o.held_out_voice_fraction = 1; }, "held_out_voice_fraction");
  refuses([](SpokenWordsOptions& o) { o.speed_min = 300; }, "speed_min");
  refuses([](SpokenWordsOptions& o) { o.pitch_max = 120; }, "pitch_max");
  refuses([](SpokenWordsOptions& o) { o.snr_min_db = 40; }, "snr_min_db");
  refuses([](SpokenWordsOptions& o) { o.clip_seconds = 0; }, "clip_seconds");
  refuses([](SpokenWordsOptions& o) { o.speaker_limit = 2; }, "speaker_limit");
  refuses([](SpokenWordsOptions& o) { o.sample_rate = 100; }, "sample_rate");
  refuses([](SpokenWordsOptions& o) { o.jobs = -1; }, "jobs");
  EXPECT_FALSE(SpokenWordsOptions{}.to_json().contains("jobs"));  // it changes no file
}

TEST(SpokenWords, MissingHelperIsAnIoErrorNamingIt) {
  fs::path dir = spoken_dir("no_espeak");
  setenv("PRETEXT_ESPEAK_HELPER", (dir / "pretext-espeak-missing").c_str(), 1);
  std::string message;
  try {
    make_spoken_words((dir / "corpus").string(), tiny_options());
  } catch (const IoError& error) {
    message = error.what();
  }
  unsetenv("PRETEXT_ESPEAK_HELPER");
  EXPECT_CONTAINS(message, "pretext-espeak-missing");
  EXPECT_CONTAINS(message, "helper");
  EXPECT_FALSE(fs::exists(dir / "corpus"));
}

TEST(SpokenWords, FolderIsInTheDataCache) {
  const char* old = std::getenv("PRETEXT_DATA");
  const std::string saved = old != nullptr ? old : "";
  setenv("PRETEXT_DATA", "/somewhere/cache", 1);
  EXPECT_EQ(spoken_words_folder(), "/somewhere/cache/spoken-words");
  if (old != nullptr) {
    setenv("PRETEXT_DATA", saved.c_str(), 1);
  } else {
    unsetenv("PRETEXT_DATA");
  }
}

TEST(SpokenWords, TinyCorpusIsReproducibleWithDisjointVoicesAndRightLabels) {
  SKIP_WITHOUT_ESPEAK();
  fs::path dir = spoken_dir("tiny");
  const SpokenWordsOptions options = tiny_options();
  int64_t last_done = 0, last_total = 0, calls = 0;
  make_spoken_words((dir / "a").string(), options, [&](int64_t done, int64_t total) {
    EXPECT_EQ(done, last_done + 1);
    last_done = done;
    last_total = total;
    ++calls;
  });
  SpokenWordsOptions one_job = options;
  one_job.jobs = 1;  // the number of processes changes nothing
  make_spoken_words((dir / "b").string(), one_job);

  const auto a = files_under(dir / "a");
  const auto b = files_under(dir / "b");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(b.at(name) == bytes) << name << " differs between two runs with the same seed";
  }
  // Nothing else next to the corpora (the partial folders were renamed away).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);

  const nlohmann::json manifest = nlohmann::json::parse(a.at("manifest.json"));
  EXPECT_EQ(manifest["options"], options.to_json());
  std::map<std::string, std::set<std::string>> voices;
  for (const char* part : {"pretrain", "digits/train", "digits/test"}) {
    for (const auto& voice : manifest["voices"][part]) voices[part].insert(voice.get<std::string>());
    EXPECT_FALSE(voices[part].empty()) << part;
  }
  for (const auto& voice : voices["pretrain"]) {
    EXPECT_EQ(voices["digits/train"].count(voice) + voices["digits/test"].count(voice), 0u) << voice;
  }
  for (const auto& voice : voices["digits/train"]) EXPECT_EQ(voices["digits/test"].count(voice), 0u) << voice;

  const int64_t pretrain = manifest["clips"]["pretrain"], train = manifest["clips"]["digits/train"],
                test = manifest["clips"]["digits/test"];
  EXPECT_EQ(pretrain, static_cast<int64_t>(voices["pretrain"].size()) * 3);
  EXPECT_EQ(train, static_cast<int64_t>(voices["digits/train"].size()) * 3);
  EXPECT_EQ(test, static_cast<int64_t>(voices["digits/test"].size()) * 3);
  EXPECT_EQ(last_total, pretrain + train + test);
  EXPECT_EQ(calls, last_total);
  EXPECT_EQ(static_cast<int64_t>(a.size()), last_total + 1);  // + manifest.json

  // The folders read back as the demo reads them: labels from digits/<split>/<digit>/, speakers
  // from the voice prefix, every clip clip_seconds long and peak-normalised.
  AudioReadOptions read;
  read.sample_rate = options.sample_rate;
  read.normalize = "none";
  auto labelled = load_audio_folder((dir / "a" / "digits").string(), "train", read);
  EXPECT_EQ(labelled->class_names(), (std::vector<std::string>{"one", "two", "zero"}));  // sorted folder names
  EXPECT_EQ(labelled->size(), train);
  EXPECT_EQ(as_ints(labelled->lengths()), std::vector<int64_t>(static_cast<size_t>(train), options.sample_rate));
  EXPECT_NEAR(labelled->waveforms().abs().max().item<double>(), 0.9, 1e-3);
  std::set<int64_t> groups;
  for (int64_t group : as_ints(labelled->groups())) groups.insert(group);
  EXPECT_EQ(groups.size(), voices["digits/train"].size());
  for (const auto& [name, bytes] : a) {
    if (name.rfind("digits/", 0) != 0) continue;
    const std::string voice = fs::path(name).filename().string().substr(0, fs::path(name).filename().string().find('_'));
    const std::string part = name.rfind("digits/train/", 0) == 0 ? "digits/train" : "digits/test";
    EXPECT_EQ(voices[part].count(voice), 1u) << name;
  }
  auto test_set = load_audio_folder((dir / "a" / "digits").string(), "test", read);
  EXPECT_EQ(test_set->class_names(), labelled->class_names());
  EXPECT_EQ(test_set->size(), test);
  auto unlabeled = load_audio_folder((dir / "a" / "pretrain").string(), "train", read);
  EXPECT_EQ(unlabeled->num_classes(), 0);
  EXPECT_EQ(unlabeled->size(), pretrain);

  // The same options again: done at once. Other options, or a folder that is not a corpus: refused.
  const auto start = std::chrono::steady_clock::now();
  make_spoken_words((dir / "a").string(), options);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0.5);
  SpokenWordsOptions other = options;
  other.seed = 12;
  try {
    make_spoken_words((dir / "a").string(), other);
    ADD_FAILURE() << "a corpus with other options was accepted";
  } catch (const InputError& error) {
    EXPECT_CONTAINS(error.what(), (dir / "a").string());
    EXPECT_CONTAINS(error.what(), "seed");
  }
  fs::create_directories(dir / "partial" / "pretrain");
  try {
    make_spoken_words((dir / "partial").string(), options);
    ADD_FAILURE() << "a folder without a manifest was accepted";
  } catch (const InputError& error) {
    EXPECT_CONTAINS(error.what(), (dir / "partial").string());
  }
}

TEST(SpokenWords, SeedChangesTheCorpus) {
  SKIP_WITHOUT_ESPEAK();
  fs::path dir = spoken_dir("seeds");
  SpokenWordsOptions options = tiny_options();
  options.vocabulary_limit = 1;
  make_spoken_words((dir / "a").string(), options);
  options.seed += 1;
  make_spoken_words((dir / "b").string(), options);
  EXPECT_NE(files_under(dir / "a"), files_under(dir / "b"));
}

}  // namespace
}  // namespace pretext
