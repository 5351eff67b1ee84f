// The layout of a text Batch, and the special token ids every pretext tokenizer has. Shared by
// the text datasets (data/), the masking and sentence-pair making (augment/text.h), the BERT
// encoder (models/) and the text tasks.
//
// A text dataset's sample is one window of a document: up to max_length − 3 consecutive tokens
// (room for [CLS] A [SEP] B [SEP]), cut at sentence boundaries where it can be.
//   input  int64 [B, L]  token ids of the window, no special tokens, right-padded with kPad
//   extra  int64 [B, L]  the sentence number of each token inside its window (0, 1, …), −1 on padding
//   group  int64 [B]     the document the window came from (NSP's "another document")
//   label  int64 [B]     the document's class, −1 without one
// An encoder's input (what models/bert.h consumes) is formatted: [CLS] tokens [SEP] (a pair:
// [CLS] A [SEP] B [SEP]), right-padded with kPad, with segment ids 0 for A and 1 for B.
#pragma once

#include <cstdint>

namespace pretext::text {

constexpr int64_t kPad = 0;
constexpr int64_t kUnk = 1;
constexpr int64_t kCls = 2;
constexpr int64_t kSep = 3;
constexpr int64_t kMask = 4;
constexpr int64_t kSpecialTokens = 5;  // ids below this are special; never masked or replaced

}  // namespace pretext::text
