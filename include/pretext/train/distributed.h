// Data-parallel training on PyTorch's c10d. What it provides: where this process stands in a
// multi-process run (read from torchrun's, Slurm's or `pretext launch`'s variables), a
// ProcessGroup over ProcessGroupGloo (CPU) or ProcessGroupNCCL (CUDA builds that have it)
// rendezvousing through a TCPStore, and the GradientReducer that averages gradients over the
// ranks in flattened buckets while the backward pass runs.
// Requires: the same program and options on every rank. Guarantees: world size 1 never touches
// the network; a lost peer or a collective slower than the timeout throws TrainingError naming
// this rank, the operation and the timeout.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pretext/core/process_group.h"

namespace pretext {

struct LaunchEnvironment {
  std::string source = "none";  // "torchrun" (also `pretext launch`) | "slurm" | "none"
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  int64_t local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // torchrun's agent already serves the TCPStore: every rank joins it as a client, under the
  // prefix torchrun gives its workers ("/worker/attempt_<restart>").
  bool agent_store = false;
  std::string store_prefix;
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (torchrun,
// `pretext launch`, or set by hand) or else SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
// SLURM_NTASKS_PER_NODE and the first host of SLURM_JOB_NODELIST (MASTER_ADDR/MASTER_PORT win
// when set). `lookup` returns a variable's value or nullopt; by default the process environment.
// Throws ConfigError naming the variable for a malformed or inconsistent value.
LaunchEnvironment read_launch_environment(
    const std::function<std::optional<std::string>(const std::string&)>& lookup = {});

// The first host of a Slurm node list: "node[03-05,9],gpu1" → "node03".
std::string first_slurm_host(const std::string& nodelist);

// Whether this build has c10d's Gloo (multi-process runs on CPU) and NCCL (on CUDA).
bool gloo_available();
bool nccl_available();

struct DistributedOptions {
  std::string backend = "auto";  // auto (nccl on CUDA where built, else gloo) | gloo | nccl
  double timeout_seconds = 300;  // a collective (or the rendezvous) waiting longer fails
  void validate() const;
};

// The group for this process: single_process_group() when the world size is 1, else a c10d
// group. Rank 0 serves the TCPStore at MASTER_ADDR:MASTER_PORT unless torchrun's agent does.
// Throws ConfigError for an unavailable backend, TrainingError when the rendezvous times out.
ProcessGroupPtr connect_process_group(const LaunchEnvironment& environment, const DistributedOptions& options,
                                      const torch::Device& device);

// `world_size` Gloo groups in this one process over an in-memory store, one per rank (tests:
// each is driven from its own thread).
std::vector<ProcessGroupPtr> make_in_process_groups(int64_t world_size, const DistributedOptions& options = {});

// Copies rank `root`'s parameters and buffers into every rank's module (one collective per
// flattened bucket).
void broadcast_module(torch::nn::Module& module, ProcessGroup& group, int64_t root = 0);

// GradientReducer: makes every rank's gradients the mean over the ranks, as if one process had
// run the global batch. Gradients are copied into flat buckets of about bucket_megabytes as the
// backward pass produces them (tensor hooks), and a full bucket's all-reduce starts at once, in
// bucket order on every rank, so communication overlaps the rest of the backward pass. finish()
// sends what is left, waits, and writes the averaged gradients; a parameter that got no gradient
// on any rank keeps none. With one rank it does nothing.
class GradientReducer {
 public:
  GradientReducer(std::vector<torch::Tensor> parameters, ProcessGroupPtr group, double bucket_megabytes = 25);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  void prepare();  // before backward()
  void finish();   // after backward(), before the optimizer step
  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  double communication_seconds() const { return communication_seconds_; }  // finish()'s waiting, summed

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into parameters_
    std::vector<int64_t> offsets;
    torch::Tensor flat;
    size_t arrived = 0;
    std::unique_ptr<ProcessGroup::Pending> pending;
  };
  void on_gradient(size_t parameter, const torch::Tensor& gradient);
  void launch_ready();
  void launch(Bucket& bucket);

  std::vector<torch::Tensor> parameters_;
  ProcessGroupPtr group_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;   // parameter → bucket
  std::vector<size_t> slot_of_;     // parameter → its place in the bucket
  torch::Tensor arrived_;           // 1 per parameter that got a gradient this step
  std::vector<unsigned> hooks_;
  size_t next_launch_ = 0;
  bool active_ = false;
  double communication_seconds_ = 0;
};

}  // namespace pretext
