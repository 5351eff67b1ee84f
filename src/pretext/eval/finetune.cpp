#include <iomanip>
#include <sstream>

#include "pretext/core/error.h"
#include "pretext/core/progress.h"
#include "pretext/data/loader.h"
#include "pretext/eval/protocols.h"
#include "pretext/models/heads.h"

namespace pretext {

void FinetuneOptions::validate() const {
  PRETEXT_CHECK(epochs >= 0 && min_steps >= 0 && max_steps >= 0, ConfigError,
                "fine-tune: epochs, min_steps and max_steps must be >= 0");
  PRETEXT_CHECK(epochs > 0 || min_steps > 0, ConfigError, "fine-tune: give epochs or min_steps > 0");
  PRETEXT_CHECK(batch_size > 1, ConfigError, "fine-tune: batch_size must be > 1, got ", batch_size);
  PRETEXT_CHECK(lr > 0, ConfigError, "fine-tune: lr must be > 0, got ", lr);
  PRETEXT_CHECK(encoder_lr_scale >= 0, ConfigError, "fine-tune: encoder_lr_scale must be >= 0, got ",
                encoder_lr_scale);
  PRETEXT_CHECK(head_layers == 1 || head_layers == 2, ConfigError, "fine-tune: head_layers must be 1 or 2, got ",
                head_layers);
}

torch::Tensor finetune_predict(Encoder& encoder, const Dataset& labelled, const Dataset& test, int64_t num_classes,
                               const Preprocessor& preprocessor, const FinetuneOptions& options,
                               const Runtime& runtime, const LinearProbe* initial_head) {
  options.validate();
  const int64_t n = labelled.size();
  PRETEXT_CHECK(n >= 2, InputError, "fine-tune needs at least 2 labelled samples, got ", n);
  torch::manual_seed(options.seed);
  MLPOptions head_options;
  head_options.in_dim = encoder.dim();
  head_options.hidden_dim = options.head_hidden_dim;
  head_options.out_dim = num_classes;
  head_options.layers = options.head_layers;
  MLP head(head_options);
  // The head reads the features through a BatchNorm without affine parameters, as MAE's probe
  // does (He et al. 2021, appendix A.1): pretrained features arrive at whatever scale the pretext
  // loss left them, and one learning rate then fits every encoder (the linear probe standardises
  // its features for the same reason).
  torch::nn::BatchNorm1d feature_norm(torch::nn::BatchNorm1dOptions(encoder.dim()).affine(false));
  if (initial_head != nullptr && options.head_layers == 1) {
    torch::NoGradGuard no_grad;
    auto parameters = head->named_parameters();
    PRETEXT_CHECK(parameters.contains("net.linear1.weight") && parameters.contains("net.linear1.bias"), Error,
                  "fine-tune: unexpected head layout");
    parameters["net.linear1.weight"].copy_(initial_head->weight);
    parameters["net.linear1.bias"].copy_(initial_head->bias);
    feature_norm->running_mean.copy_(initial_head->mean.flatten());
    feature_norm->running_var.copy_(initial_head->std.flatten().square());
  }
  feature_norm->to(runtime.device);
  head->to(runtime.device);
  encoder.to(runtime.device);

  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(encoder.parameters(),
                      std::make_unique<torch::optim::AdamWOptions>(options.lr * options.encoder_lr_scale));
  groups.emplace_back(head->parameters(), std::make_unique<torch::optim::AdamWOptions>(options.lr));
  for (auto& group : groups) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).weight_decay(options.weight_decay);
  }
  torch::optim::AdamW optimizer(std::move(groups), torch::optim::AdamWOptions(options.lr));
  const std::vector<double> base_lrs{options.lr * options.encoder_lr_scale, options.lr};

  auto generator = make_generator(options.seed);

  LoaderOptions loader_options;
  loader_options.batch_size = std::min(options.batch_size, n);
  loader_options.seed = options.seed;
  loader_options.drop_last = true;  // BatchNorm in train mode needs more than one sample
  auto shared = std::shared_ptr<const Dataset>(&labelled, [](const Dataset*) {});
  Loader loader(shared, loader_options);
  int64_t total = std::max(options.epochs * loader.batches_per_epoch(), options.min_steps);
  if (options.max_steps > 0) total = std::min(total, options.max_steps);

  encoder.train();
  head->train();
  feature_norm->train();
  int64_t step = 0;
  Progress progress(options.encoder_lr_scale < 1 ? "fine-tune" : "training", total, "steps", 15);
  for (int64_t epoch = 0; step < total; ++epoch) {
    loader.start_epoch(epoch);
    while (auto batch = loader.next()) {
      const double factor = 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / total));
      for (size_t g = 0; g < optimizer.param_groups().size(); ++g) {
        optimizer.param_groups()[g].options().set_lr(base_lrs[g] * factor);
      }
      auto x = preprocessor.augmented_input(*batch, encoder, runtime.device, generator);
      torch::Tensor loss;
      {
        AutocastGuard autocast(runtime.device, runtime.bf16);
        auto logits = head->forward(feature_norm->forward(encoder.forward(x))).to(torch::kFloat32);
        loss = torch::nn::functional::cross_entropy(logits, batch->label.to(runtime.device));
      }
      PRETEXT_CHECK(std::isfinite(loss.item<double>()), TrainingError, "fine-tune: the loss became non-finite at step ",
                    step + 1, "; try a lower learning rate");
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      ++step;
      if (progress.due()) {
        std::ostringstream detail;
        detail << "loss " << std::fixed << std::setprecision(4) << loss.item<double>();
        progress.update(step, detail.str());
      }
      if (step >= total || stop_requested()) break;
    }
    if (stop_requested()) throw TrainingError("fine-tune interrupted by a stop request");
  }

  torch::NoGradGuard no_grad;
  encoder.eval();
  head->eval();
  feature_norm->eval();
  std::vector<torch::Tensor> predictions;
  constexpr int64_t kBatch = 512;
  for (int64_t start = 0; start < test.size(); start += kBatch) {
    Batch batch = test.get(torch::arange(start, std::min(test.size(), start + kBatch), torch::kLong));
    auto x = preprocessor.input(batch, encoder, runtime.device);
    AutocastGuard autocast(runtime.device, runtime.bf16);
    predictions.push_back(head->forward(feature_norm->forward(encoder.forward(x))).argmax(1).to(torch::kCPU));
  }
  return torch::cat(predictions, 0);
}

}  // namespace pretext
