#include "pretext/models/encoder.h"

#include "pretext/core/error.h"
#include "pretext/core/options.h"
#include "pretext/models/convnet.h"
#include "pretext/models/resnet.h"
#include "pretext/models/vit.h"

namespace pretext {

nlohmann::json EncoderConfig::to_json() const {
  return nlohmann::json{{"name", name},   {"in_channels", in_channels}, {"image_size", image_size},
                        {"stem", stem},   {"width", width},             {"patch_size", patch_size},
                        {"depth", depth}};
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
      .read("depth", config.depth);
  reader.finish();
  return config;
}

EncoderConfig EncoderConfig::resolved() const {
  EncoderConfig out = *this;
  if (out.width == 0 && out.name == "convnet") out.width = ConvNetEncoder::kDefaultWidth;
  if (out.width == 0 && out.name.rfind("resnet", 0) == 0) out.width = ResNetEncoder::kDefaultWidth;
  if (out.stem == "auto" && out.name.rfind("resnet", 0) == 0) out.stem = out.image_size <= 64 ? "small" : "imagenet";
  if (is_vit_name(out.name)) {
    const VitArchitecture architecture = vit_architecture(out);  // throws ConfigError naming the field
    out.width = architecture.dim;
    out.patch_size = architecture.patch_size;
    out.depth = architecture.depth;
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
    return builtins;
  }();
  return registry;
}

EncoderPtr make_encoder(const EncoderConfig& config) {
  PRETEXT_CHECK(config.in_channels == 1 || config.in_channels == 3, ConfigError,
                "encoder option 'in_channels' must be 1 or 3, got ", config.in_channels);
  PRETEXT_CHECK(config.image_size > 0, ConfigError, "encoder option 'image_size' must be positive, got ",
                config.image_size);
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
  EncoderPtr encoder = encoder_registry().get(config.name).factory(config);
  PRETEXT_CHECK(encoder != nullptr, ConfigError, "encoder '", config.name, "' factory returned no encoder");
  return encoder;
}

}  // namespace pretext
