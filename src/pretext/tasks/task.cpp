#include "pretext/tasks/task.h"

#include "pretext/core/runtime.h"
#include "pretext/tasks/rotation.h"
#include "pretext/tasks/simclr.h"

namespace pretext {

PretextTask::PretextTask(const std::string& name, uint64_t seed)
    : torch::nn::Module(name), generator_(make_generator(seed)) {}

torch::Tensor PretextTask::prepare_for_encoder(const torch::Tensor& x) const {
  if (x.dim() == 4 && encoder()->prefers_channels_last()) return x.contiguous(torch::MemoryFormat::ChannelsLast);
  return x;
}

ImageAugmentOptions fit_augment_to_data(ImageAugmentOptions options, const TaskContext& context) {
  if (options.size == 0) options.size = context.encoder.image_size;
  if (options.mean.empty()) options.mean = context.mean;
  if (options.std.empty()) options.std = context.std;
  options.validate();
  return options;
}

Registry<TaskFactory>& task_registry() {
  static Registry<TaskFactory>* registry = [] {
    auto* made = new Registry<TaskFactory>("pretext task");
    made->add(
        "simclr",
        [](const TaskContext& context) {
          return std::make_shared<SimCLRTask>(context, SimCLROptions::from_json(context.options));
        },
        "SimCLR: two augmented views, MLP projector, NT-Xent contrastive loss");
    made->add(
        "rotation",
        [](const TaskContext& context) {
          return std::make_shared<RotationTask>(context, RotationOptions::from_json(context.options));
        },
        "RotNet: predict which of four rotations was applied");
    // [momentum-family registrations: moco, mocov3, byol, simsiam]
    // [redundancy-family registrations: barlow-twins, vicreg, dino]
    // [vit-family registrations: mae]
    return made;
  }();
  return *registry;
}

TaskPtr make_task(const std::string& name, const TaskContext& context) {
  const auto& entry = task_registry().get(name);
  TaskPtr task = entry.factory(context);
  task->to(context.device);
  return task;
}

TaskRegistrar::TaskRegistrar(const std::string& name, TaskFactory factory, const std::string& description) {
  task_registry().add(name, std::move(factory), description);
}

}  // namespace pretext
