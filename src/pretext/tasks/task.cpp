#include "pretext/tasks/task.h"

#include "pretext/core/runtime.h"
#include "pretext/tasks/audio.h"
#include "pretext/tasks/barlow_twins.h"
#include "pretext/tasks/byol.h"
#include "pretext/tasks/dino.h"
#include "pretext/tasks/mae.h"
#include "pretext/tasks/mlm.h"
#include "pretext/tasks/moco.h"
#include "pretext/tasks/rotation.h"
#include "pretext/tasks/simclr.h"
#include "pretext/tasks/simsiam.h"
#include "pretext/tasks/video.h"
#include "pretext/tasks/vicreg.h"

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
    made->add(
        "moco",
        [](const TaskContext& context) {
          return std::make_shared<MoCoTask>(context, MoCoOptions::from_json(context.options));
        },
        "MoCo v2: momentum key encoder, a queue of negatives, InfoNCE");
    made->add(
        "mocov3",
        [](const TaskContext& context) {
          return std::make_shared<MoCoV3Task>(context, MoCoV3Options::from_json(context.options));
        },
        "MoCo v3: momentum key encoder, predictor, symmetric contrastive loss with in-batch negatives");
    made->add(
        "byol",
        [](const TaskContext& context) {
          return std::make_shared<BYOLTask>(context, BYOLOptions::from_json(context.options));
        },
        "BYOL: predict a momentum target network's projection of another view; no negatives");
    made->add(
        "simsiam",
        [](const TaskContext& context) {
          return std::make_shared<SimSiamTask>(context, SimSiamOptions::from_json(context.options));
        },
        "SimSiam: predict the other view's projection, stop-gradient; no negatives, no momentum encoder");
    // [redundancy-family registrations: barlow-twins, vicreg, dino]
    made->add(
        "barlow-twins",
        [](const TaskContext& context) {
          return std::make_shared<BarlowTwinsTask>(context, BarlowTwinsOptions::from_json(context.options));
        },
        "Barlow Twins: two views, cross-correlation of the embeddings driven to the identity");
    made->add(
        "vicreg",
        [](const TaskContext& context) {
          return std::make_shared<VICRegTask>(context, VICRegOptions::from_json(context.options));
        },
        "VICReg: two views, variance-invariance-covariance regularisation of the embeddings");
    made->add(
        "dino",
        [](const TaskContext& context) {
          return std::make_shared<DINOTask>(context, DINOOptions::from_json(context.options));
        },
        "DINO: multi-crop self-distillation from an EMA teacher with centring and sharpening");
    // [vit-family registrations: mae]
    made->add(
        "mae",
        [](const TaskContext& context) {
          return std::make_shared<MAETask>(context, MAEOptions::from_json(context.options));
        },
        "MAE: hide 75% of a ViT's patches, reconstruct their pixels with a light decoder");
    // [speech and video]
    made->add(
        "audio-contrastive",
        [](const TaskContext& context) {
          return std::make_shared<AudioContrastiveTask>(context, AudioContrastiveOptions::from_json(context.options));
        },
        "speech (COLA/SimCLR): two augmented segments of a recording, NT-Xent against other recordings");
    made->add(
        "masked-frames",
        [](const TaskContext& context) {
          return std::make_shared<MaskedFramesTask>(context, MaskedFramesOptions::from_json(context.options));
        },
        "speech: hide spans of log-mel frames, predict them from context (masked spectrogram modelling)");
    made->add(
        "masked-units",
        [](const TaskContext& context) {
          return std::make_shared<MaskedUnitsTask>(context, MaskedUnitsOptions::from_json(context.options));
        },
        "speech (HuBERT): hide spans of steps, predict each one's k-means unit of MFCC-like features");
    made->add(
        "clip-contrastive",
        [](const TaskContext& context) {
          return std::make_shared<ClipContrastiveTask>(context, ClipContrastiveOptions::from_json(context.options));
        },
        "video (CVRL): two clips from random times of a video, NT-Xent against other videos' clips");
    made->add(
        "frame-order",
        [](const TaskContext& context) {
          return std::make_shared<FrameOrderTask>(context, FrameOrderOptions::from_json(context.options));
        },
        "video: is this clip playing forward, reversed or shuffled (Shuffle and Learn + arrow of time)");
    // [text-family registrations: mlm, mlm-nsp]
    made->add(
        "mlm",
        [](const TaskContext& context) {
          return std::make_shared<MLMTask>(context, MLMOptions::from_json(context.options, false));
        },
        "RoBERTa-style masked-LM: 15% of tokens chosen (80% [MASK], 10% random, 10% kept), dynamic masking");
    made->add(
        "mlm-nsp",
        [](const TaskContext& context) {
          return std::make_shared<MLMTask>(context, MLMOptions::from_json(context.options, true));
        },
        "BERT: masked-LM plus next-sentence prediction on sentence pairs (50% real next, 50% another document)");
    return made;
  }();
  return *registry;
}

TaskPtr make_task(const std::string& name, const TaskContext& context) {
  const auto& entry = task_registry().get(name);
  TaskPtr task = entry.factory(context);
  task->set_process_group(context.group);
  task->to(context.device);
  return task;
}

TaskRegistrar::TaskRegistrar(const std::string& name, TaskFactory factory, const std::string& description) {
  task_registry().add(name, std::move(factory), description);
}

}  // namespace pretext
