#include "pretext/train/monitor.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/data/split.h"

namespace pretext {
namespace {

// A collapse warning at most this often (steps), so that a collapsed run does not flood the log.
constexpr int64_t kWarnEvery = 500;

void set_stat(Stats& stats, const std::string& name, double value) {
  for (auto& [key, existing] : stats) {
    if (key == name) {
      existing = value;
      return;
    }
  }
  stats.emplace_back(name, value);
}

}  // namespace

void MonitorOptions::validate() const {
  PRETEXT_CHECK(online_probe_lr > 0, ConfigError, "monitor: online_probe_lr must be > 0, got ", online_probe_lr);
  PRETEXT_CHECK(knn_every_epochs >= 0, ConfigError, "--knn-every must be >= 0 epochs (0 = never), got ",
                knn_every_epochs);
  PRETEXT_CHECK(knn_bank_size > 0 && knn_queries > 0, ConfigError,
                "monitor: knn_bank_size and knn_queries must be > 0, got ", knn_bank_size, " and ", knn_queries);
}

nlohmann::json MonitorOptions::to_json() const {
  return {{"online_probe", online_probe},
          {"online_probe_lr", online_probe_lr},
          {"knn_every_epochs", knn_every_epochs},
          {"knn_bank_size", knn_bank_size},
          {"knn_queries", knn_queries},
          {"collapse_std_ratio", collapse.std_ratio},
          {"collapse_effective_rank", collapse.effective_rank}};
}

KnnMonitorData make_knn_monitor_data(const DatasetPtr& train, const DatasetPtr& test, const MonitorOptions& options,
                                     PreprocessorPtr preprocessor, uint64_t seed) {
  KnnMonitorData data;
  if (!train || train->num_classes() < 2 || options.knn_every_epochs == 0) return data;
  auto generator = make_generator(seed + 7919);
  auto labelled = (train->labels() >= 0).nonzero().flatten();
  if (labelled.size(0) < 2) return data;
  labelled = labelled.index_select(0, torch::randperm(labelled.size(0), generator, torch::kLong));
  const bool own_test = test && test->size() > 0 && test->num_classes() == train->num_classes();
  const int64_t queries = own_test ? std::min(options.knn_queries, test->size())
                                   : std::min(options.knn_queries, labelled.size(0) / 5);
  const int64_t bank = std::min(options.knn_bank_size, labelled.size(0) - (own_test ? 0 : queries));
  if (queries < 1 || bank < 1) return data;
  data.bank = std::make_shared<SubsetDataset>(train, std::get<0>(labelled.slice(0, 0, bank).sort()));
  if (own_test) {
    auto order = torch::randperm(test->size(), generator, torch::kLong).slice(0, 0, queries);
    data.queries = std::make_shared<SubsetDataset>(test, std::get<0>(order.sort()));
  } else {
    data.queries = std::make_shared<SubsetDataset>(train, std::get<0>(labelled.slice(0, bank, bank + queries).sort()));
  }
  data.preprocessor = std::move(preprocessor);
  return data;
}

Monitor::Monitor(MonitorOptions options, int64_t num_classes, KnnMonitorData knn, Runtime runtime)
    : options_(std::move(options)), num_classes_(num_classes), knn_data_(std::move(knn)), runtime_(std::move(runtime)) {
  options_.validate();
}

bool Monitor::knn_due(int64_t epochs_done) const {
  return knn_data_.bank && options_.knn_every_epochs > 0 && epochs_done > 0 &&
         epochs_done % options_.knn_every_epochs == 0;
}

Stats Monitor::observe(int64_t step, const torch::Tensor& embedding, const torch::Tensor& embedding_pair,
                       const torch::Tensor& projection, const torch::Tensor& labels, bool measure) {
  Stats stats;
  if (!embedding.defined()) return stats;
  auto features = embedding.detach().to(torch::kFloat32);
  if (options_.online_probe && num_classes_ >= 2 && labels.defined()) {
    auto known = (labels >= 0).nonzero().flatten().to(features.device());
    if (known.size(0) >= 2) {
      if (!probe_) {
        // BatchNorm without affine standardises the features as they drift during pretraining;
        // the Linear on top is the probe (as the online classifiers of solo-learn, on the side).
        probe_ = torch::nn::Sequential(
            torch::nn::BatchNorm1d(torch::nn::BatchNormOptions(features.size(1)).affine(false)),
            torch::nn::Linear(features.size(1), num_classes_));
        probe_->to(features.device());
        probe_optimizer_ = std::make_unique<torch::optim::Adam>(
            probe_->parameters(), torch::optim::AdamOptions(options_.online_probe_lr));
      }
      auto x = features.index_select(0, known);
      auto y = labels.to(features.device()).index_select(0, known);
      torch::AutoGradMode enable(true);
      auto logits = probe_->forward(x);
      auto loss = torch::nn::functional::cross_entropy(logits, y);
      correct_ += (logits.argmax(1) == y).sum().item<double>();
      seen_ += static_cast<double>(y.size(0));
      probe_optimizer_->zero_grad();
      loss.backward();
      probe_optimizer_->step();
    }
  }
  if (!measure) return stats;
  if (seen_ > 0) {
    stats.emplace_back("online_linear_acc", correct_ / seen_);
    correct_ = seen_ = 0;
  }
  if (features.size(0) >= 2) {
    const RepresentationHealth health = representation_health(features, embedding_pair);
    for (const auto& item : health.stats()) stats.push_back(item);
    bool collapsed = health.collapsed(options_.collapse);
    std::string where = "encoder's embeddings";
    RepresentationHealth shown = health;
    int64_t dims = features.size(1);
    if (projection.defined() && projection.dim() == 2 && projection.size(0) >= 2) {
      const RepresentationHealth head = representation_health(projection);
      stats.emplace_back("head_std_ratio", head.std_ratio);
      stats.emplace_back("head_effective_rank", head.effective_rank);
      if (!collapsed && head.collapsed(options_.collapse)) {
        collapsed = true;
        where = "head's outputs (what the loss compares)";
        shown = head;
        dims = projection.size(1);
      }
    }
    stats.emplace_back("collapsed", collapsed ? 1.0 : 0.0);
    if (collapsed) {
      ++collapsed_steps_;
      if (last_warning_step_ < 0 || step - last_warning_step_ >= kWarnEvery) {
        last_warning_step_ = step;
        std::ostringstream message;
        message << std::setprecision(3) << "representation collapse at step " << step
                << ": per-dimension std of the normalised " << where << " is " << shown.std_ratio
                << "× the healthy 1/√D (threshold " << options_.collapse.std_ratio << "), effective rank "
                << shown.effective_rank << " of " << dims
                << " dimensions. Different inputs map to (nearly) the same vector; check the method's "
                   "stop-gradient/momentum/variance terms, lower the learning rate, or raise weight decay.";
        log::warn(message.str());
      }
    }
  }
  for (const auto& [name, value] : stats) set_stat(latest_, name, value);
  return stats;
}

Stats Monitor::knn(Encoder& encoder) {
  Stats stats;
  if (!knn_data_.bank) return stats;
  auto bank = extract_features(encoder, *knn_data_.bank, *knn_data_.preprocessor, runtime_);
  auto queries = extract_features(encoder, *knn_data_.queries, *knn_data_.preprocessor, runtime_);
  auto predicted = knn_predict(bank, knn_data_.bank->labels(), queries, knn_data_.bank->num_classes(), KnnOptions{});
  const double top1 = (predicted == knn_data_.queries->labels()).to(torch::kDouble).mean().item<double>();
  stats.emplace_back("knn_top1", top1);
  set_stat(latest_, "knn_top1", top1);
  return stats;
}

}  // namespace pretext
