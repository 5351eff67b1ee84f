// Encoder: maps an input to a pooled representation [B, dim()]. It is what pretraining trains
// and what downstream protocols keep. Built by name from an EncoderConfig, which checkpoints
// store so that `evaluate` can rebuild the same network.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>

#include "pretext/core/registry.h"

namespace pretext {

struct EncoderConfig {
  // convnet | resnet18 | resnet34 | resnet50 | vit-tiny | vit-small | bert-* | audio-transformer |
  // video-cnn3d | a registered name
  std::string name = "convnet";
  int64_t in_channels = 1;
  int64_t image_size = 28;
  // ResNet stem for small images (CIFAR-style 3×3 stride-1 conv, no max-pool); "auto" picks it
  // for images of 64 pixels or less.
  std::string stem = "auto";  // auto | small | imagenet
  // Base channel count; 0 = the encoder's default. For a ViT: the embedding dim, with
  // heads = round(width / 64), at least 1 (DeiT's 64-dimensional heads).
  int64_t width = 0;
  // ViT only. Patch side; 0 = auto: 4 for images ≤ 32 px, 8 for ≤ 96, else 16. Must divide
  // image_size.
  int64_t patch_size = 0;
  // ViT and text encoders. Transformer blocks; 0 = the size's default (12 for vit-tiny and
  // vit-small).
  int64_t depth = 0;
  // Text encoders only (bert-*): the tokenizer's vocabulary (taken from it; 0 = an image
  // encoder) and the longest formatted input in tokens, [CLS] and [SEP]s included.
  int64_t vocab_size = 0;
  int64_t max_length = 128;
  // Text encoders only: the dropout rate on embeddings, sub-layer outputs and attention weights;
  // -1 = the model's default (BERT's 0.1). 0 suits short pretraining runs, which underfit.
  double dropout = -1;
  // Text encoders only: the pooled representation downstream protocols read. "cls": the [CLS]
  // position's final state (BERT; trained by next-sentence prediction); "mean": the mean of the
  // final states of the non-padding positions (Reimers & Gurevych 2019), which suits masked-LM
  // alone, where no loss reads [CLS].
  std::string pooling = "cls";
  // Audio encoders only: the log-mel bins of their input (taken from the front end; 0 = not an
  // audio encoder).
  int64_t mels = 0;

  nlohmann::json to_json() const;
  static EncoderConfig from_json(const nlohmann::json& values);  // throws ConfigError
  // The same config with the built-in encoders' defaults written out (width, stem; a ViT's
  // width, patch_size and depth), so that a
  // checkpoint rebuilds the same network even if a default changes later.
  EncoderConfig resolved() const;
};

class Encoder : public torch::nn::Module {
 public:
  explicit Encoder(const std::string& name) : torch::nn::Module(name) {}
  // x: float [B,C,H,W] → [B, dim()]
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  virtual int64_t dim() const = 0;
  // Whether inputs should be converted to channels-last memory format (convolutional encoders).
  virtual bool prefers_channels_last() const { return true; }
};

// An encoder of token sequences (text). Inputs are formatted as data/text_batch.h says:
// ids int64 [B, T ≤ max_length()] ([CLS] … [SEP], right-padded with text::kPad), segments int64
// [B, T] of 0/1 or undefined (all 0). Padding never affects the outputs at other positions.
class TokenEncoder : public Encoder {
 public:
  // pooling: "cls" or "mean" (EncoderConfig::pooling); ConfigError otherwise.
  TokenEncoder(const std::string& name, const std::string& pooling);
  // → float [B, T, dim()]: every position's final hidden state.
  virtual torch::Tensor forward_tokens(const torch::Tensor& ids, const torch::Tensor& segments) = 0;
  // The pooled representation [B, dim()] of forward_tokens' states, as the pooling says. Segments
  // come from the ids (segments_from_ids): a pair's [CLS] A [SEP] B [SEP] reads B as segment 1.
  torch::Tensor forward(const torch::Tensor& ids) override {
    return pool(forward_tokens(ids, segments_from_ids(ids)), ids);
  }
  // hidden [B, T, dim] and the ids it came from → [B, dim]; padding never counts.
  torch::Tensor pool(const torch::Tensor& hidden, const torch::Tensor& ids) const;
  const std::string& pooling() const { return pooling_; }
  // int64 [B, T]: 1 for the tokens after a row's first [SEP] (B, its [SEP]), 0 elsewhere (a single
  // text is segment 0 throughout; padding is 0); undefined `ids` gives undefined.
  static torch::Tensor segments_from_ids(const torch::Tensor& ids);
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_length() const = 0;
  bool prefers_channels_last() const override { return false; }

 private:
  std::string pooling_;
};

using EncoderPtr = std::shared_ptr<Encoder>;
using EncoderFactory = std::function<EncoderPtr(const EncoderConfig&)>;

// The encoders known by name. Built-ins are registered on first use; a user's encoder is added
// with encoder_registry().add("name", factory, "description").
Registry<EncoderFactory>& encoder_registry();
// Throws ConfigError for an unknown name (listing the known ones) or a bad config.
EncoderPtr make_encoder(const EncoderConfig& config);

}  // namespace pretext
