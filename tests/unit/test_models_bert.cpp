#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/runtime.h"
#include "pretext/data/text_batch.h"
#include "pretext/models/bert.h"
#include "pretext/models/encoder.h"
#include "pretext/models/transformer.h"

namespace pretext {
namespace {

EncoderConfig bert_config(const std::string& name, int64_t vocab_size = 50, int64_t max_length = 32, int64_t width = 0,
                          int64_t depth = 0) {
  EncoderConfig config;
  config.name = name;
  config.vocab_size = vocab_size;
  config.max_length = max_length;
  config.width = width;
  config.depth = depth;
  return config;
}

std::shared_ptr<BertEncoder> make_bert(const EncoderConfig& config) {
  auto encoder = std::dynamic_pointer_cast<BertEncoder>(make_encoder(config));
  EXPECT_NE(encoder, nullptr) << config.name;
  return encoder;
}

// [CLS] tokens [SEP], right-padded with [PAD] to `length`.
torch::Tensor formatted(const std::vector<int64_t>& tokens, int64_t length) {
  std::vector<int64_t> row{text::kCls};
  row.insert(row.end(), tokens.begin(), tokens.end());
  row.push_back(text::kSep);
  while (static_cast<int64_t>(row.size()) < length) row.push_back(text::kPad);
  return torch::tensor(row, torch::kLong).unsqueeze(0);
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(ModelsBert, SizesAndShapesFollowTurcEtAl) {
  struct Case {
    std::string name;
    int64_t dim, depth, heads;
  };
  for (const Case& c : {Case{"bert-tiny", 128, 2, 2}, Case{"bert-mini", 256, 4, 4}, Case{"bert-small", 512, 4, 8}}) {
    auto bert = make_bert(bert_config(c.name));
    ASSERT_NE(bert, nullptr);
    EXPECT_EQ(bert->dim(), c.dim) << c.name;
    EXPECT_EQ(bert->architecture().depth, c.depth) << c.name;
    EXPECT_EQ(bert->architecture().heads, c.heads) << c.name;
    EXPECT_EQ(bert->vocab_size(), 50);
    EXPECT_EQ(bert->max_length(), 32);
    EXPECT_FALSE(bert->prefers_channels_last());
    auto ids = torch::randint(text::kSpecialTokens, 50, {3, 9}, torch::kLong);
    ids.select(1, 0).fill_(text::kCls);
    EXPECT_EQ(bert->forward_tokens(ids, {}).sizes(), (std::vector<int64_t>{3, 9, c.dim}));
    EXPECT_EQ(bert->forward(ids).sizes(), (std::vector<int64_t>{3, c.dim}));
    // The pooled representation is the [CLS] position's state.
    bert->eval();
    EXPECT_TRUE(torch::allclose(bert->forward(ids), bert->forward_tokens(ids, {}).select(1, 0)));
  }
}

TEST(ModelsBert, WidthAndDepthOverrideTheSizeAndResolvedWritesThemOut) {
  auto narrow = make_bert(bert_config("bert-tiny", 50, 32, /*width=*/64, /*depth=*/3));
  EXPECT_EQ(narrow->dim(), 64);
  EXPECT_EQ(narrow->architecture().depth, 3);
  EXPECT_EQ(narrow->architecture().heads, 1);  // 64-dimensional heads
  EXPECT_EQ(make_bert(bert_config("bert-tiny", 50, 32, 256))->architecture().heads, 4);

  EncoderConfig resolved = bert_config("bert-mini").resolved();
  EXPECT_EQ(resolved.width, 256);
  EXPECT_EQ(resolved.depth, 4);
  EXPECT_EQ(bert_config("bert-small", 50, 32, 0, 2).resolved().depth, 2);
  EXPECT_EQ(bert_config("bert-small", 50, 32, 0, 2).resolved().width, 512);
  // The config survives its JSON form (checkpoints).
  EncoderConfig back = EncoderConfig::from_json(resolved.to_json());
  EXPECT_EQ(back.vocab_size, 50);
  EXPECT_EQ(back.max_length, 32);
  EXPECT_EQ(back.width, 256);

  EXPECT_NE(error_of([] { bert_config("bert-tiny", 50, 32, 160).resolved(); }).find("width"), std::string::npos);
  EXPECT_NE(error_of([] { make_encoder(bert_config("bert-tiny", 0)); }).find("vocab_size"), std::string::npos);
  EXPECT_THROW(make_encoder(bert_config("bert-tiny", 5)), ConfigError);  // specials only
  EXPECT_THROW(bert_architecture(bert_config("vit-tiny")), ConfigError);
  for (const char* name : {"bert-tiny", "bert-mini", "bert-small"}) {
    ASSERT_TRUE(encoder_registry().contains(name)) << name;
    EXPECT_FALSE(encoder_registry().get(name).description.empty());
    EXPECT_TRUE(is_bert_name(name));
  }
  EXPECT_FALSE(is_bert_name("vit-tiny"));
}

TEST(ModelsBert, PaddingDoesNotChangeTheOutputsAtRealPositions) {
  torch::manual_seed(3);
  auto bert = make_bert(bert_config("bert-tiny", 50, 24, 64));
  bert->eval();
  const std::vector<int64_t> tokens{7, 12, 9, 33, 41, 8};
  const int64_t real = static_cast<int64_t>(tokens.size()) + 2;
  auto segments_of = [](int64_t length) {
    auto segments = torch::zeros({1, length}, torch::kLong);
    segments.slice(1, 4, 8).fill_(1);
    return segments;
  };
  auto alone = bert->forward_tokens(formatted(tokens, real), segments_of(real));
  auto padded = bert->forward_tokens(formatted(tokens, 20), segments_of(20));
  EXPECT_LT((padded.slice(1, 0, real) - alone).abs().max().item<double>(), 1e-5);

  // In a batch next to a longer sequence (so padded to its length), the same outputs again.
  auto longer = formatted({5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, 18);
  auto batch =
      bert->forward_tokens(torch::cat({formatted(tokens, 18), longer}), torch::cat({segments_of(18), segments_of(18)}));
  EXPECT_LT((batch[0].slice(0, 0, real) - alone[0]).abs().max().item<double>(), 1e-5);

  // The check can fail: ordinary tokens where the padding was do change the real positions.
  auto filled = formatted(tokens, 20);
  filled.slice(1, real).fill_(17);
  auto attended = bert->forward_tokens(filled, segments_of(20));
  EXPECT_GT((attended.slice(1, 0, real) - alone).abs().max().item<double>(), 1e-3);
}

TEST(ModelsBert, BadInputsAreClearErrors) {
  auto bert = make_bert(bert_config("bert-tiny", 50, 16, 64));
  const std::string too_long = error_of([&] { bert->forward_tokens(torch::full({2, 17}, 9, torch::kLong), {}); });
  EXPECT_NE(too_long.find("17"), std::string::npos) << too_long;
  EXPECT_NE(too_long.find("max_length 16"), std::string::npos) << too_long;
  EXPECT_NO_THROW(bert->forward_tokens(torch::full({2, 16}, 9, torch::kLong), {}));

  const std::string unknown = error_of([&] { bert->forward_tokens(formatted({7, 50}, 6), {}); });
  EXPECT_NE(unknown.find("50"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("vocabulary"), std::string::npos) << unknown;
  EXPECT_THROW(bert->forward_tokens(formatted({7, -3}, 6), {}), InputError);
  EXPECT_THROW(bert->forward_tokens(formatted({7, 8}, 6), torch::full({1, 6}, 2, torch::kLong)), InputError);
  EXPECT_THROW(bert->forward_tokens(formatted({7, 8}, 6), torch::zeros({1, 5}, torch::kLong)), InputError);
  EXPECT_THROW(bert->forward_tokens(torch::ones({2, 4}), {}), InputError);  // float ids
  EXPECT_THROW(bert->forward_tokens(torch::ones({4}, torch::kLong), {}), InputError);
}

TEST(ModelsBert, PooledForwardReadsAPairsSecondTextAsSegmentOne) {
  // [CLS] 7 8 [SEP] 9 10 [SEP] [PAD]: B (9 10 and its [SEP]) is segment 1; a single text is all 0.
  const std::vector<int64_t> row{text::kCls, 7, 8, text::kSep, 9, 10, text::kSep, text::kPad};
  auto pair = torch::tensor(row, torch::kLong).unsqueeze(0);
  auto segments = torch::tensor(std::vector<int64_t>{0, 0, 0, 0, 1, 1, 1, 0}, torch::kLong).unsqueeze(0);
  EXPECT_TRUE(torch::equal(TokenEncoder::segments_from_ids(pair), segments));
  auto single = formatted({7, 8, 9}, 8);
  EXPECT_EQ(TokenEncoder::segments_from_ids(single).sum().item<int64_t>(), 0);

  auto bert = make_bert(bert_config("bert-tiny", 50, 16, 64));
  bert->eval();
  EXPECT_TRUE(torch::allclose(bert->forward(pair), bert->forward_tokens(pair, segments).select(1, 0)));
  // The segment embedding matters: reading B as segment 0 gives another [CLS] state.
  EXPECT_FALSE(torch::allclose(bert->forward(pair), bert->forward_tokens(pair, {}).select(1, 0)));
}

TEST(ModelsBert, MeanPoolingAveragesTheRealPositionsOnly) {
  torch::manual_seed(5);
  EncoderConfig config = bert_config("bert-tiny", 50, 24, 64);
  config.pooling = "mean";
  auto bert = make_bert(config);
  bert->eval();
  const std::vector<int64_t> tokens{7, 12, 9, 33};
  const int64_t real = static_cast<int64_t>(tokens.size()) + 2;
  auto alone = formatted(tokens, real);
  // By hand: the mean over [CLS] … [SEP] of the final states.
  auto expected = bert->forward_tokens(alone, {}).mean(1);
  EXPECT_LT((bert->forward(alone) - expected).abs().max().item<double>(), 1e-5);
  // Padding adds positions but does not move the mean.
  EXPECT_LT((bert->forward(formatted(tokens, 20)) - expected).abs().max().item<double>(), 1e-5);
  // And it is not the [CLS] state.
  EXPECT_GT((bert->forward(alone) - bert->forward_tokens(alone, {}).select(1, 0)).abs().max().item<double>(), 1e-3);

  config.pooling = "max";
  EXPECT_NE(error_of([&] { make_encoder(config); }).find("pooling"), std::string::npos);
  EncoderConfig image;
  image.pooling = "mean";
  EXPECT_NE(error_of([&] { make_encoder(image); }).find("pooling"), std::string::npos);
  // The checkpoint's JSON carries it; an old one without the key reads as cls.
  EXPECT_EQ(EncoderConfig::from_json(config.to_json()).pooling, "max");
  auto old = config.to_json();
  old.erase("pooling");
  EXPECT_EQ(EncoderConfig::from_json(old).pooling, "cls");
}

TEST(ModelsBert, DropoutActsInTrainingOnlyAndGradientReachesEveryParameter) {
  torch::manual_seed(4);
  auto bert = make_bert(bert_config("bert-tiny", 50, 16, 64));
  auto ids = torch::cat({formatted({7, 8, 9, 10, 11}, 9), formatted({20, 21, 22}, 9)});
  auto segments = torch::zeros_like(ids);
  segments[0].slice(0, 4, 7).fill_(1);
  bert->train();
  auto first = bert->forward_tokens(ids, segments);
  EXPECT_FALSE(torch::allclose(first, bert->forward_tokens(ids, segments)));  // BERT's dropout 0.1
  first.pow(2).sum().backward();
  for (const auto& item : bert->named_parameters()) {
    ASSERT_TRUE(item.value().grad().defined()) << item.key();
    EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
  }
  bert->eval();
  EXPECT_TRUE(torch::equal(bert->forward_tokens(ids, segments), bert->forward_tokens(ids, segments)));
}

TEST(ModelsBert, InitialisationFollowsBert) {
  torch::manual_seed(0);
  auto bert = make_bert(bert_config("bert-mini", 2000, 64));
  auto parameters = bert->named_parameters();
  // BERT's truncated normal(0.02): a ±2σ-truncated normal's std is 0.88σ.
  for (const char* name : {"token_embedding.weight", "blocks.0.qkv.weight", "blocks.3.fc1.weight"}) {
    EXPECT_NEAR(parameters[name].std().item<double>(), 0.02 * 0.88, 0.002) << name;
    EXPECT_LE(parameters[name].abs().max().item<double>(), 0.04 + 1e-6) << name;
  }
  EXPECT_LE(parameters["position_embedding.weight"].abs().max().item<double>(), 0.04 + 1e-6);
  EXPECT_EQ(parameters["blocks.1.fc2.bias"].abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(parameters["embedding_norm.weight"], torch::ones({256})));
  EXPECT_TRUE(torch::equal(parameters["blocks.2.norm2.weight"], torch::ones({256})));
  EXPECT_EQ(parameters["position_embedding.weight"].size(0), 64);
  EXPECT_EQ(parameters["segment_embedding.weight"].size(0), 2);
}

TEST(ModelsBert, Bf16AutocastMatchesFloat32) {
  torch::manual_seed(1);
  auto bert = make_bert(bert_config("bert-tiny", 50, 16));
  bert->eval();
  auto ids = torch::cat({formatted({7, 8, 9, 10, 11, 12}, 10), formatted({20, 21}, 10)});
  auto reference = bert->forward_tokens(ids, {});
  torch::Tensor mixed;
  {
    AutocastGuard autocast(torch::kCPU, true);
    mixed = bert->forward_tokens(ids, {});
  }
  ASSERT_TRUE(torch::isfinite(mixed).all().item<bool>());
  EXPECT_GT(torch::cosine_similarity(mixed.to(torch::kFloat32).flatten(0, 1), reference.flatten(0, 1), 1)
                .min()
                .item<double>(),
            0.99);
}

// softmax(QKᵀ/√d)V one query at a time, in double, skipping padded keys.
torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const torch::Tensor& padding) {
  const int64_t batch = q.size(0), heads = q.size(1), length = q.size(2), head_dim = q.size(3);
  auto out = torch::zeros(q.sizes(), torch::kFloat64);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t i = 0; i < length; ++i) {
        std::vector<double> scores(length, 0.0);
        double top = -1e300, total = 0;
        for (int64_t j = 0; j < length; ++j) {
          if (padding[b][j].item<bool>()) continue;
          for (int64_t d = 0; d < head_dim; ++d)
            scores[j] += q[b][h][i][d].item<double>() * k[b][h][j][d].item<double>();
          scores[j] /= std::sqrt(static_cast<double>(head_dim));
          top = std::max(top, scores[j]);
        }
        std::vector<double> weights(length, 0.0);
        for (int64_t j = 0; j < length; ++j) {
          if (padding[b][j].item<bool>()) continue;
          weights[j] = std::exp(scores[j] - top);
          total += weights[j];
        }
        for (int64_t d = 0; d < head_dim; ++d) {
          double value = 0;
          for (int64_t j = 0; j < length; ++j) value += weights[j] / total * v[b][h][j][d].item<double>();
          out[b][h][i][d] = value;
        }
      }
    }
  }
  return out;
}

TEST(ModelsTransformer, MaskedAttentionMatchesANaiveLoop) {
  torch::manual_seed(2);
  auto q = torch::randn({2, 2, 5, 3}), k = torch::randn({2, 2, 5, 3}), v = torch::randn({2, 2, 5, 3});
  auto padding = torch::tensor({{false, false, false, true, true}, {false, false, false, false, false}});
  auto out = pretext::scaled_dot_product_attention(q, k, v, padding);
  EXPECT_LT((out.to(torch::kFloat64) - reference_attention(q, k, v, padding)).abs().max().item<double>(), 1e-5);
  auto unmasked = pretext::scaled_dot_product_attention(q, k, v, {});
  EXPECT_LT((unmasked.to(torch::kFloat64) - reference_attention(q, k, v, torch::zeros({2, 5}, torch::kBool)))
                .abs()
                .max()
                .item<double>(),
            1e-5);
  // A sequence that is padding throughout gets finite (uniform) weights, not NaNs.
  auto all_padding = torch::ones({2, 5}, torch::kBool);
  auto uniform = pretext::scaled_dot_product_attention(q, k, v, all_padding);
  EXPECT_TRUE(torch::isfinite(uniform).all().item<bool>());
  EXPECT_TRUE(torch::allclose(uniform, v.mean(2, /*keepdim=*/true).expand_as(v), 1e-5, 1e-5));
  EXPECT_THROW(pretext::scaled_dot_product_attention(q, k, v, torch::zeros({2, 4}, torch::kBool)), ConfigError);
}

TEST(ModelsTransformer, PostNormBlockIsLayerNormAfterEachResidualSum) {
  torch::manual_seed(6);
  TransformerBlock block(TransformerBlockOptions(8, 2).norm_first(false).norm_eps(1e-12));
  block->eval();
  auto x = torch::randn({2, 4, 8});
  auto parameters = block->named_parameters();
  auto linear = [&](const torch::Tensor& input, const std::string& name) {
    return torch::matmul(input, parameters[name + ".weight"].t()) + parameters[name + ".bias"];
  };
  auto layer_norm = [](const torch::Tensor& input) {
    auto mean = input.mean(-1, true);
    auto variance = (input - mean).pow(2).mean(-1, true);
    return (input - mean) / (variance + 1e-12).sqrt();  // weight 1, bias 0 at initialisation
  };
  // By hand: heads of 4 dims over the qkv projection, then LN(x + attn), LN(h + MLP(h)).
  auto qkv = linear(x, "qkv").view({2, 4, 3, 2, 4}).permute({2, 0, 3, 1, 4});
  auto attention = torch::softmax(torch::matmul(qkv[0], qkv[1].transpose(-2, -1)) / 2.0, -1);
  auto heads = torch::matmul(attention, qkv[2]).transpose(1, 2).reshape({2, 4, 8});
  auto h = layer_norm(x + linear(heads, "proj"));
  auto expected = layer_norm(h + linear(torch::gelu(linear(h, "fc1")), "fc2"));
  EXPECT_LT((block->forward(x) - expected).abs().max().item<double>(), 1e-5);
}

}  // namespace
}  // namespace pretext
