#include "pretext/train/pretrain.h"

#include <algorithm>
#include <filesystem>

#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/models/bert.h"
#include "pretext/train/checkpoint.h"
#include "pretext/train/monitor.h"

namespace pretext {

PretrainResult run_pretraining(const PretrainConfig& config, const Runtime& runtime) {
  PRETEXT_CHECK(config.batch_size >= 2, ConfigError, "--batch-size must be >= 2, got ", config.batch_size);
  config.trainer.validate();
  config.monitor.validate();
  // Fail on a bad task name before the data is read.
  task_registry().get(config.task);

  // A built-in encoder of the other modality fails here, before a tokenizer is trained on the
  // data (the check after loading covers registered encoders too).
  const std::string& encoder_name = config.encoder.name;
  const bool image_encoder = encoder_name == "convnet" || encoder_name.rfind("resnet", 0) == 0 ||
                             encoder_name.rfind("vit-", 0) == 0;
  auto named = [&](const std::vector<std::pair<std::string, std::string>>& names) {
    return std::any_of(names.begin(), names.end(), [&](const auto& entry) { return entry.first == config.data; });
  };
  // Data that does not exist gets the reader's error (it names the path and the known datasets).
  if (std::filesystem::exists(config.data) || named(named_datasets()) || named(named_text_datasets())) {
    const std::string modality = detect_modality(config.data, config.inputs.modality);
    PRETEXT_CHECK(!(image_encoder && modality == "text"), ConfigError, "--encoder ", encoder_name,
                  " reads images, but ", config.data,
                  " is text; use --encoder bert-tiny (or bert-mini, bert-small) with --task mlm or mlm-nsp");
    PRETEXT_CHECK(!(is_bert_name(encoder_name) && modality == "image"), ConfigError, "--encoder ", encoder_name,
                  " reads text, but ", config.data, " is images; use an image encoder (convnet, resnet18, vit-tiny, …)");
  }

  // Next-sentence pairs are cut from a window's sentences, so they must not cross documents.
  PRETEXT_CHECK(!(config.task == "mlm-nsp" && config.inputs.windows.packing == "corpus"), ConfigError,
                "--packing corpus puts several documents in a window, but --task mlm-nsp needs a window's "
                "sentences to follow each other; use --packing document or --task mlm");

  // A resumed text run keeps the tokenizer its checkpoint was trained with.
  std::map<std::string, std::string> reuse_assets;
  const auto checkpoint_path = config.trainer.out_dir / "last.pt";
  if (config.trainer.resume && std::filesystem::exists(checkpoint_path)) {
    reuse_assets = read_checkpoint_state(checkpoint_path).assets;
  }
  RunInputs inputs = load_pretraining_inputs(config.data, config.encoder, config.inputs, reuse_assets);
  DatasetPtr train = inputs.train;
  log::info("data: ", inputs.summary, " (labels withheld for pretraining)");

  TaskContext context;
  context.encoder = inputs.encoder;
  context.options = config.task_options;
  context.mean = inputs.normalization.mean;
  context.std = inputs.normalization.std;
  context.device = runtime.device;
  context.seed = config.seed;
  context.group = runtime.group;
  context.preprocessing = inputs.config.value("preprocessing", nlohmann::json::object());
  const bool audio_encoder = context.encoder.name.rfind("audio", 0) == 0;
  const bool video_encoder = context.encoder.name.rfind("video", 0) == 0;
  if (inputs.modality == "audio" || inputs.modality == "video") {
    const bool fits = inputs.modality == "audio" ? audio_encoder : video_encoder;
    PRETEXT_CHECK(fits, ConfigError, "--encoder ", context.encoder.name, " does not read ", inputs.modality, "; ",
                  config.data, " is ", inputs.modality,
                  inputs.modality == "audio"
                      ? ": use --encoder audio-transformer with --task audio-contrastive, masked-frames or masked-units"
                      : ": use --encoder video-cnn3d with --task clip-contrastive or frame-order");
  } else {
    PRETEXT_CHECK(!audio_encoder && !video_encoder, ConfigError, "--encoder ", context.encoder.name, " reads ",
                  video_encoder ? "video" : "audio", ", but ", config.data, " is ", inputs.modality);
  }
  TaskPtr task = make_task(config.task, context);
  const bool text_encoder = dynamic_cast<const TokenEncoder*>(task->encoder().get()) != nullptr;
  PRETEXT_CHECK(text_encoder == (inputs.modality == "text") || inputs.modality == "audio" || inputs.modality == "video",
                ConfigError, "--encoder ", context.encoder.name,
                text_encoder ? " reads text, but " : " reads images, but ", config.data, " is ", inputs.modality,
                inputs.modality == "text" ? "; use --encoder bert-tiny (or bert-mini, bert-small) with --task mlm or mlm-nsp"
                                          : "; use an image encoder (convnet, resnet18, vit-tiny, …)");

  LoaderOptions loader_options;
  loader_options.batch_size = config.batch_size;
  loader_options.seed = config.seed;
  loader_options.prefetch = config.prefetch;
  loader_options.drop_last = true;
  loader_options.rank = runtime.group->rank();
  loader_options.world_size = runtime.group->world_size();
  // The loader keeps the labels (when there are any) for the online classifier; the Trainer
  // withholds them from the task.
  const bool labelled = train->num_classes() >= 2;
  const bool probe = labelled && config.monitor.online_probe;
  Loader loader(probe ? train : DatasetPtr(std::make_shared<UnlabeledView>(train)), loader_options);
  // Health is measured for every run; the probe and k-NN need labels (make_knn_monitor_data
  // returns no data without them, or with --knn-every 0).
  DatasetPtr test;
  if (labelled && config.monitor.knn_every_epochs > 0) {
    try {
      nlohmann::json checkpoint_like = inputs.config;
      checkpoint_like["encoder"] = inputs.encoder.to_json();
      test = load_evaluation_split(config.data, "test", checkpoint_like, inputs.assets, config.inputs);
    } catch (const InputError&) {
      log::info("monitor: no test split in ", config.data, "; k-NN queries come from held-out training samples");
    }
  }
  auto knn = make_knn_monitor_data(train, test, config.monitor, inputs.preprocessor, config.seed);
  if (knn.bank) {
    log::info("monitor: k-NN every ", config.monitor.knn_every_epochs, " epoch(s), ", knn.bank->size(), " bank, ",
              knn.queries->size(), " queries", probe ? "; online linear probe on the side" : "");
  }
  auto monitor = std::make_shared<Monitor>(config.monitor, probe ? train->num_classes() : 0, knn, runtime);

  PretrainResult result;
  result.config = {{"task", config.task},
                   {"task_options", task->options_json()},
                   {"encoder", context.encoder.to_json()},
                   {"data", config.data},  // as given: `evaluate` reloads it by this name or path
                   {"data_source", train->source()},
                   {"batch_size", config.batch_size},
                   {"world_size", runtime.group->world_size()},
                   {"seed", config.seed},
                   {"pretext_version", PRETEXT_VERSION}};
  result.config.update(inputs.config);
  result.config["monitor"] = config.monitor.to_json();
  Trainer trainer(task, loader, config.trainer, runtime, result.config);
  trainer.set_monitor(monitor);
  trainer.set_assets(inputs.assets);
  result.train = trainer.fit();
  return result;
}

}  // namespace pretext
