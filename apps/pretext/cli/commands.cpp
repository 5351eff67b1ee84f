#include <algorithm>
#include <cstdio>
#include <iostream>

#include "pretext/cli/commands.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/eval/protocols.h"
#include "pretext/train/inputs.h"
#include "pretext/report/html.h"
#include "pretext/report/results.h"
#include "pretext/train/checkpoint.h"

namespace pretext::cli {
namespace fs = std::filesystem;

int run_pretrain(const PretrainFlags& flags, const RuntimeFlags& runtime_flags) {
  Runtime runtime = start_runtime(runtime_flags);
  // Several ranks (torchrun, Slurm, `pretext launch`): one GPU each, by local rank; then meet the
  // others before any data is read, so a bad address fails fast.
  const LaunchEnvironment launch = read_launch_environment();
  if (launch.world_size > 1) {
    if (runtime.device.is_cuda() && !runtime.device.has_index()) {
      const auto devices = static_cast<int64_t>(torch::cuda::device_count());
      runtime.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(launch.local_rank % devices));
    }
    runtime.group = connect_process_group(launch, flags.distributed, runtime.device);
  }
  PretrainConfig config = flags.config;
  config.seed = runtime.seed;
  PretrainResult result = run_pretraining(config, runtime);
  return result.train.interrupted ? 130 : 0;
}

std::vector<ProtocolResult> evaluate_checkpoint(const fs::path& checkpoint, const EvaluateFlags& flags,
                                                const fs::path& out_dir, const Runtime& runtime) {
  CheckpointState state = read_checkpoint_state(checkpoint);
  const auto& config = state.config;
  PRETEXT_CHECK(config.contains("encoder"), InputError, checkpoint.string(), ": the checkpoint has no encoder config");
  PreprocessorPtr preprocessor;
  try {
    preprocessor = preprocessor_from_config(config);
  } catch (const InputError& error) {
    throw InputError(checkpoint.string() + ": " + error.what());
  }
  nlohmann::json overrides = nlohmann::json::object();
  if (!flags.pooling.empty()) overrides["pooling"] = flags.pooling;
  nlohmann::json encoder_values = config["encoder"];
  encoder_values.merge_patch(overrides);
  EncoderConfig encoder_config = EncoderConfig::from_json(encoder_values);

  const std::string data = flags.data.empty() ? config.value("data", "") : flags.data;
  PRETEXT_CHECK(!data.empty(), ConfigError, "--data: the checkpoint names no data; give the labelled data");
  InputOptions inputs = flags.inputs;
  inputs.images.limit = flags.limit;
  if (flags.image_size > 0) {
    inputs.images.image_folder.image_size = flags.image_size;
    inputs.video.size = flags.image_size;
  }
  auto pool = load_evaluation_split(data, "train", config, state.assets, inputs);
  auto test = load_evaluation_split(flags.test_data.empty() ? data : flags.test_data, "test", config, state.assets,
                                    inputs);
  PRETEXT_CHECK(test->num_classes() == pool->num_classes(), InputError, "the test data ", test->source(), " has ",
                test->num_classes(), " classes but the labelled data ", pool->source(), " has ", pool->num_classes());
  log::info("evaluate: ", checkpoint.string(), " (task ", config.value("task", "?"), ", encoder ", encoder_config.name,
            ") on ", pool->source(), ": ", pool->size(), " labelled candidates, ", test->size(), " test samples");

  // Load once up front so that a mismatched checkpoint fails before any work.
  load_encoder(checkpoint, nullptr, overrides);
  auto pretrained = [&] { return load_encoder(checkpoint, nullptr, overrides); };
  auto scratch = [&] {
    torch::manual_seed(runtime.seed);
    return make_encoder(encoder_config);
  };
  std::vector<ProtocolResult> results =
      run_few_label(pretrained, scratch, pool, test, *preprocessor, flags.few_label, runtime);

  nlohmann::json meta{{"checkpoint", checkpoint.string()},
                      {"task", config.value("task", "")},
                      {"encoder", encoder_values},
                      {"data", pool->source()},
                      {"test_data", test->source()},
                      {"seed", flags.few_label.seed},
                      {"runtime", runtime.describe()},
                      {"pretext_version", PRETEXT_VERSION}};
  // The report's map of the test set: the pretrained encoder's features, where there is one.
  const auto& protocols = flags.few_label.protocols;
  if (std::any_of(protocols.begin(), protocols.end(), [](const std::string& p) { return p != "scratch"; })) {
    EncoderPtr encoder = pretrained();
    encoder->to(runtime.device);
    meta["embedding_2d"] = embedding_map(*encoder, test, *preprocessor, runtime);
  }
  // Accuracy, and macro-F1 beside it: on imbalanced classes (spam vs ham) accuracy alone flatters a
  // classifier that favours the larger class.
  std::string table = "top-1 accuracy\n" + format_results_table(results, flags.few_label.protocols) +
                      "\nmacro-F1\n" + format_results_table(results, flags.few_label.protocols, "macro_f1");
  const nlohmann::json document = results_document(results, flags.few_label.protocols, pool->class_names(), meta);
  write_results(out_dir, document, table);
  if (flags.json) {
    std::cout << document.dump(2) << "\n";
  } else {
    std::cout << "\n" << table << "\nresults: " << (out_dir / "results.json").string() << "\n";
  }
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

int run_tokenizer_train(const TokenizerFlags& flags, const RuntimeFlags& runtime_flags) {
  start_runtime(runtime_flags);
  PRETEXT_CHECK(!flags.data.empty(), ConfigError, "--data: give the text to train the tokenizer on");
  InputOptions inputs = flags.inputs;
  inputs.modality = "text";
  TextReadOptions read = inputs.text;
  read.limit = inputs.images.limit;
  TextCorpus corpus = load_text_corpus(flags.data, "train", read);
  int64_t sentences = 0;
  for (const auto& document : corpus.documents) sentences += static_cast<int64_t>(document.sentences.size());
  log::info("tokenizer: training a ", inputs.tokenizer.model_type, " model of ", inputs.tokenizer.vocab_size,
            " pieces on ", corpus.documents.size(), " documents (", sentences, " sentences) of ", corpus.source);
  Tokenizer tokenizer = Tokenizer::train(corpus, inputs.tokenizer);
  tokenizer.save(flags.out);
  std::cout << "tokenizer: " << tokenizer.summary().dump() << "\nwritten to " << flags.out << "\n";
  for (const auto& document : corpus.documents) {
    if (document.sentences.empty()) continue;
    const std::string& sentence = document.sentences.front();
    std::cout << "example: " << sentence.substr(0, 120) << "\n        →";
    for (int64_t id : tokenizer.encode(sentence.substr(0, 120))) std::cout << " " << tokenizer.piece(id);
    std::cout << "\n";
    break;
  }
  return 0;
}

int run_list() {
  std::cout << "pretext tasks:\n";
  for (const auto& [name, entry] : task_registry().entries()) std::cout << "  " << name << "  — " << entry.description << "\n";
  std::cout << "encoders:\n";
  for (const auto& [name, entry] : encoder_registry().entries()) std::cout << "  " << name << "  — " << entry.description << "\n";
  std::cout << "named datasets:\n";
  for (const auto& [name, where] : named_datasets()) std::cout << "  " << name << "  — " << where << "\n";
  for (const auto& [name, where] : named_text_datasets()) std::cout << "  " << name << "  — " << where << "\n";
  return 0;
}

int run_report(const std::string& run_dir) {
  std::cout << "report: " << write_html_report(run_dir).string() << "\n";
  return 0;
}

int run_inspect(const std::string& checkpoint) {
  CheckpointState state;
  EncoderPtr encoder = load_encoder(checkpoint, &state);
  nlohmann::json out{{"checkpoint", checkpoint},
                     {"task", state.config.value("task", "")},
                     {"encoder", state.config["encoder"]},
                     {"step", state.step},
                     {"epoch", state.epoch},
                     {"total_steps", state.total_steps},
                     {"finished", state.finished},
                     {"skipped_steps", state.skipped_steps},
                     {"world_size", state.world_size},
                     {"best_knn_top1", state.best_knn_top1 >= 0 ? nlohmann::json(state.best_knn_top1) : nlohmann::json()},
                     {"assets", nlohmann::json::array()}};
  for (const auto& [name, bytes] : state.assets) out["assets"].push_back(name);
  char crc[9];
  std::snprintf(crc, sizeof(crc), "%08x", weights_crc32(*encoder));
  out["encoder_weights_crc32"] = crc;
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace pretext::cli
