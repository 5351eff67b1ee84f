#include "pretext/core/error.h"
#include "pretext/core/progress.h"
#include "pretext/core/runtime.h"
#include "pretext/eval/protocols.h"

namespace pretext {

void LinearProbeOptions::validate() const {
  PRETEXT_CHECK(epochs > 0, ConfigError, "linear probe: epochs must be > 0, got ", epochs);
  PRETEXT_CHECK(batch_size > 0, ConfigError, "linear probe: batch_size must be > 0, got ", batch_size);
  PRETEXT_CHECK(lr > 0, ConfigError, "linear probe: lr must be > 0, got ", lr);
  PRETEXT_CHECK(weight_decay >= 0, ConfigError, "linear probe: weight_decay must be >= 0, got ", weight_decay);
}

torch::Tensor LinearProbe::predict(const torch::Tensor& features) const {
  torch::NoGradGuard no_grad;
  return torch::addmm(bias, (features - mean) / std, weight.t()).argmax(1);
}

LinearProbe train_linear_probe(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                               int64_t num_classes, const LinearProbeOptions& options) {
  options.validate();
  const int64_t n = train_features.size(0);
  PRETEXT_CHECK(n > 0 && n == train_labels.size(0), Error, "linear probe: ", n, " features for ",
                train_labels.size(0), " labels");
  LinearProbe probe;
  // Standardised features make one learning rate fit every encoder's feature scale.
  probe.mean = train_features.mean(0, true);
  probe.std = train_features.std(0, true, true).clamp_min(1e-6);
  auto x = (train_features - probe.mean) / probe.std;
  auto labels = train_labels.to(torch::kLong);

  auto generator = make_generator(options.seed);
  torch::manual_seed(options.seed);
  torch::nn::Linear classifier(x.size(1), num_classes);
  torch::optim::AdamW optimizer(classifier->parameters(),
                                torch::optim::AdamWOptions(options.lr).weight_decay(options.weight_decay));
  const int64_t batch = std::min(options.batch_size, n);
  const int64_t per_epoch = (n + batch - 1) / batch;
  // Few labels mean few steps per epoch: train for at least 1,000 steps so that the classifier
  // converges on 100 samples as it does on 60,000.
  const int64_t total = std::max<int64_t>(options.epochs * per_epoch, 1000);
  int64_t step = 0;
  Progress progress("linear probe", total, "steps");
  while (step < total) {
    auto order = torch::randperm(n, generator, torch::kLong);
    for (int64_t start = 0; start < n && step < total; start += batch, ++step) {
      auto index = order.slice(0, start, start + batch);
      const double lr = options.lr * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(step) / total));
      for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
      optimizer.zero_grad();
      auto loss = torch::nn::functional::cross_entropy(classifier->forward(x.index_select(0, index)),
                                                       labels.index_select(0, index));
      loss.backward();
      optimizer.step();
      progress.update(step + 1);
    }
  }
  probe.weight = classifier->weight.detach().clone();
  probe.bias = classifier->bias.detach().clone();
  return probe;
}

torch::Tensor linear_probe_predict(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                                   const torch::Tensor& query_features, int64_t num_classes,
                                   const LinearProbeOptions& options) {
  return train_linear_probe(train_features, train_labels, num_classes, options).predict(query_features);
}

}  // namespace pretext
