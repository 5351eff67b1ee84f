#include "pretext/augment/text.h"

#include <algorithm>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/data/text_batch.h"

namespace pretext {

namespace {

// One window of a text Batch, on the CPU: its tokens up to the first [PAD] and their sentence
// numbers.
struct Window {
  std::vector<int64_t> tokens;
  std::vector<int64_t> sentence;

  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  // Positions 1 … n−1 where a new sentence starts.
  std::vector<int64_t> boundaries() const {
    std::vector<int64_t> out;
    for (int64_t i = 1; i < size(); ++i) {
      if (sentence[i] != sentence[i - 1]) out.push_back(i);
    }
    return out;
  }
};

std::vector<Window> read_windows(const Batch& batch, const char* what) {
  PRETEXT_CHECK(batch.input.defined() && batch.input.dim() == 2 && batch.input.scalar_type() == torch::kLong,
                InputError, what, ": a text batch's input must be int64 token ids [B, L], got ",
                batch.input.defined() ? batch.input.sizes() : torch::IntArrayRef{});
  const bool numbered = batch.extra.defined();
  PRETEXT_CHECK(!numbered || (batch.extra.sizes() == batch.input.sizes() && batch.extra.scalar_type() == torch::kLong),
                InputError, what, ": a text batch's extra (sentence numbers) must be int64 of the input's shape ",
                batch.input.sizes(), ", got ", numbered ? batch.extra.scalar_type() : torch::kLong, " ",
                numbered ? batch.extra.sizes() : torch::IntArrayRef{});
  auto ids = batch.input.to(torch::kCPU).contiguous();
  auto ids_at = ids.accessor<int64_t, 2>();
  // Without sentence numbers every token is in sentence 0.
  auto sentences = numbered ? batch.extra.to(torch::kCPU).contiguous() : torch::zeros_like(ids);
  auto sentences_at = sentences.accessor<int64_t, 2>();
  std::vector<Window> windows(ids.size(0));
  for (int64_t b = 0; b < ids.size(0); ++b) {
    for (int64_t i = 0; i < ids.size(1) && ids_at[b][i] != text::kPad; ++i) {
      windows[b].tokens.push_back(ids_at[b][i]);
      windows[b].sentence.push_back(sentences_at[b][i]);
    }
  }
  return windows;
}

// An index in [0, count) from a uniform draw in [0, 1).
int64_t pick(double uniform, int64_t count) {
  return std::min<int64_t>(count - 1, static_cast<int64_t>(uniform * static_cast<double>(count)));
}

// Lays the formatted samples out as right-padded tensors.
FormattedText pack(const std::vector<std::vector<int64_t>>& first, const std::vector<std::vector<int64_t>>& second,
                   const std::vector<int64_t>& is_next, bool pairs, const torch::Device& device) {
  const int64_t batch = static_cast<int64_t>(first.size());
  int64_t length = 0;
  for (int64_t b = 0; b < batch; ++b) {
    length = std::max<int64_t>(length, 2 + first[b].size() + (pairs ? 1 + second[b].size() : 0));
  }
  auto ids = torch::full({batch, length}, text::kPad, torch::kLong);
  auto segments = torch::zeros({batch, length}, torch::kLong);
  auto ids_at = ids.accessor<int64_t, 2>();
  auto segments_at = segments.accessor<int64_t, 2>();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t t = 0;
    ids_at[b][t++] = text::kCls;
    for (int64_t token : first[b]) ids_at[b][t++] = token;
    ids_at[b][t++] = text::kSep;
    if (!pairs) continue;
    for (int64_t token : second[b]) {
      segments_at[b][t] = 1;
      ids_at[b][t++] = token;
    }
    segments_at[b][t] = 1;
    ids_at[b][t++] = text::kSep;
  }
  return {ids.to(device), segments.to(device), torch::tensor(is_next, torch::kLong).to(device)};
}

}  // namespace

void MaskingOptions::validate() const {
  PRETEXT_CHECK(mask_probability > 0 && mask_probability <= 1, ConfigError,
                "masking option 'mask_probability' must be in (0, 1], got ", mask_probability);
  PRETEXT_CHECK(mask_token >= 0 && random_token >= 0 && mask_token + random_token <= 1, ConfigError,
                "masking options 'mask_token' and 'random_token' must be ≥ 0 with a sum ≤ 1, got ", mask_token, " and ",
                random_token);
}

nlohmann::json MaskingOptions::to_json() const {
  return {{"mask_probability", mask_probability}, {"mask_token", mask_token}, {"random_token", random_token}};
}

MaskedTokens mask_tokens(const torch::Tensor& ids, int64_t vocab_size, const MaskingOptions& options,
                         torch::Generator& generator) {
  options.validate();
  PRETEXT_CHECK(vocab_size > text::kSpecialTokens, ConfigError, "masking: the vocabulary of ", vocab_size,
                " ids has no ordinary tokens (ids ≥ ", text::kSpecialTokens, ") to draw random replacements from");
  PRETEXT_CHECK(ids.defined() && ids.dim() == 2 && ids.scalar_type() == torch::kLong, InputError,
                "masking: token ids must be int64 [B, T], got ", ids.defined() ? ids.sizes() : torch::IntArrayRef{});
  // The draws happen on the CPU, where the task's generator lives; the results are moved back.
  auto original = ids.to(torch::kCPU);
  const int64_t batch = original.size(0), length = original.size(1);
  auto ordinary = original.ge(text::kSpecialTokens);
  auto available = ordinary.sum(1);
  // round() is half-to-even, as Python's round() in BERT's create_pretraining_data.py.
  auto wanted = (available.to(torch::kFloat64) * options.mask_probability).round().to(torch::kLong);
  wanted = torch::minimum(wanted.clamp_min(1), available);
  // A uniform choice without replacement: rank the ordinary positions by random keys (specials
  // get a key above every draw) and take the `wanted` lowest.
  auto keys = torch::rand({batch, length}, generator, torch::TensorOptions().dtype(torch::kFloat32));
  keys.masked_fill_(ordinary.logical_not(), 2.0);
  auto rank = keys.argsort(/*dim=*/int64_t{1}).argsort(/*dim=*/int64_t{1});
  auto chosen = rank.lt(wanted.unsqueeze(1));

  // Each chosen token independently: [MASK] / a random ordinary token / itself (BERT §3.1).
  auto action = torch::rand({batch, length}, generator, torch::TensorOptions().dtype(torch::kFloat64));
  auto to_mask = chosen.logical_and(action.lt(options.mask_token));
  auto to_random = chosen.logical_and(action.ge(options.mask_token))
                       .logical_and(action.lt(options.mask_token + options.random_token));
  auto random_ids = torch::randint(text::kSpecialTokens, vocab_size, {batch, length}, generator,
                                   torch::TensorOptions().dtype(torch::kLong));
  auto corrupted = torch::where(to_random, random_ids, original.masked_fill(to_mask, text::kMask));
  auto labels = torch::where(chosen, original, torch::full_like(original, kIgnoreLabel));
  return {corrupted.to(ids.device()), labels.to(ids.device())};
}

FormattedText format_single(const Batch& batch, int64_t max_length) {
  PRETEXT_CHECK(max_length >= 3, ConfigError, "formatting [CLS] window [SEP] needs max_length ≥ 3, got ", max_length);
  std::vector<Window> windows = read_windows(batch, "format_single");
  std::vector<std::vector<int64_t>> first(windows.size()), second(windows.size());
  for (size_t b = 0; b < windows.size(); ++b) {
    const int64_t kept = std::min<int64_t>(windows[b].size(), max_length - 2);
    first[b].assign(windows[b].tokens.begin(), windows[b].tokens.begin() + kept);
  }
  return pack(first, second, std::vector<int64_t>(windows.size(), 1), /*pairs=*/false, batch.input.device());
}

void SentencePairOptions::validate() const {
  PRETEXT_CHECK(next_probability >= 0 && next_probability <= 1, ConfigError,
                "sentence-pair option 'next_probability' must be in [0, 1], got ", next_probability);
}

FormattedText make_sentence_pairs(const Batch& batch, int64_t max_length, const SentencePairOptions& options,
                                  torch::Generator& generator) {
  options.validate();
  PRETEXT_CHECK(max_length >= 5, ConfigError, "sentence pairs [CLS] A [SEP] B [SEP] need max_length ≥ 5, got ",
                max_length);
  std::vector<Window> windows = read_windows(batch, "sentence pairs");
  const int64_t size = static_cast<int64_t>(windows.size());
  PRETEXT_CHECK(batch.group.defined() && batch.group.dim() == 1 && batch.group.size(0) == size, InputError,
                "sentence pairs need the batch's group (the document of each window, int64 [", size,
                "]) to draw NotNext segments from other documents, got ",
                batch.group.defined() ? batch.group.sizes() : torch::IntArrayRef{});
  auto group = batch.group.to(torch::kCPU).to(torch::kLong).contiguous();
  auto group_at = group.accessor<int64_t, 1>();
  const int64_t budget = max_length - 3;  // tokens of A and B together

  // All draws at once: 4 decisions per sample, then one coin per token that truncation removes
  // (at most every token of A and B).
  int64_t longest = 0;
  for (const Window& window : windows) longest = std::max(longest, window.size());
  const int64_t coins = 2 * longest + budget;
  auto draws = torch::rand({size, 4 + coins}, generator, torch::TensorOptions().dtype(torch::kFloat64));
  auto draw = draws.accessor<double, 2>();

  std::vector<std::vector<int64_t>> first(size), second(size);
  std::vector<int64_t> is_next(size, 1);
  for (int64_t b = 0; b < size; ++b) {
    const Window& window = windows[b];
    // Where A ends: a sentence boundary, else (one sentence) a token position, else nowhere.
    const std::vector<int64_t> boundaries = window.boundaries();
    int64_t cut = window.size();
    if (!boundaries.empty()) {
      cut = boundaries[pick(draw[b][0], static_cast<int64_t>(boundaries.size()))];
    } else if (window.size() >= 2) {
      cut = 1 + pick(draw[b][0], window.size() - 1);
    }
    std::vector<int64_t> a(window.tokens.begin(), window.tokens.begin() + cut);
    std::vector<int64_t> b_tokens(window.tokens.begin() + cut, window.tokens.end());

    std::vector<int64_t> others;
    for (int64_t j = 0; j < size; ++j) {
      if (group_at[j] != group_at[b]) others.push_back(j);
    }
    const bool keep = b_tokens.empty() ? false : draw[b][1] < options.next_probability;
    if (!keep && !others.empty()) {
      is_next[b] = 0;
      const Window& other = windows[others[pick(draw[b][2], static_cast<int64_t>(others.size()))]];
      // Its sentence starts (every token when it is one sentence), then as many tokens as fit.
      std::vector<int64_t> starts = other.boundaries();
      if (starts.empty()) {
        for (int64_t i = 1; i < other.size(); ++i) starts.push_back(i);
      }
      starts.insert(starts.begin(), 0);
      const int64_t start = other.size() == 0 ? 0 : starts[pick(draw[b][3], static_cast<int64_t>(starts.size()))];
      const int64_t room = std::max<int64_t>(1, budget - static_cast<int64_t>(a.size()));
      const int64_t end = std::min(other.size(), start + room);
      b_tokens.assign(other.tokens.begin() + start, other.tokens.begin() + end);
    }

    // BERT's truncate_seq_pair: trim the longer one, from the front or the back at random.
    int64_t coin = 4;
    while (static_cast<int64_t>(a.size() + b_tokens.size()) > budget) {
      std::vector<int64_t>& longer = a.size() > b_tokens.size() ? a : b_tokens;
      if (draw[b][coin++] < 0.5) {
        longer.erase(longer.begin());
      } else {
        longer.pop_back();
      }
    }
    first[b] = std::move(a);
    second[b] = std::move(b_tokens);
  }
  return pack(first, second, is_next, /*pairs=*/true, batch.input.device());
}

}  // namespace pretext
