#include "pretext/train/pretrain.h"

#include "pretext/augment/image.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"

namespace pretext {

PretrainResult run_pretraining(const PretrainConfig& config, const Runtime& runtime) {
  PRETEXT_CHECK(config.batch_size >= 2, ConfigError, "--batch-size must be >= 2, got ", config.batch_size);
  config.trainer.validate();
  // Fail on a bad task name before the data is read.
  task_registry().get(config.task);

  auto images = load_dataset(config.data, "train", config.data_options);
  log::info("data: ", images->source(), ": ", images->size(), " images ", images->height(), "×", images->width(), "×",
            images->channels(), " (labels withheld for pretraining)");
  auto [mean, std] = channel_statistics(images->images());

  TaskContext context;
  context.encoder = config.encoder;
  context.encoder.in_channels = images->channels();
  context.encoder.image_size = images->height();
  context.encoder = context.encoder.resolved();
  context.options = config.task_options;
  context.mean = mean;
  context.std = std;
  context.device = runtime.device;
  context.seed = config.seed;
  TaskPtr task = make_task(config.task, context);

  LoaderOptions loader_options;
  loader_options.batch_size = config.batch_size;
  loader_options.seed = config.seed;
  loader_options.prefetch = config.prefetch;
  loader_options.drop_last = true;
  Loader loader(std::make_shared<UnlabeledView>(images), loader_options);

  PretrainResult result;
  result.config = {{"task", config.task},
                   {"task_options", task->options_json()},
                   {"encoder", context.encoder.to_json()},
                   {"normalization", {{"mean", mean}, {"std", std}}},
                   {"data", images->source()},
                   {"batch_size", config.batch_size},
                   {"seed", config.seed},
                   {"pretext_version", PRETEXT_VERSION}};
  Trainer trainer(task, loader, config.trainer, runtime, result.config);
  result.train = trainer.fit();
  return result;
}

}  // namespace pretext
