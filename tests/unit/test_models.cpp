#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <sstream>

#include "pretext/core/error.h"
#include "pretext/models/conv_bn.h"
#include "pretext/models/convnet.h"
#include "pretext/models/encoder.h"
#include "pretext/models/heads.h"
#include "pretext/models/resnet.h"

namespace pretext {
namespace {

EncoderConfig config_for(const std::string& name, int64_t channels, int64_t size, const std::string& stem,
                         int64_t width) {
  EncoderConfig config;
  config.name = name;
  config.in_channels = channels;
  config.image_size = size;
  config.stem = stem;
  config.width = width;
  return config;
}

std::set<std::string> parameter_names(const torch::nn::Module& module) {
  std::set<std::string> names;
  for (const auto& item : module.named_parameters()) names.insert(item.key());
  return names;
}

TEST(Models, ConvNetOutputShape) {
  for (int64_t channels : {1, 3}) {
    EncoderPtr encoder = make_encoder(config_for("convnet", channels, 28, "auto", 0));
    EXPECT_EQ(encoder->dim(), 512);
    torch::Tensor out = encoder->forward(torch::rand({2, channels, 28, 28}));
    EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 512}));

    EncoderPtr narrow = make_encoder(config_for("convnet", channels, 16, "auto", 8));
    EXPECT_EQ(narrow->dim(), 128);
    EXPECT_EQ(narrow->forward(torch::rand({3, channels, 16, 16})).sizes(), (std::vector<int64_t>{3, 128}));
  }
}

TEST(Models, ResNetOutputShapes) {
  struct Case {
    std::string name;
    int64_t width;
    int64_t dim;
  };
  for (const Case& c : {Case{"resnet18", 8, 64}, Case{"resnet34", 4, 32}, Case{"resnet50", 16, 512}}) {
    for (int64_t channels : {1, 3}) {
      for (const std::string stem : {"small", "imagenet", "auto"}) {
        EncoderPtr encoder = make_encoder(config_for(c.name, channels, 32, stem, c.width));
        EXPECT_EQ(encoder->dim(), c.dim) << c.name;
        torch::Tensor out = encoder->forward(torch::rand({2, channels, 32, 32}));
        EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, c.dim})) << c.name << " " << stem;
      }
    }
  }
  // Default width: the paper's dimensions.
  EXPECT_EQ(ResNetEncoder(config_for("resnet18", 3, 32, "auto", 0), 18).dim(), 512);
  EXPECT_EQ(ResNetEncoder(config_for("resnet50", 3, 32, "auto", 0), 50).dim(), 2048);
}

TEST(Models, StemFollowsImageSize) {
  auto stem_kernel = [](const EncoderConfig& config) {
    ResNetEncoder encoder(config, 18);
    return encoder.named_parameters()["stem.conv.weight"].size(2);
  };
  EXPECT_EQ(stem_kernel(config_for("resnet18", 3, 32, "auto", 4)), 3);
  EXPECT_EQ(stem_kernel(config_for("resnet18", 3, 64, "auto", 4)), 3);
  EXPECT_EQ(stem_kernel(config_for("resnet18", 3, 96, "auto", 4)), 7);
  EXPECT_EQ(stem_kernel(config_for("resnet18", 3, 32, "imagenet", 4)), 7);
  EXPECT_EQ(stem_kernel(config_for("resnet18", 3, 224, "small", 4)), 3);
}

TEST(Models, ChannelsLastInputGivesTheSameOutput) {
  for (const EncoderConfig& config :
       {config_for("convnet", 1, 28, "auto", 8), config_for("resnet18", 3, 32, "small", 8),
        config_for("resnet50", 3, 64, "imagenet", 8)}) {
    EncoderPtr encoder = make_encoder(config);
    EXPECT_TRUE(encoder->prefers_channels_last());
    torch::Tensor x = torch::rand({4, config.in_channels, config.image_size, config.image_size});
    for (bool training : {true, false}) {
      encoder->train(training);
      torch::Tensor contiguous = encoder->forward(x);
      torch::Tensor channels_last = encoder->forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
      // Different convolution kernels round differently; deep stacks of training-mode BN on a
      // batch of 4 amplify that to ~1e-4 relative.
      EXPECT_TRUE(torch::allclose(contiguous, channels_last, 1e-3, 1e-3))
          << config.name << " training " << training << " max difference "
          << (contiguous - channels_last).abs().max().item<float>() << " of " << contiguous.abs().max().item<float>();
    }
  }
}

// make_encoder stores convolution kernels channels-last for encoders that take channels-last
// inputs (oneDNN would reorder NCHW kernels on every call); the function is unchanged.
TEST(Models, ConvolutionKernelsAreChannelsLast) {
  EncoderPtr encoder = make_encoder(config_for("resnet18", 3, 16, "small", 4));
  int64_t kernels = 0;
  for (const auto& parameter : encoder->parameters()) {
    if (parameter.dim() != 4) continue;
    ++kernels;
    EXPECT_TRUE(parameter.is_contiguous(torch::MemoryFormat::ChannelsLast));
  }
  EXPECT_GT(kernels, 10);
  encoder->eval();
  torch::Tensor x = torch::rand({2, 3, 16, 16});
  torch::Tensor before = encoder->forward(x);
  {
    torch::NoGradGuard no_grad;
    for (auto& parameter : encoder->parameters()) parameter.set_data(parameter.contiguous());
  }
  EXPECT_TRUE(torch::allclose(before, encoder->forward(x), 1e-4, 1e-5));
  // ViTs take NCHW images (their patch embedding reshapes them): left as they are.
  EncoderPtr vit = make_encoder(config_for("vit-tiny", 3, 16, "auto", 64));
  for (const auto& parameter : vit->parameters()) {
    if (parameter.dim() == 4) {
      EXPECT_TRUE(parameter.is_contiguous());
    }
  }
}

// A Sequential that can sit inside another one (AnyModule needs a concrete forward).
class NestedImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Nested);

// Eval-mode BN folded into the convolution computes what the two layers compute; training mode
// is the two layers themselves.
TEST(Models, BatchNormFoldsIntoConvolutionInEvalMode) {
  namespace nn = torch::nn;
  torch::manual_seed(3);
  auto randomize = [](nn::BatchNorm2d& bn) {
    torch::NoGradGuard no_grad;
    bn->running_mean.normal_();
    bn->running_var.uniform_(0.5, 2.0);
    if (bn->options.affine()) {
      bn->weight.normal_();
      bn->bias.normal_();
    }
  };
  for (bool bias : {false, true}) {
    for (int64_t kernel : {1, 3}) {
      nn::Conv2d conv(nn::Conv2dOptions(3, 5, kernel).stride(2).padding(kernel / 2).bias(bias));
      nn::BatchNorm2d bn(nn::BatchNorm2dOptions(5).affine(kernel == 3));
      randomize(bn);
      auto x = torch::randn({2, 3, 9, 9}).contiguous(torch::MemoryFormat::ChannelsLast);
      bn->train();
      EXPECT_TRUE(torch::equal(conv_bn(*conv, *bn, x), bn->forward(conv->forward(x))));
      randomize(bn);  // training mode moved the running statistics
      bn->eval();
      auto expected = bn->forward(conv->forward(x));
      EXPECT_TRUE(torch::allclose(conv_bn(*conv, *bn, x), expected, 1e-4, 1e-5))
          << "bias " << bias << " kernel " << kernel;
    }
  }
  Nested inner(nn::Conv2d(nn::Conv2dOptions(4, 4, 3).padding(1)), nn::BatchNorm2d(4));
  nn::Sequential outer(nn::Conv2d(nn::Conv2dOptions(2, 4, 3).padding(1).bias(false)), nn::BatchNorm2d(4),
                       nn::ReLU(), inner, nn::MaxPool2d(nn::MaxPool2dOptions(2)), nn::BatchNorm2d(4));
  {
    torch::NoGradGuard no_grad;
    for (auto& buffer : outer->named_buffers()) {
      if (buffer.key().find("running_mean") != std::string::npos) buffer.value().normal_();
      if (buffer.key().find("running_var") != std::string::npos) buffer.value().uniform_(0.5, 2.0);
    }
  }
  outer->eval();
  auto x = torch::randn({2, 2, 8, 8});
  EXPECT_TRUE(torch::allclose(forward_folding_batch_norm(*outer, x), outer->forward(x), 1e-4, 1e-5));
}

// Gradients of every parameter and of the input after backward() of a fixed random weighting of `out`.
std::vector<torch::Tensor> gradients_of(const torch::Tensor& out, const torch::Tensor& x, torch::nn::Module& module) {
  torch::manual_seed(11);
  (out * torch::randn(out.sizes())).sum().backward();
  std::vector<torch::Tensor> grads{x.grad().clone()};
  for (const auto& parameter : module.parameters()) grads.push_back(parameter.grad().clone());
  return grads;
}

TEST(Models, BnReluConvMatchesTheThreeLayersInTraining) {
  namespace nn = torch::nn;
  for (int variant = 0; variant < 4; ++variant) {
    const bool bias = variant % 2 == 1, affine = variant < 2, channels_last = variant != 1;
    const int64_t kernel = variant == 2 ? 1 : 3, stride = variant == 3 ? 2 : 1;
    torch::manual_seed(variant);
    auto options = nn::BatchNorm2dOptions(4).affine(affine);
    if (variant == 3) options.momentum(c10::nullopt);  // cumulative running statistics
    nn::Sequential layers(nn::BatchNorm2d(options), nn::ReLU(),
                          nn::Conv2d(nn::Conv2dOptions(4, 6, kernel).stride(stride).padding(kernel / 2).bias(bias)));
    if (affine) {
      torch::NoGradGuard no_grad;
      layers[0]->as<nn::BatchNorm2d>()->weight.uniform_(0.5, 1.5);
      layers[0]->as<nn::BatchNorm2d>()->bias.normal_();
    }
    auto reference = std::dynamic_pointer_cast<nn::SequentialImpl>(layers->clone());
    torch::Tensor input = torch::randn({3, 4, 7, 7}) * 2 + 1;
    if (channels_last) input = input.contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor x = input.clone().requires_grad_(true), x_ref = input.clone().requires_grad_(true);

    for (int step = 0; step < 2; ++step) {  // twice: the running statistics and their count move alike
      x.mutable_grad() = torch::Tensor();
      x_ref.mutable_grad() = torch::Tensor();
      layers->zero_grad();
      reference->zero_grad();
      const torch::Tensor out =
          bn_relu_conv(*layers[0]->as<nn::BatchNorm2d>(), *layers[2]->as<nn::Conv2d>(), x);
      ASSERT_NE(out.grad_fn(), nullptr);
      EXPECT_NE(out.grad_fn()->name().find("BnReluConv"), std::string::npos) << out.grad_fn()->name();
      const torch::Tensor expected = reference->forward(x_ref);
      EXPECT_TRUE(torch::allclose(out, expected, 1e-5, 1e-5)) << "variant " << variant;
      const auto grads = gradients_of(out, x, *layers), expected_grads = gradients_of(expected, x_ref, *reference);
      ASSERT_EQ(grads.size(), expected_grads.size());
      for (size_t i = 0; i < grads.size(); ++i) {
        EXPECT_TRUE(torch::allclose(grads[i], expected_grads[i], 1e-4, 1e-5))
            << "variant " << variant << " gradient " << i << ": " << (grads[i] - expected_grads[i]).abs().max();
      }
      const auto buffers = layers->buffers(), expected_buffers = reference->buffers();
      for (size_t i = 0; i < buffers.size(); ++i) {
        EXPECT_TRUE(torch::allclose(buffers[i], expected_buffers[i], 1e-5, 1e-6)) << "variant " << variant;
      }
    }
  }
  // Where the fusion does not apply it is the three layers: eval mode, and no gradients.
  nn::BatchNorm2d bn(4);
  nn::Conv2d conv(nn::Conv2dOptions(4, 4, 3).padding(1));
  const torch::Tensor x = torch::randn({2, 4, 5, 5});
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(bn_relu_conv(*bn, *conv, x), conv->forward(bn->forward(x).relu())));
  }
  bn->eval();
  EXPECT_TRUE(torch::equal(bn_relu_conv(*bn, *conv, x), conv->forward(bn->forward(x).relu())));
}

TEST(Models, StemConvBnReluRecomputesItsConvolutionAlike) {
  namespace nn = torch::nn;
  for (bool bias : {false, true}) {
    torch::manual_seed(bias ? 1 : 2);
    nn::Sequential layers(nn::Conv2d(nn::Conv2dOptions(3, 8, 3).padding(1).stride(bias ? 2 : 1).bias(bias)),
                          nn::BatchNorm2d(8), nn::ReLU());
    auto reference = std::dynamic_pointer_cast<nn::SequentialImpl>(layers->clone());
    const torch::Tensor input = torch::randn({4, 3, 9, 9}).contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor x = input.clone().requires_grad_(true), x_ref = input.clone().requires_grad_(true);
    const torch::Tensor out = forward_folding_batch_norm(*layers, x);
    ASSERT_NE(out.grad_fn(), nullptr);
    EXPECT_NE(out.grad_fn()->name().find("ConvBnRelu"), std::string::npos) << out.grad_fn()->name();
    const torch::Tensor expected = reference->forward(x_ref);
    EXPECT_TRUE(torch::allclose(out, expected, 1e-5, 1e-5));
    const auto grads = gradients_of(out, x, *layers), expected_grads = gradients_of(expected, x_ref, *reference);
    for (size_t i = 0; i < grads.size(); ++i) {
      EXPECT_TRUE(torch::allclose(grads[i], expected_grads[i], 1e-4, 1e-5)) << "bias " << bias << " gradient " << i;
    }
    const auto buffers = layers->buffers(), expected_buffers = reference->buffers();
    for (size_t i = 0; i < buffers.size(); ++i) EXPECT_TRUE(torch::allclose(buffers[i], expected_buffers[i]));
  }
  // More input channels than a stem: the layers as they are.
  nn::Conv2d conv(nn::Conv2dOptions(kRecomputedConvMaxInChannels + 1, 4, 3).padding(1));
  nn::BatchNorm2d bn(4);
  const torch::Tensor out = conv_bn_relu(*conv, *bn, torch::randn({2, kRecomputedConvMaxInChannels + 1, 5, 5}));
  EXPECT_EQ(out.grad_fn()->name().find("ConvBnRelu"), std::string::npos);
}

TEST(Models, ConvBnReluChainsTrainLikeTheirLayers) {
  namespace nn = torch::nn;
  torch::manual_seed(5);
  // A ConvNet stage and a residual branch's pattern: conv, BN, ReLU, conv, BN, ReLU, then a pool.
  nn::Sequential layers(nn::Conv2d(nn::Conv2dOptions(2, 4, 3).padding(1).bias(false)), nn::BatchNorm2d(4),
                        nn::ReLU(), nn::Conv2d(nn::Conv2dOptions(4, 4, 3).padding(1).bias(false)), nn::BatchNorm2d(4),
                        nn::ReLU(), nn::MaxPool2d(nn::MaxPool2dOptions(2)), nn::BatchNorm2d(4));
  auto reference = std::dynamic_pointer_cast<nn::SequentialImpl>(layers->clone());
  const torch::Tensor input = torch::randn({4, 2, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor x = input.clone().requires_grad_(true), x_ref = input.clone().requires_grad_(true);
  const torch::Tensor out = forward_folding_batch_norm(*layers, x);
  const torch::Tensor expected = reference->forward(x_ref);
  EXPECT_TRUE(torch::allclose(out, expected, 1e-5, 1e-5));
  const auto grads = gradients_of(out, x, *layers), expected_grads = gradients_of(expected, x_ref, *reference);
  for (size_t i = 0; i < grads.size(); ++i) {
    EXPECT_TRUE(torch::allclose(grads[i], expected_grads[i], 1e-4, 1e-5)) << "gradient " << i;
  }
  const auto buffers = layers->buffers(), expected_buffers = reference->buffers();
  for (size_t i = 0; i < buffers.size(); ++i) EXPECT_TRUE(torch::allclose(buffers[i], expected_buffers[i]));
}

TEST(Models, UnknownEncoderListsKnownNames) {
  try {
    make_encoder(config_for("nope", 1, 28, "auto", 0));
    FAIL() << "no throw";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("nope"), std::string::npos) << message;
    for (const char* name : {"convnet", "resnet18", "resnet34", "resnet50"}) {
      EXPECT_NE(message.find(name), std::string::npos) << message;
    }
  }
}

TEST(Models, BadConfigNamesTheField) {
  auto rejects = [](EncoderConfig config, const std::string& field) {
    try {
      make_encoder(config);
      ADD_FAILURE() << "no error for " << field;
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(field), std::string::npos) << error.what();
    }
  };
  rejects(config_for("convnet", 2, 28, "auto", 0), "in_channels");
  rejects(config_for("convnet", 1, 0, "auto", 0), "image_size");
  rejects(config_for("resnet18", 3, 32, "huge", 0), "stem");
  rejects(config_for("convnet", 1, 28, "auto", -4), "width");
}

TEST(Models, RegistryHasBuiltinsAndTakesUserEncoders) {
  Registry<EncoderFactory>& registry = encoder_registry();
  for (const char* name : {"convnet", "resnet18", "resnet34", "resnet50"}) {
    ASSERT_TRUE(registry.contains(name)) << name;
    EXPECT_FALSE(registry.get(name).description.empty()) << name;
  }
  if (!registry.contains("test_tiny")) {
    registry.add(
        "test_tiny",
        [](const EncoderConfig& config) {
          EncoderConfig narrow = config;
          narrow.width = 2;
          return std::make_shared<ConvNetEncoder>(narrow);
        },
        "a 2-wide convnet for tests");
  }
  EXPECT_EQ(make_encoder(config_for("test_tiny", 1, 8, "auto", 0))->dim(), 32);  // 16 × width 2
}

TEST(Models, EncoderConfigJsonRoundTrip) {
  EncoderConfig config = config_for("resnet18", 3, 32, "small", 32);
  nlohmann::json values = config.to_json();
  EXPECT_EQ(values["name"], "resnet18");
  EncoderConfig back = EncoderConfig::from_json(values);
  EXPECT_EQ(back.to_json(), values);

  EncoderConfig partial = EncoderConfig::from_json(nlohmann::json{{"name", "resnet50"}});
  EXPECT_EQ(partial.name, "resnet50");
  EXPECT_EQ(partial.in_channels, EncoderConfig{}.in_channels);
  EXPECT_THROW(EncoderConfig::from_json(nlohmann::json{{"layers", 18}}), ConfigError);
  EXPECT_THROW(EncoderConfig::from_json(nlohmann::json{{"width", "wide"}}), ConfigError);
}

TEST(Models, ParameterNamesAreReadable) {
  std::set<std::string> convnet = parameter_names(ConvNetEncoder(config_for("convnet", 1, 28, "auto", 4)));
  EXPECT_TRUE(convnet.count("features.stage1.conv1.weight"));
  EXPECT_TRUE(convnet.count("features.stage3.bn2.bias"));
  EXPECT_TRUE(convnet.count("features.expand.weight"));
  // 3 stages × 2 × (conv weight, bn weight, bn bias) + the 1×1 expansion (conv weight, bn weight, bn bias)
  EXPECT_EQ(convnet.size(), 3u * (2 * (1 + 2)) + 3u);

  std::set<std::string> resnet = parameter_names(ResNetEncoder(config_for("resnet18", 3, 32, "auto", 4), 18));
  EXPECT_TRUE(resnet.count("stem.conv.weight"));
  EXPECT_TRUE(resnet.count("stages.layer1.0.conv1.weight"));
  EXPECT_TRUE(resnet.count("stages.layer2.0.shortcut.conv.weight"));
  EXPECT_FALSE(resnet.count("stages.layer1.0.shortcut.conv.weight"));
  std::set<std::string> bottleneck = parameter_names(ResNetEncoder(config_for("resnet50", 3, 32, "auto", 4), 50));
  EXPECT_TRUE(bottleneck.count("stages.layer1.0.shortcut.conv.weight"));  // 4w → expansion changes channels
  EXPECT_TRUE(bottleneck.count("stages.layer4.2.bn3.weight"));
}

TEST(Models, BackwardReachesEveryParameter) {
  for (const EncoderConfig& config :
       {config_for("convnet", 1, 16, "auto", 4), config_for("resnet18", 3, 16, "small", 4),
        config_for("resnet50", 1, 32, "imagenet", 4)}) {
    EncoderPtr encoder = make_encoder(config);
    torch::Tensor x = torch::rand({4, config.in_channels, config.image_size, config.image_size})
                          .contiguous(torch::MemoryFormat::ChannelsLast);
    encoder->forward(x).square().sum().backward();
    for (const auto& item : encoder->named_parameters()) {
      ASSERT_TRUE(item.value().grad().defined()) << config.name << " " << item.key();
      EXPECT_GT(item.value().grad().abs().sum().item<float>(), 0.0f) << config.name << " " << item.key();
    }
  }
}

TEST(Models, SerializationRestoresTheSameFunction) {
  EncoderConfig config = config_for("resnet18", 3, 16, "small", 4);
  EncoderPtr saved = make_encoder(config);
  saved->eval();
  std::stringstream buffer;
  torch::save(saved, buffer);
  EncoderPtr loaded = make_encoder(config);
  torch::load(loaded, buffer);
  loaded->eval();
  torch::Tensor x = torch::rand({2, 3, 16, 16});
  EXPECT_TRUE(torch::allclose(saved->forward(x), loaded->forward(x)));
}

TEST(Models, MLPShapesAndLayers) {
  MLPOptions options;
  options.in_dim = 16;
  options.hidden_dim = 32;
  options.out_dim = 8;
  MLP two(options);
  EXPECT_EQ(two->forward(torch::rand({4, 16})).sizes(), (std::vector<int64_t>{4, 8}));
  std::set<std::string> names = parameter_names(*two);
  EXPECT_TRUE(names.count("net.linear1.weight"));
  EXPECT_TRUE(names.count("net.bn1.weight"));
  EXPECT_TRUE(names.count("net.linear2.bias"));
  EXPECT_EQ(names.size(), 6u);

  options.layers = 1;
  MLP one(options);
  EXPECT_EQ(one->forward(torch::rand({4, 16})).sizes(), (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(parameter_names(*one).size(), 2u);

  options.layers = 3;
  options.batch_norm = false;
  options.last_batch_norm = true;
  options.bias = false;
  MLP three(options);
  torch::Tensor out = three->forward(torch::rand({64, 16}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{64, 8}));
  EXPECT_EQ(parameter_names(*three).size(), 3u);  // three weights; the last BN has no affine
  // Output BN without affine: zero mean, unit variance per feature in training.
  EXPECT_LT(out.mean(0).abs().max().item<float>(), 1e-4f);
  EXPECT_NEAR(out.var(0, /*unbiased=*/false).mean().item<float>(), 1.0f, 0.1f);

  options.layers = 0;
  EXPECT_THROW(MLP{options}, ConfigError);
}

}  // namespace
}  // namespace pretext
