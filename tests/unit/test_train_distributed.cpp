// Data-parallel training: the launch environment, c10d collectives, gathered losses and the
// gradient reducer. Ranks run as threads of this process over an in-memory store (Gloo on
// loopback), so these tests need no launcher and no network beyond 127.0.0.1.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <map>
#include <thread>

#include "pretext/core/error.h"
#include "pretext/core/runtime.h"
#include "pretext/data/loader.h"
#include "pretext/models/conv_bn.h"
#include "pretext/tasks/simclr.h"
#include "pretext/tasks/task.h"
#include "pretext/train/distributed.h"
#include "pretext/train/trainer.h"
#include "test_files.h"

namespace pretext {
namespace {

using testing_files::fresh_dir;
namespace fs = std::filesystem;

#define PRETEXT_REQUIRE_GLOO() \
  if (!gloo_available()) GTEST_SKIP() << "built without c10d's Gloo"

// Runs body(rank, group) on one thread per rank and rethrows the first failure.
void on_ranks(const std::vector<ProcessGroupPtr>& groups,
              const std::function<void(int64_t, const ProcessGroupPtr&)>& body) {
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(groups.size());
  for (size_t r = 0; r < groups.size(); ++r) {
    threads.emplace_back([&, r] {
      try {
        body(static_cast<int64_t>(r), groups[r]);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

std::function<std::optional<std::string>(const std::string&)> variables(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

TEST(DistributedEnvironment, NoVariablesMeansOneProcess) {
  LaunchEnvironment environment = read_launch_environment(variables({}));
  EXPECT_EQ(environment.source, "none");
  EXPECT_EQ(environment.world_size, 1);
  EXPECT_EQ(environment.rank, 0);
}

TEST(DistributedEnvironment, ReadsTorchrunVariables) {
  LaunchEnvironment environment = read_launch_environment(variables({{"RANK", "3"},
                                                                     {"WORLD_SIZE", "4"},
                                                                     {"LOCAL_RANK", "1"},
                                                                     {"LOCAL_WORLD_SIZE", "2"},
                                                                     {"MASTER_ADDR", "10.0.0.7"},
                                                                     {"MASTER_PORT", "29400"}}));
  EXPECT_EQ(environment.source, "torchrun");
  EXPECT_EQ(environment.rank, 3);
  EXPECT_EQ(environment.world_size, 4);
  EXPECT_EQ(environment.local_rank, 1);
  EXPECT_EQ(environment.local_world_size, 2);
  EXPECT_EQ(environment.master_addr, "10.0.0.7");
  EXPECT_EQ(environment.master_port, 29400);
  EXPECT_FALSE(environment.agent_store);
}

TEST(DistributedEnvironment, JoinsTorchrunsAgentStoreUnderItsPrefix) {
  LaunchEnvironment environment = read_launch_environment(variables({{"RANK", "0"},
                                                                     {"WORLD_SIZE", "2"},
                                                                     {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                                                     {"TORCHELASTIC_RESTART_COUNT", "2"}}));
  EXPECT_TRUE(environment.agent_store);
  EXPECT_EQ(environment.store_prefix, "/worker/attempt_2");
}

TEST(DistributedEnvironment, ReadsSlurmVariables) {
  LaunchEnvironment environment = read_launch_environment(variables({{"SLURM_PROCID", "5"},
                                                                     {"SLURM_NTASKS", "8"},
                                                                     {"SLURM_LOCALID", "1"},
                                                                     {"SLURM_NTASKS_PER_NODE", "4(x2)"},
                                                                     {"SLURM_JOB_NODELIST", "gpu[07-08]"},
                                                                     {"SLURM_JOB_ID", "123"}}));
  EXPECT_EQ(environment.source, "slurm");
  EXPECT_EQ(environment.rank, 5);
  EXPECT_EQ(environment.world_size, 8);
  EXPECT_EQ(environment.local_rank, 1);
  EXPECT_EQ(environment.local_world_size, 4);
  EXPECT_EQ(environment.master_addr, "gpu07");
  EXPECT_EQ(environment.master_port, 15123);
}

TEST(DistributedEnvironment, FirstSlurmHost) {
  EXPECT_EQ(first_slurm_host("node01"), "node01");
  EXPECT_EQ(first_slurm_host("node[03-05,9],gpu1"), "node03");
  EXPECT_EQ(first_slurm_host("a,b"), "a");
  EXPECT_EQ(first_slurm_host("rack1-n[010,012]"), "rack1-n010");
}

TEST(DistributedEnvironment, BadValuesNameTheVariable) {
  try {
    read_launch_environment(variables({{"RANK", "x"}, {"WORLD_SIZE", "2"}}));
    FAIL() << "no throw";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("RANK='x'"), std::string::npos) << error.what();
  }
  EXPECT_THROW(read_launch_environment(variables({{"RANK", "2"}, {"WORLD_SIZE", "2"}})), ConfigError);
  EXPECT_THROW(read_launch_environment(variables({{"WORLD_SIZE", "2"}})), ConfigError);
  EXPECT_THROW(read_launch_environment(variables({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}})),
               ConfigError);
}

TEST(DistributedGroup, WorldOfOneNeedsNoNetwork) {
  LaunchEnvironment environment;
  ProcessGroupPtr group = connect_process_group(environment, {}, torch::kCPU);
  EXPECT_EQ(group->world_size(), 1);
  auto x = torch::tensor({1.0, 2.0});
  group->all_reduce_sum(x);
  EXPECT_TRUE(torch::equal(x, torch::tensor({1.0, 2.0})));
  EXPECT_TRUE(torch::equal(group->all_gather(x), x));
}

TEST(DistributedGroup, CollectivesOverGloo) {
  PRETEXT_REQUIRE_GLOO();
  auto groups = make_in_process_groups(3);
  on_ranks(groups, [](int64_t rank, const ProcessGroupPtr& group) {
    EXPECT_EQ(group->rank(), rank);
    EXPECT_EQ(group->backend(), "gloo");
    auto x = torch::full({2}, static_cast<double>(rank + 1));
    group->all_reduce_sum(x);
    EXPECT_TRUE(torch::equal(x, torch::full({2}, 6.0)));
    auto gathered = group->all_gather(torch::full({1, 2}, static_cast<float>(rank)));
    EXPECT_TRUE(torch::equal(gathered, torch::tensor({0.f, 0.f, 1.f, 1.f, 2.f, 2.f}).view({3, 2})));
    auto value = torch::full({3}, static_cast<int64_t>(rank == 1 ? 42 : 0), torch::kLong);
    group->broadcast(value, 1);
    EXPECT_TRUE(torch::equal(value, torch::full({3}, int64_t{42}, torch::kLong)));
    group->barrier();
  });
}

// The SimCLR loss over gathered embeddings equals the one-process loss on the concatenated batch,
// and each rank's gradient (averaged over ranks, as the reducer does) is that loss's gradient.
TEST(DistributedGroup, GatheredSimclrLossIsTheGlobalBatchLoss) {
  PRETEXT_REQUIRE_GLOO();
  torch::manual_seed(11);
  const int64_t per_rank = 3;
  auto z1 = torch::randn({2 * per_rank, 8});
  auto z2 = torch::randn({2 * per_rank, 8});
  auto whole1 = z1.clone().requires_grad_();
  auto whole2 = z2.clone().requires_grad_();
  auto [expected, accuracy] = nt_xent_loss(whole1, whole2, 0.2);
  expected.backward();

  auto groups = make_in_process_groups(2);
  on_ranks(groups, [&](int64_t rank, const ProcessGroupPtr& group) {
    auto mine1 = z1.slice(0, rank * per_rank, (rank + 1) * per_rank).clone().requires_grad_();
    auto mine2 = z2.slice(0, rank * per_rank, (rank + 1) * per_rank).clone().requires_grad_();
    auto [loss, unused] = nt_xent_loss(all_gather_with_grad(mine1, group), all_gather_with_grad(mine2, group), 0.2);
    EXPECT_NEAR(loss.item<double>(), expected.item<double>(), 1e-6);
    loss.backward();
    auto expected_grad = whole1.grad().slice(0, rank * per_rank, (rank + 1) * per_rank);
    EXPECT_TRUE(torch::allclose(mine1.grad() / 2, expected_grad, 1e-5, 1e-7))
        << mine1.grad() / 2 << "\nvs\n" << expected_grad;
    EXPECT_TRUE(torch::allclose(mine2.grad() / 2, whole2.grad().slice(0, rank * per_rank, (rank + 1) * per_rank),
                                1e-5, 1e-7));
  });
}

// A small network with a parameter that never gets a gradient.
struct TinyNet : torch::nn::Module {
  TinyNet() {
    first = register_module("first", torch::nn::Linear(6, 16));
    second = register_module("second", torch::nn::Linear(16, 1));
    unused = register_parameter("unused", torch::zeros({4}));
  }
  torch::Tensor forward(const torch::Tensor& x) { return second(torch::tanh(first(x))).squeeze(1); }
  torch::nn::Linear first{nullptr}, second{nullptr};
  torch::Tensor unused;
};

// Two ranks with half the batch each, reduced in buckets, take the same SGD steps as one process
// with the whole batch; and the ranks stay bit-identical.
TEST(DistributedReducer, TwoRanksTrainLikeOneProcessWithTheWholeBatch) {
  PRETEXT_REQUIRE_GLOO();
  torch::manual_seed(3);
  auto inputs = torch::randn({5, 8, 6});  // 5 steps, global batch 8
  auto targets = torch::randn({5, 8});
  auto reference = std::make_shared<TinyNet>();
  std::vector<std::shared_ptr<TinyNet>> replicas;
  for (int r = 0; r < 2; ++r) {
    replicas.push_back(std::make_shared<TinyNet>());  // another initialisation: the broadcast fixes it
  }
  {
    torch::NoGradGuard no_grad;
    auto source = reference->parameters();
    auto target = replicas[0]->parameters();
    for (size_t k = 0; k < source.size(); ++k) target[k].copy_(source[k]);
  }
  torch::optim::SGD reference_optimizer(reference->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  for (int64_t step = 0; step < inputs.size(0); ++step) {
    reference_optimizer.zero_grad();
    torch::mse_loss(reference->forward(inputs[step]), targets[step]).backward();
    reference_optimizer.step();
  }
  EXPECT_FALSE(reference->unused.grad().defined());

  auto groups = make_in_process_groups(2);
  on_ranks(groups, [&](int64_t rank, const ProcessGroupPtr& group) {
    auto& net = *replicas[rank];
    broadcast_module(net, *group);
    // A tiny bucket size: several buckets, launched while the backward pass runs.
    GradientReducer reducer(net.parameters(), group, 0.0002);
    EXPECT_GE(reducer.buckets(), 2);
    torch::optim::SGD optimizer(net.parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
    for (int64_t step = 0; step < inputs.size(0); ++step) {
      optimizer.zero_grad();
      auto half = torch::indexing::Slice(rank * 4, (rank + 1) * 4);
      reducer.prepare();
      torch::mse_loss(net.forward(inputs[step].index({half})), targets[step].index({half})).backward();
      reducer.finish();
      optimizer.step();
    }
    EXPECT_FALSE(net.unused.grad().defined()) << "no rank touched it: it keeps no gradient";
  });
  auto expected = reference->parameters();
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_TRUE(torch::equal(replicas[0]->parameters()[k], replicas[1]->parameters()[k])) << "parameter " << k;
    EXPECT_TRUE(torch::allclose(replicas[0]->parameters()[k], expected[k], 1e-5, 1e-6)) << "parameter " << k;
  }
}

TEST(DistributedReducer, ASilentPeerFailsTheCollectiveWithinTheTimeout) {
  PRETEXT_REQUIRE_GLOO();
  DistributedOptions options;
  options.timeout_seconds = 1;
  auto groups = make_in_process_groups(2, options);
  const auto start = std::chrono::steady_clock::now();
  std::string message;
  on_ranks(groups, [&](int64_t rank, const ProcessGroupPtr& group) {
    if (rank == 1) return;  // never joins the all-reduce
    try {
      group->all_reduce_sum(torch::ones({4}));
    } catch (const TrainingError& error) {
      message = error.what();
    }
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 20);
  EXPECT_NE(message.find("all-reduce failed on rank 0 of 2"), std::string::npos) << message;
  EXPECT_NE(message.find("timeout 1 s"), std::string::npos) << message;
}

// Synchronised batch norm: two ranks with half the batch each normalise, update their running
// statistics and get gradients as one process with the whole batch does.
TEST(DistributedSyncBatchNorm, TwoHalvesNormaliseAsTheWholeBatch) {
  PRETEXT_REQUIRE_GLOO();
  torch::manual_seed(8);
  auto x = torch::randn({8, 3, 4, 4}) * 3 + 1;
  auto conv_of = [] {
    torch::manual_seed(1);
    return torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 5, 3).padding(1));
  };
  torch::nn::Conv2d whole_conv = conv_of();
  torch::nn::BatchNorm2d whole_bn(5);
  auto expected = conv_bn(*whole_conv, *whole_bn, x);
  expected.square().sum().backward();

  std::vector<torch::nn::Conv2d> convs{conv_of(), conv_of()};
  std::vector<torch::nn::BatchNorm2d> bns{torch::nn::BatchNorm2d(5), torch::nn::BatchNorm2d(5)};
  auto groups = make_in_process_groups(2);
  on_ranks(groups, [&](int64_t rank, const ProcessGroupPtr& group) {
    SyncBatchNormScope sync(group);
    auto half = x.slice(0, rank * 4, (rank + 1) * 4);
    auto y = conv_bn(*convs[rank], *bns[rank], half);
    EXPECT_TRUE(torch::allclose(y, expected.slice(0, rank * 4, (rank + 1) * 4), 1e-4, 1e-5));
    y.square().sum().backward();
    // Summed over the ranks (the reducer averages; this loss is a sum over samples), the
    // gradients are the whole batch's.
    auto gradient = convs[rank]->weight.grad().clone();
    group->all_reduce_sum(gradient);
    EXPECT_TRUE(torch::allclose(gradient, whole_conv->weight.grad(), 1e-3, 1e-4))
        << (gradient - whole_conv->weight.grad()).abs().max();
    EXPECT_TRUE(torch::allclose(bns[rank]->running_mean, whole_bn->running_mean, 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(bns[rank]->running_var, whole_bn->running_var, 1e-4, 1e-5));
  });
}

// The Trainer itself on two ranks: a task without randomness and without batch norm (ViT, layer
// norm only), so that two ranks of batch B give the parameters of one process with batch 2B.
class MeanPixelTask : public PretextTask {
 public:
  explicit MeanPixelTask(const TaskContext& context) : PretextTask("MeanPixelTask", 0) {
    encoder_ = register_module("encoder", make_encoder(context.encoder));
    head_ = register_module("head", torch::nn::Linear(encoder_->dim(), 1));
  }
  Output step(const Batch& batch) override {
    auto x = batch.input.permute({0, 3, 1, 2}).to(torch::kFloat32).div(255);
    auto prediction = head_->forward(encoder_->forward(x)).squeeze(1);
    return {torch::mse_loss(prediction, x.mean({1, 2, 3})), {}, {}, {}, {}};
  }
  EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return nlohmann::json::object(); }

 private:
  EncoderPtr encoder_;
  torch::nn::Linear head_{nullptr};
};

TEST(DistributedTrainer, TwoRanksOfBatchBMatchOneProcessOfBatch2B) {
  PRETEXT_REQUIRE_GLOO();
  torch::manual_seed(5);
  auto images = torch::randint(0, 256, {32, 8, 8, 1}, torch::kLong).to(torch::kUInt8);
  auto dataset = std::make_shared<ImageDataset>(images, torch::full({32}, -1, torch::kLong),
                                                std::vector<std::string>{}, "tiny");
  TaskContext context;
  context.encoder.name = "vit-tiny";
  context.encoder.width = 24;
  context.encoder.depth = 1;
  context.encoder.patch_size = 4;
  context.encoder.in_channels = 1;
  context.encoder.image_size = 8;
  auto options_for = [](const fs::path& out) {
    TrainerOptions options;
    options.epochs = 2;
    options.out_dir = out;
    options.optimizer.name = "sgd";
    options.optimizer.base_lr = 0.4;  // scaled by the global batch: the same for both runs
    options.progress_seconds = 1000;
    return options;
  };
  RuntimeOptions runtime_options;
  runtime_options.device = "cpu";
  runtime_options.precision = "fp32";
  runtime_options.threads = 1;

  auto reference = std::make_shared<MeanPixelTask>(context);
  std::vector<std::shared_ptr<MeanPixelTask>> ranks{std::make_shared<MeanPixelTask>(context),
                                                    std::make_shared<MeanPixelTask>(context)};
  {
    torch::NoGradGuard no_grad;
    auto source = reference->parameters();
    auto target = ranks[0]->parameters();
    for (size_t k = 0; k < source.size(); ++k) target[k].copy_(source[k]);
  }
  {
    LoaderOptions loader_options;
    loader_options.batch_size = 8;
    Loader loader(dataset, loader_options);
    Trainer trainer(reference, loader, options_for(fresh_dir("ddp_single")), init_runtime(runtime_options),
                    {{"task", "mean-pixel"}});
    EXPECT_EQ(trainer.fit().steps, 8);
  }
  const fs::path out = fresh_dir("ddp_two_ranks");
  auto groups = make_in_process_groups(2);
  on_ranks(groups, [&](int64_t rank, const ProcessGroupPtr& group) {
    LoaderOptions loader_options;
    loader_options.batch_size = 4;
    loader_options.rank = rank;
    loader_options.world_size = 2;
    Loader loader(dataset, loader_options);
    Runtime runtime = init_runtime(runtime_options);
    runtime.group = group;
    Trainer trainer(ranks[rank], loader, options_for(out), runtime, {{"task", "mean-pixel"}});
    TrainResult result = trainer.fit();
    EXPECT_EQ(result.steps, 8);
    EXPECT_EQ(result.world_size, 2);
  });
  EXPECT_TRUE(fs::exists(out / "last.pt"));
  auto expected = reference->parameters();
  for (size_t k = 0; k < expected.size(); ++k) {
    EXPECT_TRUE(torch::equal(ranks[0]->parameters()[k], ranks[1]->parameters()[k])) << "parameter " << k;
    EXPECT_TRUE(torch::allclose(ranks[0]->parameters()[k], expected[k], 1e-4, 1e-6))
        << "parameter " << k << " differs by " << (ranks[0]->parameters()[k] - expected[k]).abs().max().item<double>();
  }
}

}  // namespace
}  // namespace pretext
