// Tokenizer: special ids, round trips (text, bytes, files), literal special-token text, errors
// (corrupt or foreign models, bad options, corpora too small), determinism, quiet training.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/data/text_batch.h"
#include "pretext/text/tokenizer.h"
#include "test_files.h"
#include "text_fixture.h"

namespace pretext {
namespace {
namespace fs = std::filesystem;
using testing_text::sentences;
using testing_text::small_options;
using testing_text::small_tokenizer;

fs::path tokenizer_dir(const std::string& name) { return testing_files::fresh_dir("tokenizer_" + name); }
using testing_files::write_bytes;

// Runs `body`, expecting an exception of type E whose message contains every one of `parts`.
template <class E, class F>
void expect_error(F body, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "no exception; expected one mentioning " << parts.front();
  } catch (const E& error) {
    std::string message = error.what();
    for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message << "\n  lacks: " << part;
  }
}

bool has_special(const std::vector<int64_t>& ids) {
  return std::any_of(ids.begin(), ids.end(), [](int64_t id) { return id < text::kSpecialTokens; });
}

void expect_pretext_specials(const Tokenizer& tokenizer) {
  EXPECT_EQ(tokenizer.piece(text::kPad), "[PAD]");
  EXPECT_EQ(tokenizer.piece(text::kUnk), "[UNK]");
  EXPECT_EQ(tokenizer.piece(text::kCls), "[CLS]");
  EXPECT_EQ(tokenizer.piece(text::kSep), "[SEP]");
  EXPECT_EQ(tokenizer.piece(text::kMask), "[MASK]");
}

TEST(TextTokenizer, SpecialIdsAreTextBatchs) {
  const Tokenizer& tokenizer = small_tokenizer();
  expect_pretext_specials(tokenizer);
  EXPECT_EQ(tokenizer.vocab_size(), 200);
  EXPECT_EQ(tokenizer.model_type(), "unigram");
  nlohmann::json summary = tokenizer.summary();
  EXPECT_EQ(summary.at("type"), "unigram");
  EXPECT_EQ(summary.at("vocab_size"), 200);
  EXPECT_EQ(summary.at("fingerprint").get<std::string>().size(), 16u);
  // No piece after the specials is one of them (BOS/EOS are off; nothing else is reserved).
  for (int64_t id = text::kSpecialTokens; id < tokenizer.vocab_size(); ++id) {
    EXPECT_EQ(tokenizer.piece(id).find("[PAD]"), std::string::npos) << id;
    EXPECT_NE(tokenizer.piece(id), "<s>");
    EXPECT_NE(tokenizer.piece(id), "</s>");
  }
}

TEST(TextTokenizer, RoundTripGivesTheNormalisedText) {
  const Tokenizer& tokenizer = small_tokenizer();
  // Generated sentences are already normalised (ASCII, single spaces).
  for (const auto& sentence : sentences(60, /*seed=*/99)) {
    std::vector<int64_t> ids = tokenizer.encode(sentence);
    EXPECT_FALSE(has_special(ids)) << sentence;
    EXPECT_EQ(tokenizer.decode(ids), sentence);
  }
  // Normalisation collapses runs of whitespace and trims the ends.
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("  The   cat\tsat  on the mat. ")), "The cat sat on the mat.");
  EXPECT_TRUE(tokenizer.encode("").empty());
  EXPECT_EQ(tokenizer.decode({}), "");
}

TEST(TextTokenizer, LiteralSpecialTokenTextIsOrdinaryText) {
  const Tokenizer& tokenizer = small_tokenizer();
  const std::string text = "[MASK] the [CLS] cat [SEP] sat [PAD] [UNK]";
  std::vector<int64_t> ids = tokenizer.encode(text);
  EXPECT_FALSE(has_special(ids));  // not even [UNK]: brackets and letters were in the corpus
  EXPECT_EQ(std::count(ids.begin(), ids.end(), text::kMask), 0);
  EXPECT_EQ(tokenizer.decode(ids), text);
  EXPECT_GT(tokenizer.encode("[MASK]").size(), 1u);
}

TEST(TextTokenizer, DecodeSkipsSpecialsAndShowsUnknowns) {
  const Tokenizer& tokenizer = small_tokenizer();
  std::vector<int64_t> first = tokenizer.encode("the cat sat");
  std::vector<int64_t> second = tokenizer.encode("on the mat");
  std::vector<int64_t> formatted = {text::kCls};
  formatted.insert(formatted.end(), first.begin(), first.end());
  formatted.push_back(text::kSep);
  formatted.insert(formatted.end(), second.begin(), second.end());
  formatted.insert(formatted.end(), {text::kSep, text::kPad, text::kPad});
  EXPECT_EQ(tokenizer.decode(formatted), "the cat sat on the mat");
  std::vector<int64_t> masked = first;
  masked[1] = text::kMask;
  std::vector<int64_t> unmasked = first;
  unmasked.erase(unmasked.begin() + 1);
  EXPECT_EQ(tokenizer.decode(masked), tokenizer.decode(unmasked));

  // A character never seen in training ("☃", "ß") is [UNK], shown as SentencePiece's ⁇.
  std::vector<int64_t> unknown = tokenizer.encode("the \xE2\x98\x83 cat");
  EXPECT_EQ(std::count(unknown.begin(), unknown.end(), text::kUnk), 1);
  EXPECT_NE(tokenizer.decode(unknown).find("\xE2\x81\x87"), std::string::npos) << tokenizer.decode(unknown);
  // Invalid UTF-8 is [UNK] too, never an exception.
  std::vector<int64_t> invalid = tokenizer.encode("cat \xFF\xFE\xC3 dog");
  EXPECT_GE(std::count(invalid.begin(), invalid.end(), text::kUnk), 1);

  expect_error<InputError>([&] { tokenizer.decode({5, 200}); }, {"200", "[0, 200)"});
  expect_error<InputError>([&] { tokenizer.decode({-1}); }, {"-1"});
  expect_error<InputError>([&] { tokenizer.piece(200); }, {"200"});
}

TEST(TextTokenizer, BytesRoundTrip) {
  const Tokenizer& tokenizer = small_tokenizer();
  Tokenizer copy = Tokenizer::from_bytes(tokenizer.bytes());
  EXPECT_EQ(copy.bytes(), tokenizer.bytes());
  EXPECT_EQ(copy.summary(), tokenizer.summary());
  EXPECT_EQ(copy.model_type(), "unigram");
  for (const auto& sentence : sentences(20, /*seed=*/5)) EXPECT_EQ(copy.encode(sentence), tokenizer.encode(sentence));
}

TEST(TextTokenizer, SaveAndLoadRoundTrip) {
  fs::path dir = tokenizer_dir("save");
  fs::path path = dir / "nested" / "tokenizer.model";
  const Tokenizer& tokenizer = small_tokenizer();
  tokenizer.save(path.string());
  Tokenizer loaded = Tokenizer::load(path.string());
  EXPECT_EQ(loaded.bytes(), tokenizer.bytes());
  EXPECT_EQ(loaded.encode("The dog ran to the garden."), tokenizer.encode("The dog ran to the garden."));
  // Saved again over the old file; no temporary is left behind.
  tokenizer.save(path.string());
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(path.parent_path())) names.push_back(entry.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"tokenizer.model"});
}

TEST(TextTokenizer, CorruptOrForeignModelsAreInputErrors) {
  fs::path dir = tokenizer_dir("corrupt");
  const std::string good = small_tokenizer().bytes();

  write_bytes(dir / "text.model", "this is not a sentencepiece model\n");
  expect_error<InputError>([&] { Tokenizer::load((dir / "text.model").string()); }, {"text.model"});
  write_bytes(dir / "empty.model", "");
  expect_error<InputError>([&] { Tokenizer::load((dir / "empty.model").string()); }, {"empty.model"});
  write_bytes(dir / "half.model", good.substr(0, good.size() / 2));
  expect_error<InputError>([&] { Tokenizer::load((dir / "half.model").string()); }, {"half.model"});
  expect_error<InputError>([&] { Tokenizer::load((dir / "missing.model").string()); }, {"missing.model"});

  // A valid SentencePiece model whose id 2 is not [CLS] (same length, so the proto stays valid).
  std::string foreign = good;
  for (size_t at = foreign.find("[CLS]"); at != std::string::npos; at = foreign.find("[CLS]", at)) {
    foreign.replace(at, 5, "[XYZ]");
  }
  ASSERT_NE(foreign, good);
  expect_error<InputError>([&] { Tokenizer::from_bytes(foreign, "checkpoint.pt"); },
                           {"checkpoint.pt", "not a pretext tokenizer", "[CLS]", "[XYZ]"});
}

TEST(TextTokenizer, OptionsAreValidatedByName) {
  auto with = [](auto change) {
    TokenizerOptions options;
    change(options);
    return options;
  };
  expect_error<ConfigError>([&] { with([](auto& o) { o.model_type = "wordpiece"; }).validate(); },
                            {"model_type", "wordpiece"});
  expect_error<ConfigError>([&] { with([](auto& o) { o.vocab_size = 5; }).validate(); }, {"vocab_size", "5"});
  expect_error<ConfigError>([&] { with([](auto& o) { o.character_coverage = 0; }).validate(); },
                            {"character_coverage"});
  expect_error<ConfigError>([&] { with([](auto& o) { o.character_coverage = 1.5; }).validate(); },
                            {"character_coverage", "1.5"});
  expect_error<ConfigError>([&] { with([](auto& o) { o.max_sentences = 0; }).validate(); }, {"max_sentences"});
  EXPECT_NO_THROW(TokenizerOptions{}.validate());
  // A bad option is caught before any training.
  expect_error<ConfigError>(
      [&] { Tokenizer::train(sentences(10), with([](auto& o) { o.model_type = "char"; })); }, {"model_type"});

  TokenizerOptions options = TokenizerOptions::from_json({{"model_type", "bpe"}, {"vocab_size", 300}, {"seed", 4}});
  EXPECT_EQ(options.model_type, "bpe");
  EXPECT_EQ(options.vocab_size, 300);
  EXPECT_EQ(options.seed, 4u);
  EXPECT_EQ(options.character_coverage, 0.9995);
  EXPECT_EQ(TokenizerOptions::from_json(options.to_json()).to_json(), options.to_json());
  expect_error<ConfigError>([&] { TokenizerOptions::from_json({{"vocab", 300}}); }, {"vocab"});
  expect_error<ConfigError>([&] { TokenizerOptions::from_json({{"vocab_size", "many"}}); }, {"vocab_size"});
  expect_error<ConfigError>([&] { TokenizerOptions::from_json({{"vocab_size", 2}}); }, {"vocab_size"});
}

TEST(TextTokenizer, CorporaThatCannotFillTheVocabularyAreClearErrors) {
  expect_error<InputError>([&] { Tokenizer::train(std::vector<std::string>{}, small_options()); }, {"no text"});
  expect_error<InputError>([&] { Tokenizer::train(std::vector<std::string>{"", ""}, small_options()); },
                           {"no text"});
  TextCorpus empty;
  empty.source = "mail/";
  empty.documents.resize(2);
  expect_error<InputError>([&] { Tokenizer::train(empty, small_options()); }, {"mail/", "no text"});

  TokenizerOptions large = small_options();
  large.vocab_size = 5000;
  // SentencePiece's own limit ("<= N") is passed on.
  expect_error<ConfigError>([&] { Tokenizer::train(sentences(100), large); }, {"vocab_size 5000", "<="});
  TokenizerOptions tiny = small_options();
  tiny.vocab_size = 12;  // fewer than the corpus's ~45 distinct characters
  expect_error<ConfigError>([&] { Tokenizer::train(sentences(100), tiny); }, {"vocab_size 12", "character_coverage"});
}

TEST(TextTokenizer, BpeWorksToo) {
  Tokenizer tokenizer = Tokenizer::train(sentences(400), small_options("bpe"));
  EXPECT_EQ(tokenizer.model_type(), "bpe");
  EXPECT_EQ(tokenizer.summary().at("type"), "bpe");
  EXPECT_EQ(tokenizer.vocab_size(), 200);
  expect_pretext_specials(tokenizer);
  for (const auto& sentence : sentences(30, /*seed=*/11)) {
    std::vector<int64_t> ids = tokenizer.encode(sentence);
    EXPECT_FALSE(has_special(ids)) << sentence;
    EXPECT_EQ(tokenizer.decode(ids), sentence);
  }
  EXPECT_FALSE(has_special(tokenizer.encode("[MASK] [CLS] [SEP]")));
  EXPECT_EQ(Tokenizer::from_bytes(tokenizer.bytes()).model_type(), "bpe");
  EXPECT_NE(tokenizer.summary().at("fingerprint"), small_tokenizer().summary().at("fingerprint"));
}

TEST(TextTokenizer, TrainingIsDeterministicAndSubsamplesBySeed) {
  const std::vector<std::string> corpus = sentences(400);
  TokenizerOptions options = small_options();
  EXPECT_EQ(Tokenizer::train(corpus, options).bytes(), small_tokenizer().bytes());
  // The TextCorpus overload sees the same sentences (split over documents) and gives the same model.
  TextCorpus documents;
  documents.source = "generated";
  for (size_t i = 0; i < corpus.size(); i += 3) {
    TextDocument document;
    for (size_t j = i; j < std::min(i + 3, corpus.size()); ++j) document.sentences.push_back(corpus[j]);
    documents.documents.push_back(document);
  }
  EXPECT_EQ(Tokenizer::train(documents, options).bytes(), small_tokenizer().bytes());

  options.max_sentences = 250;
  options.seed = 1;
  std::string first = Tokenizer::train(corpus, options).bytes();
  EXPECT_EQ(Tokenizer::train(corpus, options).bytes(), first);
  EXPECT_NE(first, small_tokenizer().bytes());
  options.seed = 2;
  EXPECT_NE(Tokenizer::train(corpus, options).bytes(), first);
}

// SentencePiece never writes (from its module it would crash on std::cerr; debug level once did);
// at debug level pretext's own lines say what is trained.
TEST(TextTokenizer, TrainingIsQuietUnlessDebugLogging) {
  const log::Level before = log::level();
  const std::vector<std::string> corpus = sentences(200);
  log::set_level(log::Level::info);
  ::testing::internal::CaptureStderr();
  Tokenizer::train(corpus, small_options());
  std::string quiet = ::testing::internal::GetCapturedStderr();
  log::set_level(log::Level::debug);
  ::testing::internal::CaptureStderr();
  Tokenizer::train(corpus, small_options("bpe"));
  std::string verbose = ::testing::internal::GetCapturedStderr();
  log::set_level(before);
  EXPECT_EQ(quiet, "");
  EXPECT_NE(verbose.find("tokenizer: training a bpe model of 200 pieces on 201 of 201 sentences"), std::string::npos)
      << verbose;
  EXPECT_EQ(verbose.find("LOG("), std::string::npos) << verbose;
}

}  // namespace
}  // namespace pretext
