// TextDataset: windows on hand-made documents whose token counts are known (words that are one
// piece each), split vs truncate, the Batch layout (padding, sentence numbers, groups, labels),
// and on generated documents the invariants against the plain per-sentence encoding.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/data/text_batch.h"
#include "pretext/text/text_dataset.h"
#include "text_fixture.h"

namespace pretext {
namespace {
using testing_text::small_tokenizer;

std::vector<int64_t> as_vector(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.to(torch::kInt64).contiguous().reshape({-1});
  return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

// Words the small tokenizer keeps whole (one piece each, checked), so that a sentence of n of
// them is n tokens.
struct OneTokenWords {
  std::vector<std::string> words;
  std::vector<int64_t> ids;
};

const OneTokenWords& one_token_words() {
  static const OneTokenWords found = [] {
    OneTokenWords out;
    for (const auto& word : testing_text::words()) {
      std::vector<int64_t> ids = small_tokenizer().encode(word);
      if (ids.size() == 1 && out.words.size() < 4) {
        out.words.push_back(word);
        out.ids.push_back(ids[0]);
      }
    }
    return out;
  }();
  return found;
}

// A sentence of `count` copies of one-token word number `which`.
std::string repeat(size_t which, int64_t count) {
  std::string sentence;
  for (int64_t i = 0; i < count; ++i) sentence += (i ? " " : "") + one_token_words().words.at(which);
  return sentence;
}

TextDocument document(std::vector<std::string> sentences, int64_t label = -1, std::string source = "") {
  TextDocument out;
  out.sentences = std::move(sentences);
  out.label = label;
  out.source = std::move(source);
  return out;
}

TextCorpus corpus_of(std::vector<TextDocument> documents, std::vector<std::string> class_names = {}) {
  TextCorpus corpus;
  corpus.documents = std::move(documents);
  corpus.class_names = std::move(class_names);
  corpus.source = "hand-made";
  return corpus;
}

TextWindowOptions windows(int64_t max_length, const std::string& long_documents = "split", int64_t max_windows = 0) {
  TextWindowOptions options;
  options.max_length = max_length;
  options.long_documents = long_documents;
  options.max_windows_per_document = max_windows;
  return options;
}

class TextDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(one_token_words().words.size(), 4u) << "the small tokenizer keeps too few words whole";
    for (size_t i = 0; i < 4; ++i) ASSERT_EQ(small_tokenizer().encode(repeat(i, 5)).size(), 5u);
  }
  int64_t id(size_t which) const { return one_token_words().ids.at(which); }
  // `count` copies of id(which).
  std::vector<int64_t> ids(size_t which, int64_t count) const { return std::vector<int64_t>(count, id(which)); }
};

std::vector<int64_t> operator+(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_F(TextDatasetTest, WindowsPackWholeSentencesAndPad) {
  // Sentences of 3, 4, 5, 2 tokens in windows of 8: [3 + 4] then [5 + 2] (5 does not fit after 7).
  TextCorpus corpus = corpus_of({document({repeat(0, 3), repeat(1, 4), repeat(2, 5), repeat(3, 2)})});
  TextDataset dataset(corpus, small_tokenizer(), windows(11));
  ASSERT_EQ(dataset.size(), 2);
  EXPECT_EQ(dataset.sample_shape(), std::vector<int64_t>{8});
  EXPECT_EQ(dataset.num_documents(), 1);
  EXPECT_EQ(dataset.total_tokens(), 14);
  EXPECT_EQ(dataset.source(), "hand-made");

  Batch batch = dataset.get(torch::tensor({1, 0}, torch::kInt64));
  EXPECT_EQ(batch.input.sizes(), torch::IntArrayRef({2, 8}));
  EXPECT_EQ(batch.input.scalar_type(), torch::kInt64);
  EXPECT_EQ(as_vector(batch.input[0]), ids(2, 5) + ids(3, 2) + std::vector<int64_t>{text::kPad});
  EXPECT_EQ(as_vector(batch.input[1]), ids(0, 3) + ids(1, 4) + std::vector<int64_t>{text::kPad});
  EXPECT_EQ(as_vector(batch.extra[0]), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, -1}));
  EXPECT_EQ(as_vector(batch.extra[1]), (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 1, -1}));
  EXPECT_EQ(as_vector(batch.group), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(as_vector(batch.label), (std::vector<int64_t>{-1, -1}));
  EXPECT_EQ(as_vector(batch.index), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(dataset.window_tokens(0), ids(0, 3) + ids(1, 4));
  EXPECT_EQ(dataset.window_sentences(1), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(dataset.num_classes(), 0);
  EXPECT_EQ(as_vector(dataset.labels()), (std::vector<int64_t>{-1, -1}));

  // A sentence that fills a window exactly closes it.
  TextDataset exact(corpus_of({document({repeat(0, 8), repeat(1, 1)})}), small_tokenizer(), windows(11));
  ASSERT_EQ(exact.size(), 2);
  EXPECT_EQ(exact.window_tokens(0), ids(0, 8));
  EXPECT_EQ(exact.window_tokens(1), ids(1, 1));
}

TEST_F(TextDatasetTest, SentencePairIsOneWindowWithASeparatorTrimmedLongestFirst) {
  // A = 3 + 2 tokens, B = 2: A [SEP] B fits a window of 8.
  TextDocument pair = document({repeat(0, 3), repeat(1, 2), repeat(2, 2)}, 1);
  pair.pair_start = 2;
  TextCorpus corpus = corpus_of({pair, document({repeat(3, 2)}, 0)}, {"no", "yes"});
  TextDataset dataset(corpus, small_tokenizer(), windows(11));
  ASSERT_EQ(dataset.size(), 2);
  EXPECT_EQ(dataset.window_tokens(0), ids(0, 3) + ids(1, 2) + std::vector<int64_t>{text::kSep} + ids(2, 2));
  EXPECT_EQ(dataset.window_sentences(0), (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(dataset.truncated_documents(), 0);
  EXPECT_EQ(as_vector(dataset.labels()), (std::vector<int64_t>{1, 0}));

  // Windows of 5 tokens: A + [SEP] + B = 8 loses tokens off the end of the longer segment, A
  // each time (5 → 4 → 3 → 2), until it fits.
  TextDataset trimmed(corpus, small_tokenizer(), windows(8, "truncate"));
  EXPECT_EQ(trimmed.window_tokens(0), ids(0, 2) + std::vector<int64_t>{text::kSep} + ids(2, 2));
  EXPECT_EQ(trimmed.truncated_documents(), 1);
}

TEST_F(TextDatasetTest, SentenceLongerThanAWindowIsCut) {
  // 3, then 20 cut into 8 + 8 + 4, and the 2 after it joins the 4.
  TextCorpus corpus = corpus_of({document({repeat(0, 3), repeat(1, 20), repeat(2, 2)})});
  TextDataset dataset(corpus, small_tokenizer(), windows(11));
  ASSERT_EQ(dataset.size(), 4);
  EXPECT_EQ(dataset.window_tokens(0), ids(0, 3));
  EXPECT_EQ(dataset.window_tokens(1), ids(1, 8));
  EXPECT_EQ(dataset.window_tokens(2), ids(1, 8));
  EXPECT_EQ(dataset.window_tokens(3), ids(1, 4) + ids(2, 2));
  EXPECT_EQ(dataset.window_sentences(2), std::vector<int64_t>(8, 0));
  EXPECT_EQ(dataset.window_sentences(3), (std::vector<int64_t>{0, 0, 0, 0, 1, 1}));
  Batch batch = dataset.get(torch::arange(4, torch::kInt64));
  EXPECT_EQ(as_vector(batch.extra[3]), (std::vector<int64_t>{0, 0, 0, 0, 1, 1, -1, -1}));
  EXPECT_EQ(as_vector(batch.input[0]), ids(0, 3) + std::vector<int64_t>(5, text::kPad));
}

TEST_F(TextDatasetTest, SplitTruncateAndWindowLimit) {
  // Windows of 4: document 0 → [3] [4] [2+1] (3 windows); document 1 has no text; document 2 → [2];
  // document 3 → [4] [4] (a sentence of 8 cut in two).
  TextCorpus corpus = corpus_of({document({repeat(0, 3), repeat(1, 4), repeat(2, 2), repeat(3, 1)}), document({}),
                                 document({repeat(1, 2)}), document({repeat(2, 8)})});
  TextDataset split(corpus, small_tokenizer(), windows(7));
  EXPECT_EQ(split.size(), 6);
  EXPECT_EQ(split.num_documents(), 4);
  EXPECT_EQ(as_vector(split.window_documents()), (std::vector<int64_t>{0, 0, 0, 2, 3, 3}));
  EXPECT_EQ(split.document_windows(0), (std::pair<int64_t, int64_t>{0, 3}));
  EXPECT_EQ(split.document_windows(1), (std::pair<int64_t, int64_t>{3, 3}));
  EXPECT_EQ(split.document_windows(3), (std::pair<int64_t, int64_t>{4, 6}));
  EXPECT_EQ(split.window_tokens(2), ids(2, 2) + ids(3, 1));
  EXPECT_EQ(split.truncated_documents(), 0);
  EXPECT_THROW(split.document_windows(4), InputError);

  TextDataset truncated(corpus, small_tokenizer(), windows(7, "truncate"));
  EXPECT_EQ(truncated.size(), 3);
  EXPECT_EQ(as_vector(truncated.window_documents()), (std::vector<int64_t>{0, 2, 3}));
  EXPECT_EQ(truncated.window_tokens(0), split.window_tokens(0));
  EXPECT_EQ(truncated.window_tokens(2), split.window_tokens(4));
  EXPECT_EQ(truncated.truncated_documents(), 2);
  EXPECT_EQ(as_vector(truncated.get(torch::tensor({2}, torch::kInt64)).group), std::vector<int64_t>{3});

  TextDataset limited(corpus, small_tokenizer(), windows(7, "split", 2));
  EXPECT_EQ(as_vector(limited.window_documents()), (std::vector<int64_t>{0, 0, 2, 3, 3}));
  EXPECT_EQ(limited.window_tokens(1), split.window_tokens(1));
  EXPECT_EQ(limited.truncated_documents(), 1);
}

TEST_F(TextDatasetTest, CorpusPackingFillsWindowsAcrossDocumentsWithASeparator) {
  // Windows of 7 filled from A (2) [SEP] B (1) [SEP] C (3 + 2) [SEP] D (1): C's first sentence is
  // cut at the first window's end and goes on in the second; the empty document adds nothing.
  const std::vector<int64_t> sep{text::kSep};
  TextCorpus corpus =
      corpus_of({document({repeat(0, 2)}, 0), document({repeat(1, 1)}, 1), document({repeat(2, 3), repeat(3, 2)}, 1),
                 document({}, 0), document({repeat(0, 1)}, 0)},
                {"ham", "spam"});
  TextWindowOptions packed = windows(10);
  packed.packing = "corpus";
  TextDataset dataset(corpus, small_tokenizer(), packed);
  ASSERT_EQ(dataset.size(), 2);
  EXPECT_EQ(dataset.window_tokens(0), ids(0, 2) + sep + ids(1, 1) + sep + ids(2, 2));
  EXPECT_EQ(dataset.window_tokens(1), ids(2, 1) + ids(3, 2) + sep + ids(0, 1));
  EXPECT_EQ(dataset.window_sentences(0), (std::vector<int64_t>{0, 0, 1, 1, 2, 2, 2}));
  EXPECT_EQ(dataset.window_sentences(1), (std::vector<int64_t>{0, 1, 1, 2, 2}));
  // A window belongs to the document that gives it the most tokens (the first of a tie), and
  // has that one's label.
  EXPECT_EQ(as_vector(dataset.window_documents()), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(as_vector(dataset.labels()), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(dataset.num_documents(), 5);
  EXPECT_EQ(dataset.document_windows(0), (std::pair<int64_t, int64_t>{0, 1}));
  EXPECT_EQ(dataset.document_windows(1), (std::pair<int64_t, int64_t>{0, 1}));
  EXPECT_EQ(dataset.document_windows(2), (std::pair<int64_t, int64_t>{0, 2}));
  EXPECT_EQ(dataset.document_windows(4), (std::pair<int64_t, int64_t>{1, 2}));
  const auto [empty_begin, empty_end] = dataset.document_windows(3);
  EXPECT_EQ(empty_begin, empty_end);
  Batch batch = dataset.get(torch::tensor({1}, torch::kInt64));
  EXPECT_EQ(as_vector(batch.input[0]), ids(2, 1) + ids(3, 2) + sep + ids(0, 1) + std::vector<int64_t>(2, text::kPad));
  EXPECT_EQ(as_vector(batch.extra[0]), (std::vector<int64_t>{0, 1, 1, 2, 2, -1, -1}));

  // The same text in per-document windows: four windows, 19 of 28 slots padding instead of 2 of 14.
  TextDataset unpacked(corpus, small_tokenizer(), windows(10));
  EXPECT_EQ(unpacked.size(), 4);
  EXPECT_EQ(unpacked.total_tokens() + 3, dataset.total_tokens());  // the three separators

  // A separator that would end a window is left out; a long sentence goes on across windows.
  TextDataset ends(corpus_of({document({repeat(0, 6)}), document({repeat(1, 2)})}), small_tokenizer(), packed);
  ASSERT_EQ(ends.size(), 2);
  EXPECT_EQ(ends.window_tokens(0), ids(0, 6));
  EXPECT_EQ(ends.window_tokens(1), ids(1, 2));
  TextDataset cut(corpus_of({document({repeat(0, 3)}), document({repeat(1, 9)})}), small_tokenizer(), packed);
  ASSERT_EQ(cut.size(), 2);
  EXPECT_EQ(cut.window_tokens(0), ids(0, 3) + sep + ids(1, 3));
  EXPECT_EQ(cut.window_tokens(1), ids(1, 6));
  EXPECT_EQ(cut.window_sentences(1), (std::vector<int64_t>{0, 0, 0, 0, 1, 1}));
}

TEST_F(TextDatasetTest, LabelsAndClassesAreCarried) {
  TextCorpus corpus = corpus_of({document({repeat(0, 3), repeat(1, 4)}, 1), document({repeat(2, 2)}, 0),
                                 document({repeat(3, 1)}, -1)},
                                {"ham", "spam"});
  TextDataset dataset(corpus, small_tokenizer(), windows(7));
  EXPECT_EQ(dataset.num_classes(), 2);
  EXPECT_EQ(dataset.class_names(), (std::vector<std::string>{"ham", "spam"}));
  EXPECT_EQ(as_vector(dataset.labels()), (std::vector<int64_t>{1, 1, 0, -1}));
  Batch batch = dataset.get(torch::tensor({3, 1, 2}, torch::kInt64));
  EXPECT_EQ(as_vector(batch.label), (std::vector<int64_t>{-1, 1, 0}));
  EXPECT_EQ(as_vector(batch.group), (std::vector<int64_t>{2, 0, 1}));

  TextCorpus bad = corpus_of({document({repeat(0, 3)}, 2, "mail/42.eml")}, {"ham", "spam"});
  try {
    TextDataset(bad, small_tokenizer(), windows(7));
    ADD_FAILURE() << "label 2 of 2 classes accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("mail/42.eml"), std::string::npos) << error.what();
  }
  EXPECT_THROW(TextDataset(corpus_of({document({repeat(0, 3)}, 0)}), small_tokenizer(), windows(7)), InputError);
  EXPECT_THROW(TextDataset(corpus_of({document({repeat(0, 3)}, -2)}), small_tokenizer(), windows(7)), InputError);
}

TEST_F(TextDatasetTest, BadInputAndOptionsAreClearErrors) {
  EXPECT_THROW(TextDataset(corpus_of({}), small_tokenizer()), InputError);
  try {
    TextDataset(corpus_of({document({}), document({})}), small_tokenizer());
    ADD_FAILURE() << "a corpus without text accepted";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("hand-made"), std::string::npos) << error.what();
  }
  TextDataset dataset(corpus_of({document({repeat(0, 3)})}), small_tokenizer(), windows(7));
  EXPECT_THROW(dataset.get(torch::tensor({1}, torch::kInt64)), InputError);
  EXPECT_THROW(dataset.get(torch::tensor({-1}, torch::kInt64)), InputError);
  EXPECT_THROW(dataset.window_tokens(1), InputError);

  auto message = [](const TextWindowOptions& options) {
    try {
      options.validate();
    } catch (const ConfigError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(windows(3)).find("max_length"), std::string::npos);
  EXPECT_NE(message(windows(128, "drop")).find("long_documents"), std::string::npos);
  EXPECT_NE(message(windows(128, "split", -1)).find("max_windows_per_document"), std::string::npos);
  EXPECT_EQ(message(windows(4)), "no error");
  EXPECT_THROW(TextDataset(corpus_of({document({repeat(0, 3)})}), small_tokenizer(), windows(2)), ConfigError);

  TextWindowOptions options = TextWindowOptions::from_json({{"max_length", 64}, {"long_documents", "truncate"}});
  EXPECT_EQ(options.max_length, 64);
  EXPECT_EQ(options.window_tokens(), 61);
  EXPECT_EQ(options.long_documents, "truncate");
  EXPECT_EQ(options.max_windows_per_document, 0);
  EXPECT_EQ(TextWindowOptions::from_json(options.to_json()).to_json(), options.to_json());
  EXPECT_THROW(TextWindowOptions::from_json({{"max_len", 64}}), ConfigError);
  EXPECT_THROW(TextWindowOptions::from_json({{"long_documents", "cut"}}), ConfigError);

  TextWindowOptions packing = windows(16);
  packing.packing = "everything";
  EXPECT_NE(message(packing).find("packing"), std::string::npos);
  packing.packing = "corpus";
  EXPECT_EQ(message(packing), "no error");
  EXPECT_EQ(TextWindowOptions::from_json(packing.to_json()).packing, "corpus");
  packing.long_documents = "truncate";
  EXPECT_NE(message(packing).find("long_documents split"), std::string::npos);
  packing.long_documents = "split";
  packing.max_windows_per_document = 2;
  EXPECT_NE(message(packing).find("max_windows_per_document"), std::string::npos);
  // A sentence pair is read as one window of its own; packing it with others is an input error.
  TextDocument pair = document({repeat(0, 2), repeat(1, 2)}, -1, "pairs.jsonl:3");
  pair.pair_start = 1;
  packing.max_windows_per_document = 0;
  try {
    TextDataset(corpus_of({pair}), small_tokenizer(), packing);
    ADD_FAILURE() << "a sentence pair packed";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("pairs.jsonl:3"), std::string::npos) << error.what();
  }
}

// On generated documents: each document's windows, read back to back, are exactly its sentences'
// encodings; windows are non-empty and fit; a window's sentence numbers change exactly where a
// sentence starts (or a cut one continues in a new window); and packing is greedy (the next
// window's first piece would not have fit).
TEST_F(TextDatasetTest, WindowsMatchThePerSentenceEncoding) {
  std::mt19937_64 generator(3);
  std::vector<std::string> pool = testing_text::sentences(200, /*seed=*/21);
  pool.push_back(repeat(0, 40));  // longer than a window
  TextCorpus corpus;
  corpus.source = "generated";
  for (int d = 0; d < 40; ++d) {
    TextDocument doc;
    size_t count = generator() % 9;
    for (size_t s = 0; s < count; ++s) doc.sentences.push_back(pool[generator() % pool.size()]);
    corpus.documents.push_back(doc);
  }
  corpus.documents[5].sentences.push_back(pool.back());
  const int64_t capacity = 16;
  TextDataset dataset(corpus, small_tokenizer(), windows(capacity + 3));
  ASSERT_EQ(dataset.num_documents(), 40);
  Batch all = dataset.get(torch::arange(dataset.size(), torch::kInt64));
  for (int64_t d = 0; d < 40; ++d) {
    // The expected token stream and the positions where its sentences start.
    std::vector<int64_t> expected;
    std::set<size_t> sentence_starts;
    for (const auto& sentence : corpus.documents[d].sentences) {
      sentence_starts.insert(expected.size());
      std::vector<int64_t> ids = small_tokenizer().encode(sentence);
      expected.insert(expected.end(), ids.begin(), ids.end());
    }
    std::vector<int64_t> stream;
    auto [begin, end] = dataset.document_windows(d);
    for (int64_t w = begin; w < end; ++w) {
      std::vector<int64_t> tokens = dataset.window_tokens(w);
      std::vector<int64_t> numbers = dataset.window_sentences(w);
      ASSERT_GE(tokens.size(), 1u);
      ASSERT_LE(static_cast<int64_t>(tokens.size()), capacity);
      EXPECT_EQ(all.group[w].item<int64_t>(), d);
      // get() agrees with the accessors.
      std::vector<int64_t> row = as_vector(all.input[w]);
      std::vector<int64_t> extra = as_vector(all.extra[w]);
      for (size_t t = 0; t < row.size(); ++t) {
        EXPECT_EQ(row[t], t < tokens.size() ? tokens[t] : text::kPad);
        EXPECT_EQ(extra[t], t < tokens.size() ? numbers[t] : -1);
      }
      EXPECT_EQ(numbers[0], 0);
      for (size_t t = 0; t < tokens.size(); ++t) {
        const size_t position = stream.size() + t;
        if (t > 0) {
          const bool starts = sentence_starts.count(position) > 0;
          EXPECT_EQ(numbers[t], numbers[t - 1] + (starts ? 1 : 0)) << "document " << d << " window " << w;
        } else if (w > begin && sentence_starts.count(position) == 0) {
          // A window may start inside a sentence only when the previous window is full.
          EXPECT_EQ(static_cast<int64_t>(dataset.window_tokens(w - 1).size()), capacity);
        }
      }
      if (w > begin) {
        int64_t first_piece = 0;
        while (first_piece < static_cast<int64_t>(numbers.size()) && numbers[first_piece] == 0) ++first_piece;
        EXPECT_GT(static_cast<int64_t>(dataset.window_tokens(w - 1).size()) + first_piece, capacity);
      }
      stream.insert(stream.end(), tokens.begin(), tokens.end());
    }
    EXPECT_EQ(stream, expected) << "document " << d;
  }
  EXPECT_GE(dataset.document_windows(5).second - dataset.document_windows(5).first, 3);
}

}  // namespace
}  // namespace pretext
