#include "pretext/train/pretrain.h"

#include "pretext/augment/image.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/train/monitor.h"

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
  // The loader keeps the labels (when there are any) for the online classifier; the Trainer
  // withholds them from the task.
  const bool labelled = images->num_classes() >= 2;
  const bool probe = labelled && config.monitor.online_probe;
  Loader loader(probe ? DatasetPtr(images) : DatasetPtr(std::make_shared<UnlabeledView>(images)), loader_options);
  config.monitor.validate();
  // Health is measured for every run; the probe and k-NN need labels (make_knn_monitor_data
  // returns no data without them, or with --knn-every 0).
  DatasetPtr test;
  if (labelled && config.monitor.knn_every_epochs > 0) {
    try {
      test = load_dataset(config.data, "test", config.data_options);
    } catch (const InputError&) {
      log::info("monitor: no test split in ", config.data, "; k-NN queries come from held-out training images");
    }
  }
  auto knn = make_knn_monitor_data(images, test, config.monitor, Normalization{mean, std}, config.seed);
  if (knn.bank) {
    log::info("monitor: k-NN every ", config.monitor.knn_every_epochs, " epoch(s), ", knn.bank->size(), " bank, ",
              knn.queries->size(), " queries", probe ? "; online linear probe on the side" : "");
  }
  auto monitor = std::make_shared<Monitor>(config.monitor, probe ? images->num_classes() : 0, knn, runtime);

  PretrainResult result;
  result.config = {{"task", config.task},
                   {"task_options", task->options_json()},
                   {"encoder", context.encoder.to_json()},
                   {"normalization", {{"mean", mean}, {"std", std}}},
                   {"data", images->source()},
                   {"batch_size", config.batch_size},
                   {"seed", config.seed},
                   {"pretext_version", PRETEXT_VERSION}};
  result.config["monitor"] = config.monitor.to_json();
  Trainer trainer(task, loader, config.trainer, runtime, result.config);
  trainer.set_monitor(monitor);
  result.train = trainer.fit();
  return result;
}

}  // namespace pretext
