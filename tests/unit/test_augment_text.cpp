#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pretext/augment/text.h"
#include "pretext/core/error.h"
#include "pretext/core/runtime.h"
#include "pretext/data/text_batch.h"

namespace pretext {
namespace {

// A text Batch from windows given as sentences of token ids, right-padded to `length`.
Batch text_batch(const std::vector<std::vector<std::vector<int64_t>>>& windows, const std::vector<int64_t>& groups,
                 int64_t length) {
  const int64_t size = static_cast<int64_t>(windows.size());
  Batch batch;
  batch.input = torch::full({size, length}, text::kPad, torch::kLong);
  batch.extra = torch::full({size, length}, -1, torch::kLong);
  for (int64_t b = 0; b < size; ++b) {
    int64_t t = 0;
    for (size_t s = 0; s < windows[b].size(); ++s) {
      for (int64_t token : windows[b][s]) {
        batch.input[b][t] = token;
        batch.extra[b][t] = static_cast<int64_t>(s);
        ++t;
      }
    }
  }
  batch.group = torch::tensor(groups, torch::kLong);
  batch.label = torch::full({size}, -1, torch::kLong);
  batch.index = torch::arange(size, torch::kLong);
  return batch;
}

std::vector<int64_t> row(const torch::Tensor& tensor, int64_t b) {
  auto values = tensor[b].contiguous();
  return std::vector<int64_t>(values.data_ptr<int64_t>(), values.data_ptr<int64_t>() + values.numel());
}

// ---------------------------------------------------------------------------------------------
// Masking

TEST(AugmentText, MaskingChoosesFifteenPercentOfOrdinaryTokensThenEightyTenTen) {
  const int64_t vocab = 1000, batch = 48, length = 64;
  auto generator = make_generator(7);
  // Formatted sequences of varied lengths, with [UNK]s inside and padding after.
  auto ids = torch::full({batch, length}, text::kPad, torch::kLong);
  std::vector<int64_t> ordinary(batch, 0);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t used = 10 + (b * 7) % (length - 10);
    ids[b][0] = text::kCls;
    for (int64_t t = 1; t < used - 1; ++t) {
      const bool unknown = (t * 13 + b) % 11 == 0;
      ids[b][t] = unknown ? text::kUnk : text::kSpecialTokens + (b * 31 + t * 17) % (vocab - text::kSpecialTokens);
      ordinary[b] += unknown ? 0 : 1;
    }
    ids[b][used - 1] = text::kSep;
  }
  MaskingOptions options;
  int64_t chosen_total = 0, ordinary_total = 0, masked = 0, replaced = 0, kept = 0;
  double replacement_sum = 0;
  std::set<std::vector<int64_t>> distinct;
  for (int draw = 0; draw < 150; ++draw) {
    MaskedTokens out = mask_tokens(ids, vocab, options, generator);
    ASSERT_EQ(out.ids.sizes(), ids.sizes());
    ASSERT_EQ(out.labels.sizes(), ids.sizes());
    auto chosen = out.labels.ne(kIgnoreLabel);
    // Specials and padding are never chosen nor changed.
    auto special = ids.lt(text::kSpecialTokens);
    ASSERT_FALSE(chosen.logical_and(special).any().item<bool>());
    ASSERT_TRUE(torch::equal(out.ids.masked_select(special), ids.masked_select(special)));
    // Labels are the original ids at chosen positions; unchosen positions are untouched.
    ASSERT_TRUE(torch::equal(out.labels.masked_select(chosen), ids.masked_select(chosen)));
    ASSERT_TRUE(torch::equal(out.ids.masked_select(chosen.logical_not()), ids.masked_select(chosen.logical_not())));
    // Each sequence: exactly round(0.15 · its ordinary tokens), at least 1.
    auto per_row = chosen.sum(1);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t expected = std::max<int64_t>(1, static_cast<int64_t>(std::nearbyint(0.15 * ordinary[b])));
      ASSERT_EQ(per_row[b].item<int64_t>(), expected) << "sequence " << b << " with " << ordinary[b];
    }
    chosen_total += chosen.sum().item<int64_t>();
    ordinary_total += ids.ge(text::kSpecialTokens).sum().item<int64_t>();
    auto new_ids = out.ids.masked_select(chosen), old_ids = ids.masked_select(chosen);
    auto is_mask = new_ids.eq(text::kMask);
    auto is_replaced = new_ids.ne(text::kMask).logical_and(new_ids.ne(old_ids));
    masked += is_mask.sum().item<int64_t>();
    replaced += is_replaced.sum().item<int64_t>();
    kept += new_ids.eq(old_ids).sum().item<int64_t>();
    auto replacements = new_ids.masked_select(is_replaced);
    ASSERT_TRUE(replacements.ge(text::kSpecialTokens).all().item<bool>());
    ASSERT_TRUE(replacements.lt(vocab).all().item<bool>());
    replacement_sum += replacements.sum().item<double>();
    distinct.insert(row(out.labels.reshape({1, -1}), 0));
  }
  const double share = static_cast<double>(chosen_total) / ordinary_total;
  EXPECT_NEAR(share, 0.15, 0.01);
  // Of ~60k chosen tokens: 80% [MASK], 10% another ordinary id (a draw equal to the original,
  // 1 in 995, counts as kept), 10% kept.
  const double n = static_cast<double>(chosen_total);
  EXPECT_NEAR(masked / n, 0.8, 0.01);
  EXPECT_NEAR(replaced / n, 0.1 * 994.0 / 995.0, 0.008);
  EXPECT_NEAR(kept / n, 0.1 + 0.1 / 995.0, 0.008);
  EXPECT_EQ(masked + replaced + kept, chosen_total);
  // Random replacements are uniform over the ordinary ids: mean (5 + 999) / 2.
  EXPECT_NEAR(replacement_sum / replaced, (text::kSpecialTokens + vocab - 1) / 2.0, 15.0);
  // Dynamic: each call draws afresh.
  EXPECT_EQ(distinct.size(), 150u);
}

TEST(AugmentText, MaskingIsReproducibleAndHandlesShortSequences) {
  auto ids = torch::tensor({{2, 9, 10, 3, 0, 0}, {2, 11, 3, 0, 0, 0}, {2, 3, 0, 0, 0, 0}}, torch::kLong);
  auto first = make_generator(5), second = make_generator(5);
  MaskedTokens a = mask_tokens(ids, 20, {}, first), b = mask_tokens(ids, 20, {}, second);
  EXPECT_TRUE(torch::equal(a.ids, b.ids));
  EXPECT_TRUE(torch::equal(a.labels, b.labels));
  for (int draw = 0; draw < 20; ++draw) {
    MaskedTokens out = mask_tokens(ids, 20, {}, first);
    auto chosen = out.labels.ne(kIgnoreLabel).sum(1);
    EXPECT_EQ(chosen[0].item<int64_t>(), 1);  // round(0.3) = 0, raised to 1
    EXPECT_EQ(chosen[1].item<int64_t>(), 1);  // the only ordinary token
    EXPECT_EQ(chosen[2].item<int64_t>(), 0);  // nothing to choose
  }
  // Only [MASK] replacements when mask_token = 1; none changed when both are 0.
  MaskingOptions always;
  always.mask_token = 1.0;
  always.random_token = 0.0;
  MaskedTokens out = mask_tokens(ids, 20, always, first);
  EXPECT_TRUE(out.ids.masked_select(out.labels.ne(kIgnoreLabel)).eq(text::kMask).all().item<bool>());
  MaskingOptions never;
  never.mask_token = 0.0;
  never.random_token = 0.0;
  EXPECT_TRUE(torch::equal(mask_tokens(ids, 20, never, first).ids, ids));

  EXPECT_THROW(mask_tokens(ids, 5, {}, first), ConfigError);  // no ordinary ids to draw from
  MaskingOptions bad;
  bad.mask_probability = 0;
  EXPECT_THROW(mask_tokens(ids, 20, bad, first), ConfigError);
  bad = MaskingOptions{};
  bad.mask_token = 0.95;
  EXPECT_THROW(bad.validate(), ConfigError);  // 0.95 + 0.1 > 1
  EXPECT_THROW(mask_tokens(ids.to(torch::kFloat32), 20, {}, first), InputError);
}

// ---------------------------------------------------------------------------------------------
// Formatting

TEST(AugmentText, SingleSegmentsAreClsWindowSep) {
  Batch batch = text_batch({{{7, 8}, {9}}, {{10, 11, 12, 13, 14, 15}}, {}}, {0, 1, 2}, 8);
  FormattedText out = format_single(batch, 16);
  ASSERT_EQ(out.ids.sizes(), (std::vector<int64_t>{3, 8}));  // the longest: 6 tokens + 2
  EXPECT_EQ(row(out.ids, 0), (std::vector<int64_t>{2, 7, 8, 9, 3, 0, 0, 0}));
  EXPECT_EQ(row(out.ids, 1), (std::vector<int64_t>{2, 10, 11, 12, 13, 14, 15, 3}));
  EXPECT_EQ(row(out.ids, 2), (std::vector<int64_t>{2, 3, 0, 0, 0, 0, 0, 0}));
  EXPECT_TRUE(out.segments.eq(0).all().item<bool>());
  EXPECT_TRUE(out.is_next.eq(1).all().item<bool>());
  // Longer than max_length − 2: the tail goes.
  FormattedText cut = format_single(batch, 5);
  EXPECT_EQ(row(cut.ids, 1), (std::vector<int64_t>{2, 10, 11, 12, 3}));
  Batch broken = batch;
  broken.input = batch.input.to(torch::kFloat32);
  EXPECT_THROW(format_single(broken, 16), InputError);
}

// A pair decoded back into its parts.
struct Pair {
  std::vector<int64_t> a, b;
};

Pair decode_pair(const FormattedText& out, int64_t row_index) {
  auto ids = row(out.ids, row_index), segments = row(out.segments, row_index);
  Pair pair;
  EXPECT_EQ(ids[0], text::kCls);
  EXPECT_EQ(segments[0], 0);
  size_t t = 1;
  for (; t < ids.size() && ids[t] != text::kSep; ++t) {
    EXPECT_EQ(segments[t], 0) << "A at " << t;
    pair.a.push_back(ids[t]);
  }
  EXPECT_LT(t, ids.size()) << "no first [SEP]";
  EXPECT_EQ(segments[t], 0);  // the first [SEP] closes segment A
  for (++t; t < ids.size() && ids[t] != text::kSep; ++t) {
    EXPECT_EQ(segments[t], 1) << "B at " << t;
    pair.b.push_back(ids[t]);
  }
  EXPECT_LT(t, ids.size()) << "no second [SEP]";
  EXPECT_EQ(segments[t], 1);
  for (++t; t < ids.size(); ++t) {
    EXPECT_EQ(ids[t], text::kPad);
    EXPECT_EQ(segments[t], 0);
  }
  return pair;
}

// Token ids that say where they come from: sample s, position p → 5 + 40·s + p.
constexpr int64_t kStride = 40;
int64_t sample_of(int64_t token) { return (token - text::kSpecialTokens) / kStride; }
int64_t position_of(int64_t token) { return (token - text::kSpecialTokens) % kStride; }

TEST(AugmentText, SentencePairsAreCorrectByConstruction) {
  // Eight windows from five documents (groups), each of 2–4 sentences, no truncation needed.
  const std::vector<int64_t> groups{0, 0, 1, 2, 2, 3, 4, 4};
  const std::vector<std::vector<int64_t>> sentence_lengths{{3, 4},    {2, 2, 5}, {4, 1, 3, 2}, {6, 3},
                                                           {1, 1, 1}, {5, 5},    {2, 7},       {3, 3, 3, 3}};
  std::vector<std::vector<std::vector<int64_t>>> windows;
  std::vector<std::set<int64_t>> starts(groups.size());  // sentence starts of each window
  for (size_t s = 0; s < groups.size(); ++s) {
    std::vector<std::vector<int64_t>> sentences;
    int64_t position = 0;
    for (int64_t length : sentence_lengths[s]) {
      starts[s].insert(position);
      std::vector<int64_t> sentence;
      for (int64_t k = 0; k < length; ++k) sentence.push_back(text::kSpecialTokens + kStride * s + position++);
      sentences.push_back(sentence);
    }
    windows.push_back(sentences);
  }
  Batch batch = text_batch(windows, groups, 13);
  auto generator = make_generator(3);
  int64_t next = 0, total = 0;
  std::map<std::pair<int64_t, int64_t>, int64_t> cuts;  // (sample, where A ends) → count
  for (int draw = 0; draw < 300; ++draw) {
    FormattedText out = make_sentence_pairs(batch, 32, {}, generator);
    ASSERT_EQ(out.ids.size(0), 8);
    ASSERT_EQ(out.is_next.sizes(), (std::vector<int64_t>{8}));
    for (int64_t s = 0; s < 8; ++s) {
      Pair pair = decode_pair(out, s);
      const int64_t size = static_cast<int64_t>(batch.input[s].ne(text::kPad).sum().item<int64_t>());
      // A: the window's first tokens up to a sentence boundary (never empty, never all of it).
      ASSERT_FALSE(pair.a.empty());
      for (size_t i = 0; i < pair.a.size(); ++i) {
        ASSERT_EQ(pair.a[i], text::kSpecialTokens + kStride * s + static_cast<int64_t>(i)) << "sample " << s;
      }
      const int64_t cut = static_cast<int64_t>(pair.a.size());
      ASSERT_TRUE(starts[s].count(cut) == 1 && cut > 0) << "A of sample " << s << " ends at " << cut;
      ++cuts[{s, cut}];
      ASSERT_FALSE(pair.b.empty());
      if (out.is_next[s].item<int64_t>() == 1) {
        // IsNext: B is the rest of the same window, in order.
        ++next;
        ASSERT_EQ(static_cast<int64_t>(pair.b.size()), size - cut);
        for (size_t i = 0; i < pair.b.size(); ++i) ASSERT_EQ(pair.b[i], pair.a.back() + 1 + static_cast<int64_t>(i));
      } else {
        // NotNext: consecutive tokens of one other document's window, from a sentence start.
        const int64_t other = sample_of(pair.b[0]);
        ASSERT_NE(groups[other], groups[s]) << "NotNext B of sample " << s << " from the same document";
        ASSERT_EQ(starts[other].count(position_of(pair.b[0])), 1u);
        for (size_t i = 1; i < pair.b.size(); ++i) ASSERT_EQ(pair.b[i], pair.b[0] + static_cast<int64_t>(i));
        ASSERT_LE(static_cast<int64_t>(pair.b.size()), 32 - 3 - cut);
      }
      ++total;
    }
  }
  EXPECT_NEAR(static_cast<double>(next) / total, 0.5, 0.03);
  // Every sentence boundary of every window gets chosen, about equally often.
  for (size_t s = 0; s < groups.size(); ++s) {
    const double boundaries = static_cast<double>(starts[s].size() - 1);
    for (int64_t start : starts[s]) {
      if (start == 0) continue;
      const int64_t hits = cuts[std::make_pair(static_cast<int64_t>(s), start)];
      EXPECT_NEAR(hits / 300.0, 1.0 / boundaries, 0.1) << "sample " << s << " boundary " << start;
    }
  }
}

TEST(AugmentText, PairsOfLongWindowsAreTrimmedAsTruncateSeqPair) {
  // Two documents of one long sentence each: A ends at a random token, and every pair is trimmed
  // to max_length − 3 tokens by taking from the longer part.
  std::vector<int64_t> first, second;
  for (int64_t p = 0; p < 30; ++p) {
    first.push_back(text::kSpecialTokens + p);
    second.push_back(text::kSpecialTokens + kStride + p);
  }
  Batch batch = text_batch({{first}, {second}}, {0, 1}, 30);
  auto generator = make_generator(9);
  std::set<int64_t> a_lengths;
  for (int draw = 0; draw < 100; ++draw) {
    FormattedText out = make_sentence_pairs(batch, 16, {}, generator);
    ASSERT_LE(out.ids.size(1), 16);
    for (int64_t s = 0; s < 2; ++s) {
      Pair pair = decode_pair(out, s);
      ASSERT_FALSE(pair.a.empty());
      ASSERT_FALSE(pair.b.empty());
      // Trimmed to fit; a NotNext B may be shorter when its document's window runs out.
      const bool is_next = out.is_next[s].item<int64_t>() == 1;
      if (is_next) {
        ASSERT_EQ(static_cast<int64_t>(pair.a.size() + pair.b.size()), 13);
      } else {
        ASSERT_LE(static_cast<int64_t>(pair.a.size() + pair.b.size()), 13);
      }
      // Both parts stay runs of consecutive tokens; A from its own window, before B when IsNext.
      for (const auto* part : {&pair.a, &pair.b}) {
        for (size_t i = 1; i < part->size(); ++i) ASSERT_EQ((*part)[i], (*part)[0] + static_cast<int64_t>(i));
      }
      ASSERT_EQ(sample_of(pair.a[0]), s);
      if (is_next) {
        ASSERT_EQ(sample_of(pair.b[0]), s);
        ASSERT_LT(pair.a.back(), pair.b[0]);
      } else {
        ASSERT_EQ(sample_of(pair.b[0]), 1 - s);
      }
      a_lengths.insert(static_cast<int64_t>(pair.a.size()));
    }
  }
  EXPECT_GT(a_lengths.size(), 5u);  // the cut is drawn, not fixed
}

TEST(AugmentText, PairsWithoutOtherDocumentsOrOwnContinuation) {
  auto generator = make_generator(1);
  // One document only: nothing to draw NotNext from, so every pair is IsNext.
  Batch same = text_batch({{{7, 8}, {9, 10}}, {{11, 12, 13}}}, {4, 4}, 6);
  for (int draw = 0; draw < 20; ++draw) {
    FormattedText out = make_sentence_pairs(same, 16, {}, generator);
    EXPECT_TRUE(out.is_next.eq(1).all().item<bool>());
  }
  // A one-token window has no B of its own: it always gets another document's.
  Batch short_window = text_batch({{{7}}, {{11, 12, 13}}}, {0, 1}, 4);
  for (int draw = 0; draw < 20; ++draw) {
    FormattedText out = make_sentence_pairs(short_window, 16, {}, generator);
    EXPECT_EQ(out.is_next[0].item<int64_t>(), 0);
    Pair pair = decode_pair(out, 0);
    EXPECT_EQ(pair.a, (std::vector<int64_t>{7}));
    EXPECT_FALSE(pair.b.empty());
    for (int64_t token : pair.b) EXPECT_TRUE(token >= 11 && token <= 13);
  }
  // next_probability 1 keeps every real B; 0 replaces all.
  Batch two = text_batch({{{7, 8}, {9}}, {{11, 12}, {13}}}, {0, 1}, 3);
  SentencePairOptions always;
  always.next_probability = 1.0;
  EXPECT_TRUE(make_sentence_pairs(two, 16, always, generator).is_next.eq(1).all().item<bool>());
  SentencePairOptions never;
  never.next_probability = 0.0;
  EXPECT_TRUE(make_sentence_pairs(two, 16, never, generator).is_next.eq(0).all().item<bool>());

  Batch ungrouped = two;
  ungrouped.group = torch::Tensor();
  const std::string message = [&] {
    try {
      make_sentence_pairs(ungrouped, 16, {}, generator);
    } catch (const InputError& error) {
      return std::string(error.what());
    }
    return std::string();
  }();
  EXPECT_NE(message.find("group"), std::string::npos) << message;
  SentencePairOptions bad;
  bad.next_probability = 1.5;
  EXPECT_THROW(make_sentence_pairs(two, 16, bad, generator), ConfigError);
  EXPECT_THROW(make_sentence_pairs(two, 4, {}, generator), ConfigError);
  // Same seed, same pairs.
  auto a = make_generator(2), b = make_generator(2);
  EXPECT_TRUE(torch::equal(make_sentence_pairs(two, 16, {}, a).ids, make_sentence_pairs(two, 16, {}, b).ids));
}

}  // namespace
}  // namespace pretext
