#include <iostream>

#include "pretext/cli/commands.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/data/datasets.h"
#include "pretext/report/results.h"
#include "pretext/train/checkpoint.h"

namespace pretext::cli {
namespace fs = std::filesystem;

int run_pretrain(const PretrainFlags& flags, const RuntimeFlags& runtime_flags) {
  Runtime runtime = start_runtime(runtime_flags);
  PretrainConfig config = flags.config;
  config.seed = runtime.seed;
  PretrainResult result = run_pretraining(config, runtime);
  return result.train.interrupted ? 130 : 0;
}

std::vector<ProtocolResult> evaluate_checkpoint(const fs::path& checkpoint, const EvaluateFlags& flags,
                                                const fs::path& out_dir, const Runtime& runtime) {
  CheckpointState state = read_checkpoint_state(checkpoint);
  const auto& config = state.config;
  PRETEXT_CHECK(config.contains("normalization") && config.contains("encoder"), InputError, checkpoint.string(),
                ": the checkpoint has no encoder or normalisation config");
  Normalization normalization{config["normalization"]["mean"].get<std::vector<double>>(),
                              config["normalization"]["std"].get<std::vector<double>>()};
  EncoderConfig encoder_config = EncoderConfig::from_json(config["encoder"]);

  const std::string data = flags.data.empty() ? config.value("data", "") : flags.data;
  PRETEXT_CHECK(!data.empty(), ConfigError, "--data: the checkpoint names no data; give the labelled data");
  DataOptions data_options;
  data_options.image_folder.image_size = flags.image_size > 0 ? flags.image_size : encoder_config.image_size;
  data_options.image_folder.channels = encoder_config.in_channels;
  data_options.limit = flags.limit;
  auto pool = load_dataset(data, "train", data_options);
  auto test = flags.test_data.empty() ? load_dataset(data, "test", data_options)
                                      : load_dataset(flags.test_data, "test", data_options);
  PRETEXT_CHECK(pool->channels() == encoder_config.in_channels && pool->height() == encoder_config.image_size,
                InputError, "the labelled data ", pool->source(), " has ", pool->channels(), "-channel ", pool->height(),
                "-pixel images but the checkpoint's encoder expects ", encoder_config.in_channels, "-channel ",
                encoder_config.image_size, "-pixel images");
  PRETEXT_CHECK(test->channels() == pool->channels() && test->height() == pool->height(), InputError, "the test data ",
                test->source(), " has images of another shape than ", pool->source());
  log::info("evaluate: ", checkpoint.string(), " (task ", config.value("task", "?"), ", encoder ", encoder_config.name,
            ") on ", pool->source(), ": ", pool->size(), " labelled candidates, ", test->size(), " test images");

  // Load once up front so that a mismatched checkpoint fails before any work.
  load_encoder(checkpoint);
  auto pretrained = [&] { return load_encoder(checkpoint); };
  auto scratch = [&] {
    torch::manual_seed(runtime.seed);
    return make_encoder(encoder_config);
  };
  std::vector<ProtocolResult> results =
      run_few_label(pretrained, scratch, pool, test, normalization, flags.few_label, runtime);

  nlohmann::json meta{{"checkpoint", checkpoint.string()},
                      {"task", config.value("task", "")},
                      {"encoder", config["encoder"]},
                      {"data", pool->source()},
                      {"test_data", test->source()},
                      {"seed", flags.few_label.seed},
                      {"runtime", runtime.describe()},
                      {"pretext_version", PRETEXT_VERSION}};
  std::string table = format_results_table(results, flags.few_label.protocols);
  write_results(out_dir, results_document(results, flags.few_label.protocols, pool->class_names(), meta), table);
  std::cout << "\n" << table << "\nresults: " << (out_dir / "results.json").string() << "\n";
  return results;
}

int run_evaluate(const EvaluateFlags& flags, const RuntimeFlags& runtime_flags) {
  Runtime runtime = start_runtime(runtime_flags);
  EvaluateFlags seeded = flags;
  seeded.few_label.seed = runtime.seed;
  fs::path checkpoint = flags.checkpoint;
  fs::path out = flags.out.empty() ? checkpoint.parent_path() / "eval" : fs::path(flags.out);
  evaluate_checkpoint(checkpoint, seeded, out, runtime);
  return 0;
}

int run_list() {
  std::cout << "pretext tasks:\n";
  for (const auto& [name, entry] : task_registry().entries()) std::cout << "  " << name << "  — " << entry.description << "\n";
  std::cout << "encoders:\n";
  for (const auto& [name, entry] : encoder_registry().entries()) std::cout << "  " << name << "  — " << entry.description << "\n";
  std::cout << "named datasets:\n";
  for (const auto& [name, where] : named_datasets()) std::cout << "  " << name << "  — " << where << "\n";
  return 0;
}

}  // namespace pretext::cli
