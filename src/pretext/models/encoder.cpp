#include "pretext/models/encoder.h"

#include "pretext/core/error.h"
#include "pretext/core/options.h"
#include "pretext/data/text_batch.h"
#include "pretext/models/audio_encoder.h"
#include "pretext/models/bert.h"
#include "pretext/models/convnet.h"
#include "pretext/models/resnet.h"
#include "pretext/models/video_encoder.h"
#include "pretext/models/vit.h"

namespace pretext {

nlohmann::json EncoderConfig::to_json() const {
  return nlohmann::json{{"name", name},   {"in_channels", in_channels}, {"image_size", image_size},
                        {"stem", stem},   {"width", width},             {"patch_size", patch_size},
                        {"depth", depth}, {"vocab_size", vocab_size}, {"max_length", max_length},
                        {"dropout", dropout}, {"pooling", pooling},
                        {"mels", mels}};
}

TokenEncoder::TokenEncoder(const std::string& name, const std::string& pooling) : Encoder(name), pooling_(pooling) {
  PRETEXT_CHECK(pooling_ == "cls" || pooling_ == "mean", ConfigError,
                "encoder option 'pooling' must be cls or mean, got '", pooling_, "'");
}

torch::Tensor TokenEncoder::pool(const torch::Tensor& hidden, const torch::Tensor& ids) const {
  if (pooling_ == "cls") return hidden.select(1, 0);
  auto weights = ids.ne(text::kPad).to(hidden.scalar_type()).unsqueeze(2);  // [B, T, 1]
  return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1);
}

torch::Tensor TokenEncoder::segments_from_ids(const torch::Tensor& ids) {
  if (!ids.defined()) return {};
  // Separators up to and including each position; a position is in B once one came before it.
  auto separators = ids.eq(text::kSep).to(torch::kLong);
  auto before = separators.cumsum(1) - separators;
  return before.gt(0).logical_and(ids.ne(text::kPad)).to(torch::kLong);
}

EncoderConfig EncoderConfig::from_json(const nlohmann::json& values) {
  EncoderConfig config;
  OptionReader reader(values, "encoder");
  reader.read("name", config.name)
      .read("in_channels", config.in_channels)
      .read("image_size", config.image_size)
      .read("stem", config.stem)
      .read("width", config.width)
      .read("patch_size", config.patch_size)
      .read("depth", config.depth)
      .read("vocab_size", config.vocab_size)
      .read("max_length", config.max_length)
      .read("dropout", config.dropout)
      .read("pooling", config.pooling)
      .read("mels", config.mels);
  reader.finish();
  return config;
}

EncoderConfig EncoderConfig::resolved() const {
  EncoderConfig out = *this;
  if (out.width == 0 && out.name == "convnet") out.width = ConvNetEncoder::kDefaultWidth;
  if (out.width == 0 && out.name.rfind("resnet", 0) == 0) out.width = ResNetEncoder::kDefaultWidth;
  if (out.stem == "auto" && out.name.rfind("resnet", 0) == 0) out.stem = out.image_size <= 64 ? "small" : "imagenet";
  if (out.width == 0 && out.name == "audio-transformer") out.width = AudioTransformerEncoder::kDefaultWidth;
  if (out.depth == 0 && out.name == "audio-transformer") out.depth = AudioTransformerEncoder::kDefaultDepth;
  if (out.width == 0 && out.name == "video-cnn3d") out.width = Video3dEncoder::kDefaultWidth;
  if (is_vit_name(out.name)) {
    const VitArchitecture architecture = vit_architecture(out);  // throws ConfigError naming the field
    out.width = architecture.dim;
    out.patch_size = architecture.patch_size;
    out.depth = architecture.depth;
  }
  if (is_bert_name(out.name)) {
    const BertArchitecture architecture = bert_architecture(out);  // throws ConfigError naming the field
    out.width = architecture.dim;
    out.depth = architecture.depth;
    out.dropout = architecture.dropout;
  }
  return out;
}

Registry<EncoderFactory>& encoder_registry() {
  static Registry<EncoderFactory> registry = [] {
    Registry<EncoderFactory> builtins("encoder");
    builtins.add(
        "convnet", [](const EncoderConfig& config) { return std::make_shared<ConvNetEncoder>(config); },
        "small CNN: 6 conv layers (w, 2w, 4w channels) + 1×1 expansion, fast on a CPU; dim 16·width (512)");
    builtins.add(
        "resnet18", [](const EncoderConfig& config) { return std::make_shared<ResNetEncoder>(config, 18); },
        "ResNet-18, basic blocks [2,2,2,2]; dim 8·width (512)");
    builtins.add(
        "resnet34", [](const EncoderConfig& config) { return std::make_shared<ResNetEncoder>(config, 34); },
        "ResNet-34, basic blocks [3,4,6,3]; dim 8·width (512)");
    builtins.add(
        "resnet50", [](const EncoderConfig& config) { return std::make_shared<ResNetEncoder>(config, 50); },
        "ResNet-50, bottleneck blocks [3,4,6,3]; dim 32·width (2048)");
    builtins.add(
        "vit-tiny", [](const EncoderConfig& config) { return std::make_shared<VitEncoder>(config); },
        "ViT-Tiny (DeiT): dim 192 (= width), 12 blocks (depth), 3 heads; patch 4/8/16 by image size");
    builtins.add(
        "vit-small", [](const EncoderConfig& config) { return std::make_shared<VitEncoder>(config); },
        "ViT-Small (DeiT): dim 384 (= width), 12 blocks (depth), 6 heads; patch 4/8/16 by image size");
    builtins.add(
        "bert-tiny", [](const EncoderConfig& config) { return std::make_shared<BertEncoder>(config); },
        "BERT-Tiny (Turc et al. 2019): dim 128 (= width), 2 layers (depth), 2 heads; text");
    builtins.add(
        "bert-mini", [](const EncoderConfig& config) { return std::make_shared<BertEncoder>(config); },
        "BERT-Mini (Turc et al. 2019): dim 256 (= width), 4 layers (depth), 4 heads; text");
    builtins.add(
        "bert-small", [](const EncoderConfig& config) { return std::make_shared<BertEncoder>(config); },
        "BERT-Small (Turc et al. 2019): dim 512 (= width), 4 layers (depth), 8 heads; text");
    builtins.add(
        "audio-transformer",
        [](const EncoderConfig& config) { return std::make_shared<AudioTransformerEncoder>(config); },
        "speech: 2 stride-2 conv layers over log-mels + Transformer (depth 4), mean of valid steps; dim 128 (= width)");
    builtins.add(
        "video-cnn3d", [](const EncoderConfig& config) { return std::make_shared<Video3dEncoder>(config); },
        "video: small 3-D CNN (4 stages of 3×3×3 conv, w…8w channels) + 1×1×1 expansion; dim 16·width (256)");
    return builtins;
  }();
  return registry;
}

EncoderPtr make_encoder(const EncoderConfig& config) {
  PRETEXT_CHECK(config.vocab_size >= 0, ConfigError, "encoder option 'vocab_size' must be ≥ 0, got ",
                config.vocab_size);
  const bool text = config.vocab_size > 0;
  PRETEXT_CHECK(text || config.in_channels == 1 || config.in_channels == 3, ConfigError,
                "encoder option 'in_channels' must be 1 or 3, got ", config.in_channels);
  const bool audio = config.mels > 0;
  PRETEXT_CHECK(text || audio || config.image_size > 0, ConfigError, "encoder option 'image_size' must be positive, got ",
                config.image_size);
  PRETEXT_CHECK(!text || config.max_length >= 4, ConfigError,
                "encoder option 'max_length' must be ≥ 4 tokens ([CLS] A [SEP] B [SEP]), got ", config.max_length);
  PRETEXT_CHECK(config.stem == "auto" || config.stem == "small" || config.stem == "imagenet", ConfigError,
                "encoder option 'stem' must be auto, small or imagenet, got '", config.stem, "'");
  PRETEXT_CHECK(config.width >= 0, ConfigError, "encoder option 'width' must be ≥ 0 (0 = the default), got ",
                config.width);
  PRETEXT_CHECK(config.patch_size >= 0, ConfigError, "encoder option 'patch_size' must be ≥ 0 (0 = auto), got ",
                config.patch_size);
  PRETEXT_CHECK(config.depth >= 0, ConfigError, "encoder option 'depth' must be ≥ 0 (0 = the default), got ",
                config.depth);
  // The built-in convolutional encoders have no patches, and their depth is in their name.
  const bool convolutional = config.name == "convnet" || config.name == "resnet18" || config.name == "resnet34" ||
                             config.name == "resnet50";
  PRETEXT_CHECK(!convolutional || (config.patch_size == 0 && config.depth == 0), ConfigError,
                "encoder options 'patch_size' and 'depth' apply to ViT encoders (vit-tiny, vit-small), not '",
                config.name, "'");
  PRETEXT_CHECK(config.dropout == -1 || text, ConfigError, "encoder option 'dropout' applies to text encoders, not '",
                config.name, "'");
  PRETEXT_CHECK(config.pooling == "cls" || text, ConfigError, "encoder option 'pooling' applies to text encoders, not '",
                config.name, "'");
  EncoderPtr encoder = encoder_registry().get(config.name).factory(config);
  PRETEXT_CHECK(encoder != nullptr, ConfigError, "encoder '", config.name, "' factory returned no encoder");
  // Channels-last inputs want channels-last kernels: with NCHW kernels oneDNN reorders them on
  // every call. ConvNet on Fashion-MNIST here: features 944 → 1,380 images/s, SimCLR training
  // 155 → 212 images/s (bench/simclr.sh, docs/PERFORMANCE.md).
  if (encoder->prefers_channels_last()) {
    torch::NoGradGuard no_grad;
    for (auto& parameter : encoder->parameters()) {
      if (parameter.dim() == 4) parameter.set_data(parameter.contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
  return encoder;
}

}  // namespace pretext
