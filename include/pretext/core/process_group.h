// ProcessGroup: the ranks of one data-parallel run and the collectives they share. What it
// represents: this process's place (rank of world_size) and a way to sum, gather and broadcast
// tensors with its peers. Requires: every rank calls the same collectives, on tensors of the same
// shapes, in the same order. Guarantees: the single-process group (world size 1) needs no network
// and leaves its inputs as they are; in a real group, a peer that dies or hangs makes the waiting
// collective throw TrainingError within the group's timeout.
// The implementation over PyTorch's c10d (Gloo, NCCL) is in train/distributed.h; tasks see only
// this interface, through TaskContext::group.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

namespace pretext {

class ProcessGroup {
 public:
  // A collective in flight; wait() returns once its result is in the tensor it was given.
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual void wait() = 0;
  };

  virtual ~ProcessGroup() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t world_size() const = 0;
  virtual std::string backend() const = 0;  // "single", "gloo", "nccl"

  // Sums `tensor` over the ranks, in place. The call returns at once; the sum is in `tensor`
  // after wait() (which throws TrainingError when a peer is lost).
  virtual std::unique_ptr<Pending> all_reduce_sum_async(torch::Tensor tensor) = 0;
  void all_reduce_sum(torch::Tensor tensor) { all_reduce_sum_async(std::move(tensor))->wait(); }
  // Copies rank `root`'s `tensor` into every rank's `tensor`.
  virtual void broadcast(torch::Tensor tensor, int64_t root) = 0;
  // Every rank's `tensor` (same shape on all ranks) concatenated along dim 0, in rank order (with
  // one rank, `tensor` itself). No gradient: see all_gather_with_grad().
  virtual torch::Tensor all_gather(const torch::Tensor& tensor) = 0;
  virtual void barrier() = 0;
};

using ProcessGroupPtr = std::shared_ptr<ProcessGroup>;

// World size 1: rank 0, collectives return their inputs. Shared, stateless.
ProcessGroupPtr single_process_group();

// Every rank's `x` concatenated along dim 0 in rank order, differentiable: the gradient that
// reaches this rank's own slice is the sum, over all ranks, of the gradients their losses put on
// it. With the trainer's gradient averaging, a loss computed on the gathered batch then trains as
// if one process held the whole global batch (SimCLR's and MoCo v3's negatives, Barlow Twins'
// and VICReg's batch statistics). With one rank it returns `x` itself.
torch::Tensor all_gather_with_grad(const torch::Tensor& x, const ProcessGroupPtr& group);

// The mean of `x` over the ranks (a new tensor, no gradient): DINO's centre, logged losses.
torch::Tensor all_reduce_mean(const torch::Tensor& x, ProcessGroup& group);

}  // namespace pretext
