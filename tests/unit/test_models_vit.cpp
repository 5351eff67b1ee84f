#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "pretext/core/error.h"
#include "pretext/core/runtime.h"
#include "pretext/models/encoder.h"
#include "pretext/models/vit.h"

namespace pretext {
namespace {

EncoderConfig vit_config(const std::string& name, int64_t channels, int64_t size, int64_t depth = 0,
                         int64_t patch_size = 0, int64_t width = 0) {
  EncoderConfig config;
  config.name = name;
  config.in_channels = channels;
  config.image_size = size;
  config.depth = depth;
  config.patch_size = patch_size;
  config.width = width;
  return config;
}

std::string config_error(const EncoderConfig& config) {
  try {
    make_encoder(config);
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(ModelsVit, OutputShapesForBothSizes) {
  struct Case {
    std::string name;
    int64_t dim, heads;
  };
  for (const Case& c : {Case{"vit-tiny", 192, 3}, Case{"vit-small", 384, 6}}) {
    for (int64_t channels : {1, 3}) {
      EncoderPtr encoder = make_encoder(vit_config(c.name, channels, 28, /*depth=*/2));
      auto* vit = dynamic_cast<VitEncoder*>(encoder.get());
      ASSERT_NE(vit, nullptr);
      EXPECT_EQ(encoder->dim(), c.dim);
      EXPECT_EQ(vit->architecture().heads, c.heads);
      EXPECT_EQ(vit->patch_size(), 4);
      EXPECT_EQ(vit->grid_size(), 7);
      EXPECT_FALSE(encoder->prefers_channels_last());
      EXPECT_EQ(encoder->forward(torch::rand({3, channels, 28, 28})).sizes(), (std::vector<int64_t>{3, c.dim}));
      EXPECT_EQ(vit->tokens(torch::rand({2, channels, 28, 28})).sizes(), (std::vector<int64_t>{2, 49, c.dim}));
    }
  }
  // The sizes' full depth: DeiT's 12 blocks.
  EncoderPtr tiny = make_encoder(vit_config("vit-tiny", 1, 16));
  EXPECT_EQ(dynamic_cast<VitEncoder&>(*tiny).architecture().depth, 12);
  EXPECT_EQ(tiny->forward(torch::rand({2, 1, 16, 16})).sizes(), (std::vector<int64_t>{2, 192}));
}

TEST(ModelsVit, AcceptsOtherImageSizesDivisibleByThePatch) {
  // DINO's local crops: a model built for 28×28 also takes 12×12 and 32×32 views.
  EncoderPtr encoder = make_encoder(vit_config("vit-tiny", 1, 28, /*depth=*/2));
  auto& vit = dynamic_cast<VitEncoder&>(*encoder);
  for (int64_t side : {4, 12, 20, 32}) {
    EXPECT_EQ(encoder->forward(torch::rand({2, 1, side, side})).sizes(), (std::vector<int64_t>{2, 192})) << side;
    EXPECT_EQ(vit.tokens(torch::rand({1, 1, side, side})).size(1), (side / 4) * (side / 4)) << side;
  }
  EXPECT_EQ(encoder->forward(torch::rand({1, 1, 12, 20})).sizes(), (std::vector<int64_t>{1, 192}));
  try {
    encoder->forward(torch::rand({1, 1, 18, 18}));
    FAIL() << "an 18×18 image with 4×4 patches was accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("18"), std::string::npos) << error.what();
  }
  EXPECT_THROW(encoder->forward(torch::rand({1, 3, 28, 28})), ConfigError);  // wrong channel count
}

TEST(ModelsVit, PatchSizeDefaultsAndValidation) {
  EXPECT_EQ(default_patch_size(28), 4);
  EXPECT_EQ(default_patch_size(32), 4);
  EXPECT_EQ(default_patch_size(64), 8);
  EXPECT_EQ(default_patch_size(96), 8);
  EXPECT_EQ(default_patch_size(224), 16);
  EXPECT_EQ(vit_architecture(vit_config("vit-tiny", 3, 64)).patch_size, 8);
  EXPECT_EQ(vit_architecture(vit_config("vit-tiny", 3, 28, 0, 7)).patch_size, 7);

  // An explicit patch that does not divide the image, and an auto one that does not either.
  std::string message = config_error(vit_config("vit-tiny", 1, 28, 2, 8));
  EXPECT_NE(message.find("patch_size"), std::string::npos) << message;
  EXPECT_NE(message.find("28"), std::string::npos) << message;
  message = config_error(vit_config("vit-small", 1, 30, 2));
  EXPECT_NE(message.find("patch_size"), std::string::npos) << message;
  EXPECT_NE(message.find("auto"), std::string::npos) << message;
  message = config_error(vit_config("vit-tiny", 1, 28, 2, -4));
  EXPECT_NE(message.find("patch_size"), std::string::npos) << message;
  message = config_error(vit_config("vit-tiny", 1, 28, -1));
  EXPECT_NE(message.find("depth"), std::string::npos) << message;
  // resolved() checks too, so a pretraining run fails before it starts.
  EXPECT_THROW(vit_config("vit-tiny", 1, 28, 2, 8).resolved(), ConfigError);
  // The convolutional encoders have no patches or depth to set.
  EncoderConfig convnet = vit_config("convnet", 1, 28, 4);
  message = config_error(convnet);
  EXPECT_NE(message.find("depth"), std::string::npos) << message;
}

TEST(ModelsVit, WidthOverridesTheDimWithSixtyFourDimensionalHeads) {
  EXPECT_EQ(vit_architecture(vit_config("vit-tiny", 1, 28, 0, 0, 128)).heads, 2);
  EXPECT_EQ(vit_architecture(vit_config("vit-tiny", 1, 28, 0, 0, 32)).heads, 1);
  EXPECT_EQ(vit_architecture(vit_config("vit-small", 1, 28, 0, 0, 384)).heads, 6);
  EXPECT_EQ(vit_architecture(vit_config("vit-small", 1, 28, 0, 0, 256)).heads, 4);
  EncoderPtr narrow = make_encoder(vit_config("vit-tiny", 1, 28, 1, 0, 96));
  EXPECT_EQ(narrow->dim(), 96);
  EXPECT_EQ(narrow->forward(torch::rand({2, 1, 28, 28})).sizes(), (std::vector<int64_t>{2, 96}));
  // 90: one head, but not divisible by 4 for the sin-cos positions.
  std::string message = config_error(vit_config("vit-tiny", 1, 28, 1, 0, 90));
  EXPECT_NE(message.find("width"), std::string::npos) << message;
}

TEST(ModelsVit, ResolvedConfigWritesTheArchitectureOut) {
  EncoderConfig resolved = vit_config("vit-small", 3, 64).resolved();
  EXPECT_EQ(resolved.width, 384);
  EXPECT_EQ(resolved.patch_size, 8);
  EXPECT_EQ(resolved.depth, 12);
  EncoderConfig back = EncoderConfig::from_json(resolved.to_json());
  EXPECT_EQ(back.to_json(), resolved.to_json());
  EXPECT_EQ(back.patch_size, 8);
  EXPECT_EQ(back.depth, 12);
  // Checkpoints written before these fields existed still read (the defaults: auto).
  EncoderConfig old = EncoderConfig::from_json(nlohmann::json{{"name", "vit-tiny"}, {"width", 192}});
  EXPECT_EQ(old.patch_size, 0);
  EXPECT_EQ(old.depth, 0);
  // The resolved config builds the same network as the original one.
  EncoderConfig config = vit_config("vit-tiny", 1, 28, 2);
  torch::manual_seed(4);
  EncoderPtr first = make_encoder(config);
  torch::manual_seed(4);
  EncoderPtr second = make_encoder(config.resolved());
  auto x = torch::rand({2, 1, 28, 28});
  EXPECT_TRUE(torch::equal(first->forward(x), second->forward(x)));
}

TEST(ModelsVit, GradientReachesEveryParameter) {
  for (const EncoderConfig& config : {vit_config("vit-tiny", 1, 16, 2), vit_config("vit-small", 3, 16, 1, 8)}) {
    EncoderPtr encoder = make_encoder(config);
    encoder->forward(torch::rand({3, config.in_channels, 16, 16})).square().sum().backward();
    int64_t checked = 0;
    for (const auto& item : encoder->named_parameters()) {
      ASSERT_TRUE(item.value().grad().defined()) << config.name << " " << item.key();
      EXPECT_GT(item.value().grad().abs().sum().item<float>(), 0.0f) << config.name << " " << item.key();
      ++checked;
    }
    // patch embedding (2) + class token + per block (2 norms × 2, qkv 2, proj 2, fc1 2, fc2 2) + norm (2)
    EXPECT_EQ(checked, 3 + 12 * config.depth + 2) << config.name;
    // The sin-cos positions are a buffer, not trained.
    EXPECT_EQ(encoder->named_parameters().find("position_table"), nullptr);
    EXPECT_NE(encoder->named_buffers().find("position_table"), nullptr);
  }
}

TEST(ModelsVit, PositionInterpolationIsTheIdentityAtTheNativeSize) {
  EncoderPtr encoder = make_encoder(vit_config("vit-tiny", 1, 28, 1));
  auto& vit = dynamic_cast<VitEncoder&>(*encoder);
  const auto native = vit.position_embedding(7, 7);
  EXPECT_EQ(native.sizes(), (std::vector<int64_t>{49, 192}));
  // Interpolating the native grid onto itself changes nothing, to the bit.
  EXPECT_TRUE(torch::equal(sincos_position_embedding(192, 7, 7, 7, 7), native));
  EXPECT_TRUE(torch::equal(sincos_position_embedding(192, 7, 7), native));
  // Row r, column c: the first half encodes r, the second c; position (0,0) is [0…0, 1…1] per half.
  auto origin = native[0];
  EXPECT_TRUE(torch::allclose(origin.slice(0, 0, 48), torch::zeros({48})));
  EXPECT_TRUE(torch::allclose(origin.slice(0, 48, 96), torch::ones({48})));
  EXPECT_NEAR(native[1][96].item<double>(), std::sin(1.0), 1e-6);  // column 1, highest frequency
  EXPECT_NEAR(native[7][0].item<double>(), std::sin(1.0), 1e-6);   // row 1

  // A 3×3 grid (a 12×12 crop) samples the native grid at rows/columns 2/3, 3, 16/3: each of its
  // positions is most similar to the nearest native one.
  const auto small = vit.position_embedding(3, 3);
  EXPECT_EQ(small.sizes(), (std::vector<int64_t>{9, 192}));
  const int64_t nearest[3] = {1, 3, 5};
  auto similarity = torch::matmul(small, native.t());  // [9, 49]
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 3; ++c) {
      EXPECT_EQ(similarity[r * 3 + c].argmax().item<int64_t>(), nearest[r] * 7 + nearest[c]) << r << "," << c;
    }
  }
  // The centre patch of an odd grid sits exactly on the native centre.
  EXPECT_TRUE(torch::allclose(small[4], native[3 * 7 + 3], 1e-5, 1e-5));
}

TEST(ModelsVit, PatchifyLayoutAndRoundTrip) {
  auto images = torch::arange(2 * 3 * 8 * 12, torch::kFloat32).reshape({2, 3, 8, 12});
  auto patches = patchify(images, 4);
  ASSERT_EQ(patches.sizes(), (std::vector<int64_t>{2, 6, 48}));
  // Naive layout check: patch n = (gy, gx) row-major; inside it (row, column, channel).
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t n = 0; n < 6; ++n) {
      const int64_t gy = n / 3, gx = n % 3;
      for (int64_t i = 0; i < 4; ++i) {
        for (int64_t j = 0; j < 4; ++j) {
          for (int64_t c = 0; c < 3; ++c) {
            ASSERT_EQ(patches[b][n][(i * 4 + j) * 3 + c].item<float>(),
                      images[b][c][gy * 4 + i][gx * 4 + j].item<float>());
          }
        }
      }
    }
  }
  EXPECT_TRUE(torch::equal(unpatchify(patches, 4, 3, 2, 3), images));
  auto gray = torch::rand({3, 1, 28, 28});
  EXPECT_TRUE(torch::equal(unpatchify(patchify(gray, 7), 7, 1, 4, 4), gray));
  EXPECT_THROW(patchify(gray, 5), ConfigError);
  EXPECT_THROW(unpatchify(patchify(gray, 7), 7, 1, 3, 3), ConfigError);
}

TEST(ModelsVit, InitialisationFollowsTimm) {
  torch::manual_seed(0);
  EncoderPtr encoder = make_encoder(vit_config("vit-small", 3, 32, 2));
  auto parameters = encoder->named_parameters();
  auto qkv = parameters["blocks.0.qkv.weight"];
  EXPECT_NEAR(qkv.std().item<double>(), 0.02 * 0.88, 0.002);  // a ±2σ-truncated normal's std is 0.88σ
  EXPECT_LE(qkv.abs().max().item<double>(), 0.04 + 1e-6);
  EXPECT_EQ(parameters["blocks.1.fc2.bias"].abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(parameters["norm.weight"], torch::ones({384})));
  EXPECT_EQ(parameters["blocks.0.norm1.bias"].abs().sum().item<double>(), 0.0);
  EXPECT_LE(parameters["cls_token"].abs().max().item<double>(), 0.04 + 1e-6);
  EXPECT_GT(parameters["cls_token"].abs().max().item<double>(), 0.0);
}

TEST(ModelsVit, Bf16AutocastMatchesFloat32) {
  torch::manual_seed(1);
  EncoderPtr encoder = make_encoder(vit_config("vit-tiny", 1, 16, 2));
  auto x = torch::rand({4, 1, 16, 16});
  auto reference = encoder->forward(x);
  torch::Tensor mixed;
  {
    AutocastGuard autocast(torch::kCPU, true);
    mixed = encoder->forward(x);
  }
  ASSERT_TRUE(torch::isfinite(mixed).all().item<bool>());
  // The output is LayerNorm-ed (unit scale); bf16 products keep it within a few hundredths.
  EXPECT_LT((mixed.to(torch::kFloat32) - reference).abs().max().item<double>(), 0.15);
  EXPECT_GT(torch::cosine_similarity(mixed.to(torch::kFloat32), reference, 1).min().item<double>(), 0.99);
}

TEST(ModelsVit, RegisteredByName) {
  for (const char* name : {"vit-tiny", "vit-small"}) {
    ASSERT_TRUE(encoder_registry().contains(name)) << name;
    EXPECT_FALSE(encoder_registry().get(name).description.empty());
    EXPECT_TRUE(is_vit_name(name));
  }
  EXPECT_FALSE(is_vit_name("convnet"));
  EXPECT_THROW(vit_architecture(vit_config("convnet", 1, 28)), ConfigError);
}

}  // namespace
}  // namespace pretext
