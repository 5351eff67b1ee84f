#include <gtest/gtest.h>

#include "pretext/train/monitor.h"

namespace pretext {
namespace {

Runtime bare_runtime() {
  Runtime runtime;
  runtime.device = torch::kCPU;
  return runtime;
}

TEST(TrainMonitor, TheOnlineProbeLearnsFromLabelsAndIgnoresUnlabeledSamples) {
  torch::manual_seed(4);
  MonitorOptions options;
  options.online_probe_lr = 1e-2;
  Monitor monitor(options, 3, {}, bare_runtime());
  auto centres = torch::randn({3, 8}) * 3;
  double accuracy = 0;
  for (int step = 1; step <= 60; ++step) {
    auto labels = torch::randint(0, 3, {32}, torch::kLong);
    auto embedding = centres.index_select(0, labels) + torch::randn({32, 8});
    labels.slice(0, 0, 4).fill_(-1);  // unlabeled samples must not reach the probe
    const Stats stats = monitor.observe(step, embedding, {}, {}, labels, step % 20 == 0);
    for (const auto& [name, value] : stats) {
      if (name == "online_linear_acc") accuracy = value;
    }
  }
  EXPECT_GT(accuracy, 0.9);
  EXPECT_EQ(monitor.collapsed_steps(), 0);
}

TEST(TrainMonitor, ACollapsedEmbeddingIsCountedAndReported) {
  Monitor monitor(MonitorOptions{}, 0, {}, bare_runtime());
  auto constant = torch::ones({16, 8});
  const Stats stats = monitor.observe(10, constant, constant, {}, {}, true);
  double collapsed = -1;
  for (const auto& [name, value] : stats) {
    if (name == "collapsed") collapsed = value;
  }
  EXPECT_EQ(collapsed, 1.0);
  EXPECT_EQ(monitor.collapsed_steps(), 1);
  // Steps that are not measured cost nothing and report nothing.
  EXPECT_TRUE(monitor.observe(11, constant, constant, {}, {}, false).empty());
}

TEST(TrainMonitor, ACollapsedHeadIsACollapseEvenWhenTheEmbeddingVaries) {
  // SimSiam without stop-gradient: the head's output turns constant, the encoder's does not.
  Monitor monitor(MonitorOptions{}, 0, {}, bare_runtime());
  torch::manual_seed(3);
  auto varied = torch::randn({16, 8});
  auto constant_head = torch::ones({16, 32}) + 1e-6 * torch::randn({16, 32});
  double collapsed = -1, head_std_ratio = -1;
  for (const auto& [name, value] : monitor.observe(10, varied, {}, constant_head, {}, true)) {
    if (name == "collapsed") collapsed = value;
    if (name == "head_std_ratio") head_std_ratio = value;
  }
  EXPECT_EQ(collapsed, 1.0);
  EXPECT_LT(head_std_ratio, 0.01);
  // The same embedding with a varied head is healthy.
  for (const auto& [name, value] : monitor.observe(20, varied, {}, torch::randn({16, 32}), {}, true)) {
    if (name == "collapsed") {
      EXPECT_EQ(value, 0.0);
    }
  }
  EXPECT_EQ(monitor.collapsed_steps(), 1);
}

TEST(TrainMonitor, KnnQueriesAreHeldOutTrainingImagesWithoutATestSet) {
  auto images = torch::zeros({100, 4, 4, 1}, torch::kUInt8);
  auto labels = torch::arange(100, torch::kLong) % 2;
  auto train = std::make_shared<ImageDataset>(images, labels, std::vector<std::string>{"a", "b"}, "memory");
  MonitorOptions options;
  options.knn_bank_size = 50;
  options.knn_queries = 1000;
  const auto data = make_knn_monitor_data(train, nullptr, options, std::make_shared<ImagePreprocessor>(Normalization{{0.0}, {1.0}}), 0);
  ASSERT_TRUE(data.bank && data.queries);
  EXPECT_EQ(data.queries->size(), 20);  // a fifth of the labelled images at most
  EXPECT_EQ(data.bank->size(), 50);
  options.knn_every_epochs = 0;
  EXPECT_FALSE(make_knn_monitor_data(train, nullptr, options, std::make_shared<ImagePreprocessor>(Normalization{}), 0).bank);
}

}  // namespace
}  // namespace pretext
