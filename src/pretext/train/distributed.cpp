#include "pretext/train/distributed.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <sstream>
#include <thread>

#include "pretext/core/error.h"
#include "pretext/core/log.h"

#ifdef PRETEXT_WITH_GLOO
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef PRETEXT_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace pretext {
namespace {

using Clock = std::chrono::steady_clock;

std::optional<std::string> from_process_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

int64_t parse_count(const std::string& name, const std::string& value, int64_t minimum) {
  size_t used = 0;
  int64_t number = -1;
  try {
    number = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  PRETEXT_CHECK(used == value.size() && !value.empty() && number >= minimum, ConfigError, "environment variable ",
                name, "='", value, "' is not a whole number >= ", minimum);
  return number;
}

// Slurm writes "2(x3),1" for tasks per node; the first figure is this node's for a uniform job.
int64_t first_count(const std::string& name, const std::string& value) {
  return parse_count(name, value.substr(0, value.find_first_of("(,")), 1);
}

#ifdef PRETEXT_WITH_GLOO
std::string first_line(const std::exception& error) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&error);
  std::string text = c10_error != nullptr ? c10_error->what_without_backtrace() : error.what();
  return text.substr(0, text.find('\n'));
}

// One c10d backend (ProcessGroupGloo or ProcessGroupNCCL; both have these calls in 1.13 and 2.x)
// behind pretext's interface, with errors that say what was lost.
template <class Backend>
class C10dGroup final : public ProcessGroup {
 public:
  C10dGroup(c10::intrusive_ptr<Backend> backend, std::string name, int64_t rank, int64_t world_size,
            double timeout_seconds)
      : backend_(std::move(backend)),
        name_(std::move(name)),
        rank_(rank),
        world_size_(world_size),
        timeout_seconds_(timeout_seconds) {}

  int64_t rank() const override { return rank_; }
  int64_t world_size() const override { return world_size_; }
  std::string backend() const override { return name_; }

  class Work final : public Pending {
   public:
    Work(const C10dGroup* group, c10::intrusive_ptr<c10d::Work> work, const char* operation)
        : group_(group), work_(std::move(work)), operation_(operation) {}
    void wait() override {
      if (!work_) return;
      try {
        work_->wait();
      } catch (const std::exception& error) {
        group_->fail(operation_, error);
      }
      work_.reset();
    }

   private:
    const C10dGroup* group_;
    c10::intrusive_ptr<c10d::Work> work_;
    const char* operation_;
  };

  std::unique_ptr<Pending> all_reduce_sum_async(torch::Tensor tensor) override {
    std::vector<at::Tensor> tensors{std::move(tensor)};
    return std::make_unique<Work>(this, call("all-reduce", [&] { return backend_->allreduce(tensors); }),
                                  "all-reduce");
  }
  void broadcast(torch::Tensor tensor, int64_t root) override {
    std::vector<at::Tensor> tensors{std::move(tensor)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    Work(this, call("broadcast", [&] { return backend_->broadcast(tensors, options); }), "broadcast").wait();
  }
  torch::Tensor all_gather(const torch::Tensor& tensor) override {
    // Gloo (CPU tensors) has no bf16 in LibTorch 1.13 ("Invalid scalar type"): bf16 autocast's
    // embeddings travel as float32 and come back as bf16, which holds them exactly.
    if (tensor.is_cpu() && tensor.scalar_type() == torch::kBFloat16) {
      return all_gather(tensor.to(torch::kFloat32)).to(torch::kBFloat16);
    }
    std::vector<at::Tensor> inputs{tensor.contiguous()};
    std::vector<std::vector<at::Tensor>> outputs(1);
    for (int64_t r = 0; r < world_size_; ++r) outputs[0].push_back(torch::empty_like(inputs[0]));
    Work(this, call("all-gather", [&] { return backend_->allgather(outputs, inputs); }), "all-gather").wait();
    return torch::cat(outputs[0], 0);
  }
  void barrier() override {
    Work(this, call("barrier", [&] { return backend_->barrier(); }), "barrier").wait();
  }

  [[noreturn]] void fail(const char* operation, const std::exception& error) const {
    std::ostringstream message;
    message << "distributed " << operation << " failed on rank " << rank_ << " of " << world_size_ << " (" << name_
            << ", timeout " << timeout_seconds_ << " s): " << first_line(error)
            << ". Another rank has probably died or hung; its output says why (--dist-timeout sets the wait)";
    throw TrainingError(message.str());
  }

 private:
  template <class Start>
  c10::intrusive_ptr<c10d::Work> call(const char* operation, Start&& start) const {
    try {
      return start();
    } catch (const std::exception& error) {
      fail(operation, error);
    }
  }

  c10::intrusive_ptr<Backend> backend_;
  std::string name_;
  int64_t rank_;
  int64_t world_size_;
  double timeout_seconds_;
};

std::chrono::milliseconds to_milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

bool is_loopback(const std::string& address) {
  return address == "localhost" || address.rfind("127.", 0) == 0 || address == "::1";
}

ProcessGroupPtr make_gloo_group(const c10::intrusive_ptr<c10d::Store>& store, int64_t rank, int64_t world_size,
                                const std::string& address, const DistributedOptions& options) {
  auto gloo_options = c10d::ProcessGroupGloo::Options::create(to_milliseconds(options.timeout_seconds));
  // GLOO_SOCKET_IFNAME names the network interface, as in PyTorch; a local run stays on loopback.
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME")) {
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
  } else if (is_loopback(address)) {
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  auto backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, static_cast<int>(rank),
                                                             static_cast<int>(world_size), gloo_options);
  return std::make_shared<C10dGroup<c10d::ProcessGroupGloo>>(backend, "gloo", rank, world_size,
                                                             options.timeout_seconds);
}
#endif

}  // namespace

bool gloo_available() {
#ifdef PRETEXT_WITH_GLOO
  return true;
#else
  return false;
#endif
}

bool nccl_available() {
#ifdef PRETEXT_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::string first_slurm_host(const std::string& nodelist) {
  // The first entry ends at the first comma outside brackets.
  size_t end = 0;
  int depth = 0;
  for (; end < nodelist.size(); ++end) {
    if (nodelist[end] == '[') ++depth;
    if (nodelist[end] == ']') --depth;
    if (nodelist[end] == ',' && depth == 0) break;
  }
  const std::string first = nodelist.substr(0, end);
  const size_t open = first.find('[');
  if (open == std::string::npos) return first;
  // "node[03-05,9]": the prefix and the range list's first number, zero padding kept.
  const std::string ranges = first.substr(open + 1, first.find(']') - open - 1);
  return first.substr(0, open) + ranges.substr(0, ranges.find_first_of("-,"));
}

LaunchEnvironment read_launch_environment(
    const std::function<std::optional<std::string>(const std::string&)>& lookup_or_default) {
  const auto lookup = lookup_or_default ? lookup_or_default : from_process_environment;
  LaunchEnvironment environment;
  if (auto world = lookup("WORLD_SIZE")) {
    environment.source = "torchrun";
    environment.world_size = parse_count("WORLD_SIZE", *world, 1);
    auto rank = lookup("RANK");
    PRETEXT_CHECK(rank.has_value(), ConfigError, "environment variable WORLD_SIZE=", *world,
                  " is set but RANK is not: set both (torchrun and `pretext launch` do)");
    environment.rank = parse_count("RANK", *rank, 0);
    if (auto local = lookup("LOCAL_RANK")) environment.local_rank = parse_count("LOCAL_RANK", *local, 0);
    if (auto local = lookup("LOCAL_WORLD_SIZE")) {
      environment.local_world_size = parse_count("LOCAL_WORLD_SIZE", *local, 1);
    }
    environment.agent_store = lookup("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
    if (environment.agent_store) {
      environment.store_prefix = "/worker/attempt_" + lookup("TORCHELASTIC_RESTART_COUNT").value_or("0");
    }
  } else if (auto tasks = lookup("SLURM_NTASKS")) {
    environment.source = "slurm";
    environment.world_size = parse_count("SLURM_NTASKS", *tasks, 1);
    environment.rank = parse_count("SLURM_PROCID", lookup("SLURM_PROCID").value_or("0"), 0);
    environment.local_rank = parse_count("SLURM_LOCALID", lookup("SLURM_LOCALID").value_or("0"), 0);
    if (auto per_node = lookup("SLURM_NTASKS_PER_NODE")) {
      environment.local_world_size = first_count("SLURM_NTASKS_PER_NODE", *per_node);
    }
    auto nodes = lookup("SLURM_JOB_NODELIST");
    if (!nodes) nodes = lookup("SLURM_NODELIST");
    if (nodes) environment.master_addr = first_slurm_host(*nodes);
    // A port of the job's own, so that two jobs on one node do not collide.
    if (auto job = lookup("SLURM_JOB_ID")) {
      environment.master_port = 15000 + static_cast<int>(parse_count("SLURM_JOB_ID", *job, 0) % 20000);
    }
  }
  if (environment.source == "none") return environment;
  if (auto address = lookup("MASTER_ADDR")) environment.master_addr = *address;
  if (auto port = lookup("MASTER_PORT")) {
    const int64_t number = parse_count("MASTER_PORT", *port, 1);
    PRETEXT_CHECK(number <= 65535, ConfigError, "environment variable MASTER_PORT='", *port, "' is not a TCP port");
    environment.master_port = static_cast<int>(number);
  }
  PRETEXT_CHECK(environment.rank < environment.world_size, ConfigError, "rank ", environment.rank,
                " is outside the world of ", environment.world_size, " (", environment.source, " variables)");
  PRETEXT_CHECK(environment.local_rank < environment.local_world_size || environment.local_world_size == 1,
                ConfigError, "LOCAL_RANK ", environment.local_rank, " is outside LOCAL_WORLD_SIZE ",
                environment.local_world_size);
  return environment;
}

void DistributedOptions::validate() const {
  PRETEXT_CHECK(backend == "auto" || backend == "gloo" || backend == "nccl", ConfigError,
                "--dist-backend must be auto, gloo or nccl, got '", backend, "'");
  PRETEXT_CHECK(timeout_seconds > 0, ConfigError, "--dist-timeout must be > 0 seconds, got ", timeout_seconds);
}

ProcessGroupPtr connect_process_group(const LaunchEnvironment& environment, const DistributedOptions& options,
                                      const torch::Device& device) {
  options.validate();
  if (environment.world_size == 1) return single_process_group();
  std::string backend = options.backend;
  if (backend == "auto") {
#ifdef PRETEXT_WITH_NCCL
    backend = device.is_cuda() ? "nccl" : "gloo";
#else
    backend = "gloo";
#endif
  }
#ifndef PRETEXT_WITH_NCCL
  PRETEXT_CHECK(backend != "nccl", ConfigError,
                "--dist-backend nccl: this pretext was built without NCCL (a CUDA LibTorch with NCCL is needed); use gloo");
#endif
#ifndef PRETEXT_WITH_GLOO
  throw ConfigError("this pretext was built without c10d's Gloo (libgloo-dev): it cannot run " +
                    std::to_string(environment.world_size) + " ranks");
#else
  const auto timeout = to_milliseconds(options.timeout_seconds);
  const std::string where = environment.master_addr + ":" + std::to_string(environment.master_port);
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(environment.master_port);
    store_options.isServer = !environment.agent_store && environment.rank == 0;
    // Every rank names the world size, as torch.distributed does: the server counts the ranks in
    // and each waits until all have joined (a client without it would leave the server waiting out
    // the whole timeout).
    if (!environment.agent_store) store_options.numWorkers = static_cast<size_t>(environment.world_size);
    store_options.waitWorkers = !environment.agent_store;
    store_options.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(environment.master_addr, store_options);
    if (environment.agent_store) store = c10::make_intrusive<c10d::PrefixStore>(environment.store_prefix, store);
    store = c10::make_intrusive<c10d::PrefixStore>("pretext", store);
  } catch (const std::exception& error) {
    throw TrainingError("distributed rendezvous failed on rank " + std::to_string(environment.rank) + " of " +
                        std::to_string(environment.world_size) + " at " + where + " (" + environment.source +
                        " variables, timeout " + std::to_string(static_cast<int64_t>(options.timeout_seconds)) +
                        " s): " + first_line(error) +
                        (environment.rank == 0 ? ". Is the port free (MASTER_PORT)?"
                                               : ". Is rank 0 running, and is MASTER_ADDR its address?"));
  }
  try {
    ProcessGroupPtr group;
    if (backend == "gloo") {
      group = make_gloo_group(store, environment.rank, environment.world_size, environment.master_addr, options);
    } else {
#ifdef PRETEXT_WITH_NCCL
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, static_cast<int>(environment.rank),
                                                               static_cast<int>(environment.world_size), nccl_options);
      group = std::make_shared<C10dGroup<c10d::ProcessGroupNCCL>>(nccl, "nccl", environment.rank,
                                                                  environment.world_size, options.timeout_seconds);
#endif
    }
    log::info("distributed: rank ", environment.rank, " of ", environment.world_size, " (", backend, ", ",
              environment.source, " variables, rendezvous ", where, ")");
    return group;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    throw TrainingError("distributed: rank " + std::to_string(environment.rank) + " could not connect to its peers (" +
                        backend + ", via " + where + "): " + first_line(error));
  }
#endif
}

std::vector<ProcessGroupPtr> make_in_process_groups(int64_t world_size, const DistributedOptions& options) {
  options.validate();
  PRETEXT_CHECK(world_size >= 1, ConfigError, "world size must be >= 1, got ", world_size);
  if (world_size == 1) return {single_process_group()};
#ifndef PRETEXT_WITH_GLOO
  throw ConfigError("this pretext was built without c10d's Gloo (libgloo-dev)");
#else
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::HashStore>();
  std::vector<ProcessGroupPtr> groups(static_cast<size_t>(world_size));
  std::vector<std::exception_ptr> errors(groups.size());
  std::vector<std::thread> threads;
  // Each rank's constructor waits for all the others: they must be built at the same time.
  for (int64_t r = 0; r < world_size; ++r) {
    threads.emplace_back([&, r] {
      try {
        groups[r] = make_gloo_group(store, r, world_size, "127.0.0.1", options);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
  return groups;
#endif
}

void broadcast_module(torch::nn::Module& module, ProcessGroup& group, int64_t root) {
  if (group.world_size() == 1) return;
  std::vector<torch::Tensor> tensors;
  for (const auto& parameter : module.parameters()) tensors.push_back(parameter);
  for (const auto& buffer : module.buffers()) tensors.push_back(buffer);
  // One flat tensor per dtype and device; parameters are written in place without autograd.
  torch::NoGradGuard no_grad;
  std::map<std::pair<std::string, std::string>, std::vector<torch::Tensor>> groups;
  for (const auto& tensor : tensors) {
    groups[{std::string(c10::toString(tensor.scalar_type())), tensor.device().str()}].push_back(tensor);
  }
  for (auto& [kind, members] : groups) {
    std::vector<torch::Tensor> flat_parts;
    for (const auto& tensor : members) flat_parts.push_back(tensor.reshape(-1));
    torch::Tensor flat = torch::cat(flat_parts);
    group.broadcast(flat, root);
    int64_t offset = 0;
    for (auto& tensor : members) {
      tensor.copy_(flat.narrow(0, offset, tensor.numel()).view(tensor.sizes()));
      offset += tensor.numel();
    }
  }
}

GradientReducer::GradientReducer(std::vector<torch::Tensor> parameters, ProcessGroupPtr group,
                                 double bucket_megabytes)
    : parameters_(std::move(parameters)), group_(std::move(group)) {
  PRETEXT_CHECK(bucket_megabytes > 0, ConfigError, "gradient bucket size must be > 0 MB, got ", bucket_megabytes);
  if (!group_ || group_->world_size() == 1) return;
  const auto cap = static_cast<int64_t>(bucket_megabytes * 1024 * 1024);
  bucket_of_.assign(parameters_.size(), 0);
  slot_of_.assign(parameters_.size(), 0);
  // Gradients arrive roughly from the last layer to the first: buckets follow that order.
  int64_t bytes = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const torch::Tensor& parameter = parameters_[k];
    const bool fits = !buckets_.empty() && bytes + parameter.nbytes() <= static_cast<size_t>(cap) &&
                      parameters_[buckets_.back().members.front()].scalar_type() == parameter.scalar_type() &&
                      parameters_[buckets_.back().members.front()].device() == parameter.device();
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    bucket_of_[k] = buckets_.size() - 1;
    slot_of_[k] = bucket.members.size();
    bucket.offsets.push_back(bucket.members.empty() ? 0 : bucket.offsets.back() + parameters_[bucket.members.back()].numel());
    bucket.members.push_back(k);
    bytes += static_cast<int64_t>(parameter.nbytes());
  }
  for (auto& bucket : buckets_) {
    const torch::Tensor& last = parameters_[bucket.members.back()];
    bucket.flat = torch::zeros({bucket.offsets.back() + last.numel()}, last.options().requires_grad(false));
  }
  arrived_ = torch::zeros({static_cast<int64_t>(parameters_.size())}, torch::kFloat);
  for (size_t k = 0; k < parameters_.size(); ++k) {
    hooks_.push_back(parameters_[k].register_hook([this, k](torch::Tensor gradient) { on_gradient(k, gradient); }));
  }
}

GradientReducer::~GradientReducer() {
  for (size_t k = 0; k < hooks_.size(); ++k) parameters_[k].remove_hook(hooks_[k]);
}

void GradientReducer::prepare() {
  if (buckets_.empty()) return;
  for (auto& bucket : buckets_) {
    bucket.arrived = 0;
    bucket.pending.reset();
  }
  arrived_.zero_();
  next_launch_ = 0;
  active_ = true;
}

void GradientReducer::on_gradient(size_t parameter, const torch::Tensor& gradient) {
  if (!active_) return;
  Bucket& bucket = buckets_[bucket_of_[parameter]];
  PRETEXT_CHECK(!bucket.pending, TrainingError, "a gradient arrived twice in one backward pass (parameter ",
                parameter, "): the gradient reducer supports one backward() per step");
  torch::NoGradGuard no_grad;
  const size_t slot = slot_of_[parameter];
  torch::Tensor target = bucket.flat.narrow(0, bucket.offsets[slot], gradient.numel()).view(gradient.sizes());
  float& seen = arrived_.data_ptr<float>()[parameter];
  if (seen > 0) {
    target.add_(gradient);
  } else {
    target.copy_(gradient);
    seen = 1;
    ++bucket.arrived;
  }
  launch_ready();
}

void GradientReducer::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].arrived == buckets_[next_launch_].members.size()) {
    launch(buckets_[next_launch_++]);
  }
}

void GradientReducer::launch(Bucket& bucket) {
  bucket.pending = group_->all_reduce_sum_async(bucket.flat);
}

void GradientReducer::finish() {
  if (buckets_.empty() || !active_) return;
  active_ = false;
  torch::NoGradGuard no_grad;
  // Parameters that got no gradient here send zeros; the arrival counts tell, after the
  // all-reduce, which ones no rank touched.
  const float* seen = arrived_.data_ptr<float>();
  for (; next_launch_ < buckets_.size(); ++next_launch_) {
    Bucket& bucket = buckets_[next_launch_];
    for (size_t slot = 0; slot < bucket.members.size(); ++slot) {
      const size_t k = bucket.members[slot];
      if (seen[k] == 0) bucket.flat.narrow(0, bucket.offsets[slot], parameters_[k].numel()).zero_();
    }
    launch(bucket);
  }
  torch::Tensor arrivals = arrived_.clone();
  auto arrivals_pending = group_->all_reduce_sum_async(arrivals);
  const auto waiting = Clock::now();
  for (auto& bucket : buckets_) bucket.pending->wait();
  arrivals_pending->wait();
  communication_seconds_ += std::chrono::duration<double>(Clock::now() - waiting).count();
  const double world = static_cast<double>(group_->world_size());
  const float* anywhere = arrivals.data_ptr<float>();
  for (auto& bucket : buckets_) {
    bucket.flat.div_(world);
    for (size_t slot = 0; slot < bucket.members.size(); ++slot) {
      torch::Tensor& parameter = parameters_[bucket.members[slot]];
      if (anywhere[bucket.members[slot]] == 0) {
        parameter.mutable_grad() = torch::Tensor();
        continue;
      }
      torch::Tensor averaged = bucket.flat.narrow(0, bucket.offsets[slot], parameter.numel()).view(parameter.sizes());
      if (parameter.grad().defined()) {
        parameter.mutable_grad().copy_(averaged);
      } else {
        parameter.mutable_grad() = torch::empty_like(parameter).copy_(averaged);  // the parameter's layout
      }
    }
  }
}

}  // namespace pretext
