#include "pretext/core/process_group.h"

#include <torch/custom_class.h>

namespace pretext {
namespace {

class SingleProcessGroup final : public ProcessGroup {
 public:
  class Done final : public Pending {
   public:
    void wait() override {}
  };
  int64_t rank() const override { return 0; }
  int64_t world_size() const override { return 1; }
  std::string backend() const override { return "single"; }
  std::unique_ptr<Pending> all_reduce_sum_async(torch::Tensor) override { return std::make_unique<Done>(); }
  void broadcast(torch::Tensor, int64_t) override {}
  torch::Tensor all_gather(const torch::Tensor& tensor) override { return tensor; }
  void barrier() override {}
};

// Carries the group from the forward pass to the backward pass, which may run on another thread
// (CUDA's autograd worker): autograd contexts hold IValues, and a capsule is the IValue that
// holds an arbitrary object.
struct GroupCapsule : torch::CustomClassHolder {
  explicit GroupCapsule(ProcessGroupPtr group) : group(std::move(group)) {}
  ProcessGroupPtr group;
};

struct AllGatherWithGrad : torch::autograd::Function<AllGatherWithGrad> {
  static torch::Tensor forward(torch::autograd::AutogradContext* context, torch::Tensor x,
                               const ProcessGroupPtr& group) {
    context->saved_data["group"] = c10::IValue::make_capsule(c10::make_intrusive<GroupCapsule>(group));
    context->saved_data["rows"] = x.size(0);
    return group->all_gather(x.contiguous());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list grad_outputs) {
    auto capsule = context->saved_data["group"].toCapsule();
    const ProcessGroupPtr& group = static_cast<GroupCapsule*>(capsule.get())->group;
    const int64_t rows = context->saved_data["rows"].toInt();
    // Each rank's loss put gradient on every slice; this rank's slice gets all of them. Summed in
    // float32 (Gloo has no bf16); autograd casts the slice back to the input's dtype.
    torch::Tensor gradient = grad_outputs[0].to(torch::kFloat32).contiguous().clone();
    group->all_reduce_sum(gradient);
    return {gradient.narrow(0, group->rank() * rows, rows), torch::Tensor()};
  }
};

}  // namespace

ProcessGroupPtr single_process_group() {
  static const ProcessGroupPtr group = std::make_shared<SingleProcessGroup>();
  return group;
}

torch::Tensor all_gather_with_grad(const torch::Tensor& x, const ProcessGroupPtr& group) {
  if (!group || group->world_size() == 1) return x;
  return AllGatherWithGrad::apply(x, group);
}

torch::Tensor all_reduce_mean(const torch::Tensor& x, ProcessGroup& group) {
  torch::Tensor sum = x.detach().clone();
  if (group.world_size() == 1) return sum;
  group.all_reduce_sum(sum);
  return sum.div_(static_cast<double>(group.world_size()));
}

}  // namespace pretext
