#include "pretext/cli/cli.h"

#include <torch/torch.h>

#include <iostream>
#include <sstream>

#include "pretext/cli/commands.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"
#include "pretext/core/options.h"
#include "pretext/core/runtime.h"

namespace pretext::cli {

void add_runtime_flags(CLI::App& app, RuntimeFlags& flags) {
  app.add_option("--device", flags.runtime.device, "auto | cpu | cuda | cuda:N")
      ->envname("PRETEXT_DEVICE")
      ->capture_default_str();
  app.add_option("--precision", flags.runtime.precision,
                 "auto | fp32 | bf16 (auto: bf16 autocast on CUDA or a CPU with AVX-512 BF16/AMX)")
      ->envname("PRETEXT_PRECISION")
      ->capture_default_str();
  app.add_option("--threads", flags.runtime.threads, "compute threads (0 = the cores this process may use)")
      ->envname("PRETEXT_THREADS")
      ->capture_default_str();
  app.add_option("--seed", flags.runtime.seed, "random seed: same seed, same numbers")->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace | debug | info | warn | error | off")
      ->envname("PRETEXT_LOG_LEVEL");
  app.add_flag("-q,--quiet", flags.quiet, "no progress lines: warnings, errors and results only");
}

InputOptions EvaluateFlags::evaluation_inputs() {
  InputOptions inputs;
  inputs.windows.long_documents = "truncate";
  return inputs;
}

// How text is read (JSON-lines fields).
void add_text_reading_flags(CLI::App& app, InputOptions& inputs) {
  app.add_option("--text-field", inputs.text.text_field, "text: the JSON-lines field holding the text")
      ->capture_default_str();
  app.add_option("--label-field", inputs.text.label_field, "text: the JSON-lines field holding the label")
      ->capture_default_str();
  app.add_option("--pair-field", inputs.text.pair_field,
                 "text: the JSON-lines field holding a sentence pair's second text (segment B); default: none");
}

// A tokenizer trained on the corpus.
void add_tokenizer_flags(CLI::App& app, InputOptions& inputs) {
  app.add_option("--vocab-size", inputs.tokenizer.vocab_size, "text: pieces in the trained tokenizer")
      ->capture_default_str();
  app.add_option("--tokenizer-type", inputs.tokenizer.model_type, "text: unigram | bpe")->capture_default_str();
}

// The flags that say how data is read and, for text, cut into samples; `pretraining` adds those
// that only pretraining decides (the tokenizer, the window length).
void add_input_flags(CLI::App& app, InputOptions& inputs, bool pretraining) {
  app.add_option("--modality", inputs.modality, "auto | image | text | audio (or speech) | video (auto: from the data)")
      ->capture_default_str();
  app.add_option("--on-bad-file", inputs.images.image_folder.on_bad_file,
                 "folders: an image, sound or video file that does not decode, or a binary file among text, is skip "
                 "(left out, counted in one warning) | fail")
      ->each([&inputs](const std::string& value) {
        inputs.text.on_bad_file = value;
        inputs.audio.on_bad_file = value;
        inputs.video.on_bad_file = value;
      })
      ->capture_default_str();
  add_text_reading_flags(app, inputs);
  app.add_option("--video-frames", inputs.video.frames, "video files and frame folders: frames read per video")
      ->capture_default_str();
  app.add_option("--frame-stride", inputs.video.stride, "video files and frame folders: keep every N-th decoded frame")
      ->capture_default_str();
  app.add_option("--long-documents", inputs.windows.long_documents,
                 "text: split (every window of a document is a sample) | truncate (its first window only)")
      ->capture_default_str();
  if (!pretraining) return;
  app.add_option("--tokenizer", inputs.tokenizer_path,
                 "text: a tokenizer model (`pretext tokenizer train`); default: train one on the pretraining data");
  add_tokenizer_flags(app, inputs);
  app.add_option("--max-length", inputs.windows.max_length,
                 "text: tokens per encoder input, [CLS] and [SEP]s included")
      ->capture_default_str();
  app.add_option("--packing", inputs.windows.packing,
                 "text: document (a window holds whole sentences of one document, then padding) | corpus (the "
                 "documents' tokens fill every window, a [SEP] between two documents; --task mlm; the text demo's)")
      ->capture_default_str();
  app.add_option("--sample-rate", inputs.log_mel.sample_rate, "audio: every recording is resampled to this rate (Hz)")
      ->capture_default_str();
  app.add_option("--mels", inputs.log_mel.mels, "audio: log-mel bins of the front end")->capture_default_str();
  app.add_option("--max-seconds", inputs.audio.max_seconds, "audio: longer recordings keep their first N seconds")
      ->capture_default_str();
  app.add_option("--clip-frames", inputs.clips.clip_frames, "video: frames per clip the encoder sees (0 = whole videos)")
      ->capture_default_str();
  app.add_option("--clip-stride", inputs.clips.clip_stride, "video: a clip takes every N-th frame")
      ->capture_default_str();
}

void add_pretrain_flags(CLI::App& app, PretrainFlags& flags, bool demo) {
  auto& config = flags.config;
  app.add_option("--data", config.data,
                 "a dataset name (fashion-mnist; text: spam-assassin, sotu) or a path: IDX folder, CIFAR binary "
                 "folder, image folder (sub-folders = classes; flat = unlabeled), or text (a folder of .txt or e-mail "
                 "files, sub-folders = classes; a .txt file of blank-line separated documents; .jsonl)")
      ->envname("PRETEXT_DATA")
      ->capture_default_str();
  app.add_option("--image-size", config.inputs.images.image_folder.image_size,
                 "image folders and videos: resize every image or frame to this side (0 = the first one's size)")
      ->each([&config](const std::string& value) { config.inputs.video.size = std::stoll(value); })
      ->capture_default_str();
  app.add_option("--limit", config.inputs.images.limit,
                 "use only the first N samples (images, documents) of each split (smoke runs)")
      ->capture_default_str();
  add_input_flags(app, config.inputs, true);
  app.add_option("--task", config.task, "pretext task by name (see `pretext list`)")->capture_default_str();
  app.add_option("--task-option", flags.task_options,
                 "a task option as key=value, repeatable (e.g. temperature=0.2, augment={\"blur_probability\":0})");
  app.add_option("--encoder", config.encoder.name, "convnet | resnet18 | resnet34 | resnet50 | vit-tiny | vit-small | a registered name")
      ->capture_default_str();
  app.add_option("--width", config.encoder.width, "encoder base width (0 = the encoder's default)")
      ->capture_default_str();
  app.add_option("--patch-size", config.encoder.patch_size,
                 "ViT patch side (0 = auto: 4 up to 32 px, 8 up to 96, else 16; must divide the image size)")
      ->capture_default_str();
  app.add_option("--depth", config.encoder.depth, "ViT transformer blocks (0 = the size's default, 12)")
      ->capture_default_str();
  app.add_option("--dropout", config.encoder.dropout,
                 "text encoders: dropout rate (-1 = the model's default, BERT's 0.1; 0 for short runs)")
      ->capture_default_str();
  app.add_option("--pooling", config.encoder.pooling,
                 "text encoders: the representation kept: cls ([CLS] state, as BERT) | mean (of the token states)")
      ->capture_default_str();
  app.add_option("--stem", config.encoder.stem, "ResNet stem: auto | small | imagenet")->capture_default_str();
  app.add_option("--out", flags.out, "run folder: last.pt, metrics.jsonl, config.json (and results for demo)")
      ->capture_default_str();
  if (!demo) {
    app.add_option("--epochs", config.trainer.epochs, "pretraining epochs (0 = as many as --budget-minutes allows)")
        ->capture_default_str();
    app.add_option("--budget-minutes", config.trainer.budget_minutes,
                   "wall-clock budget for pretraining; with --epochs 0 it sets the schedule's length")
        ->capture_default_str();
  }
  app.add_option("--max-steps", config.trainer.max_steps, "stop after this many optimizer steps (smoke runs)")
      ->capture_default_str();
  app.add_option("--log-every", config.trainer.log_every_steps, "a metrics.jsonl record every N steps")
      ->capture_default_str();
  app.add_option("--batch-size", config.batch_size, "images per step per rank (each gives the task its views); several ranks: global batch = ranks × this")
      ->capture_default_str();
  app.add_option("--optimizer", config.trainer.optimizer.name, "sgd | lars | adamw")->capture_default_str();
  app.add_option("--lr", config.trainer.optimizer.lr, "peak learning rate (0 = base-lr × batch-size / 256)")
      ->capture_default_str();
  app.add_option("--base-lr", config.trainer.optimizer.base_lr, "learning rate per 256 images (linear scaling rule)")
      ->capture_default_str();
  app.add_option("--weight-decay", config.trainer.optimizer.weight_decay, "weight decay (not on biases and norms)")
      ->capture_default_str();
  app.add_option("--momentum", config.trainer.optimizer.momentum, "SGD/LARS momentum")->capture_default_str();
  app.add_option("--adam-beta2", config.trainer.optimizer.beta2, "AdamW second-moment decay (MAE, MoCo v3 ViT: 0.95)")
      ->capture_default_str();
  app.add_option("--warmup-epochs", config.trainer.warmup_epochs,
                 "linear warm-up length (-1 = min(10 epochs, 10% of the run))")
      ->capture_default_str();
  app.add_option("--clip-grad-norm", config.trainer.clip_grad_norm, "clip the gradients' global norm (0 = off)")
      ->capture_default_str();
  app.add_flag("--resume", config.trainer.resume, "continue from <out>/last.pt (also with another number of ranks)");
  app.add_option("--checkpoint-minutes", config.trainer.checkpoint_minutes,
                 "also write last.pt within an epoch every this many minutes (0 = at epoch ends only)")
      ->capture_default_str();
  app.add_option("--keep-checkpoints", config.trainer.keep_checkpoints,
                 "keep this many earlier checkpoints as <out>/checkpoints/step-N.pt (best.pt: the best k-NN so far)")
      ->capture_default_str();
  app.add_option("--on-nonfinite", config.trainer.on_nonfinite,
                 "a NaN/Inf loss or gradient: stop (error; last.pt is the last good state) | skip (drop the "
                 "update, halve the learning rate, count it; stop after 5 in a row)")
      ->capture_default_str();
  app.add_option("--knn-every", config.monitor.knn_every_epochs,
                 "monitor: k-NN top-1 on held-out labelled images every N epochs and at the end (0 = off)")
      ->capture_default_str();
  if (!demo) {
    app.add_option("--dist-backend", flags.distributed.backend,
                   "several ranks (pretext launch, torchrun, srun): auto (nccl on CUDA where built, else gloo) | gloo | nccl")
        ->capture_default_str();
    app.add_option("--dist-timeout", flags.distributed.timeout_seconds,
                   "several ranks: seconds a rank waits for the others (rendezvous, each collective) before failing")
        ->capture_default_str();
    app.add_flag("--sync-batch-norm", config.trainer.sync_batch_norm,
                 "several ranks: batch norm over the global batch (SyncBN) instead of each rank's own samples");
  }
  // A plain flag (not CLI11's negated "!--no-…" form) so that --print-config writes a value that
  // --config reads back the same way.
  app.add_flag("--no-online-probe", flags.no_online_probe,
               "monitor: no online linear classifier on the side (it uses the data's labels, never the task)");
}

void add_evaluate_flags(CLI::App& app, EvaluateFlags& flags, bool demo) {
  if (!demo) {
    app.add_option("--checkpoint", flags.checkpoint, "a pretraining checkpoint (last.pt)")->required();
    app.add_option("--data", flags.data, "labelled data (its train split); default: the checkpoint's data");
    app.add_option("--image-size", flags.image_size,
                   "image folders and videos: resize to this side (0 = the checkpoint's)");
    app.add_option("--limit", flags.limit, "use only the first N samples (images, documents) of each split");
    add_input_flags(app, flags.inputs, false);
    app.add_option("--out", flags.out, "results folder (default: <checkpoint folder>/eval)");
    app.add_option("--pooling", flags.pooling, "text encoders: cls | mean, instead of the checkpoint's pooling");
  }
  app.add_option("--test-data", flags.test_data, "test data (default: the test split of --data)");
  app.add_flag("--json", flags.json, "print the results as JSON on stdout (results.json's document) instead of tables");
  app.add_option("--protocol", flags.few_label.protocols, "knn, linear, finetune, scratch (repeatable)")
      ->delimiter(',')
      ->capture_default_str();
  if (!demo) {
    app.add_option("--labels-per-class", flags.labels_per_class, "labelled samples per class (repeatable: 10,100)")
        ->delimiter(',');
    app.add_option("--label-fraction", flags.label_fractions, "fraction of each class labelled (repeatable)")
        ->delimiter(',');
    app.add_flag("--all-labels", flags.all_labels, "also evaluate with every label (the default when no budget is given)");
  }
  app.add_option("--label-draws", flags.few_label.label_draws,
                 "draw each few-label budget this many times (seeds seed, seed+1, …) and report mean ± std")
      ->capture_default_str();
  app.add_option("--smallest-budget-draws", flags.few_label.smallest_budget_draws,
                 "draw the budget with the fewest labels this many times instead, when more (its results vary most; "
                 "0 = --label-draws)")
      ->capture_default_str();
  app.add_option("--knn-k", flags.few_label.knn.k, "k-NN: neighbours")->capture_default_str();
  app.add_option("--knn-temperature", flags.few_label.knn.temperature, "k-NN: vote temperature")
      ->capture_default_str();
  app.add_option("--linear-epochs", flags.few_label.linear.epochs, "linear probe: epochs over the cached features")
      ->capture_default_str();
  app.add_option("--linear-lr", flags.few_label.linear.lr, "linear probe: AdamW learning rate")->capture_default_str();
  app.add_option("--finetune-epochs", flags.few_label.finetune.epochs, "fine-tune and scratch: epochs")
      ->capture_default_str();
  app.add_option("--finetune-min-steps", flags.few_label.finetune.min_steps,
                 "fine-tune and scratch: at least this many steps")
      ->capture_default_str();
  app.add_option("--finetune-max-steps", flags.few_label.finetune.max_steps,
                 "fine-tune and scratch: at most this many steps (0 = no cap)")
      ->capture_default_str();
  app.add_option("--finetune-batch-size", flags.few_label.finetune.batch_size,
                 "fine-tune and scratch: labelled samples per step (capped at the labelled set's size)")
      ->capture_default_str();
  app.add_option("--finetune-lr", flags.few_label.finetune.lr, "fine-tune and scratch: head learning rate (AdamW)")
      ->capture_default_str();
  app.add_option("--encoder-lr-scale", flags.few_label.finetune.encoder_lr_scale,
                 "fine-tune: encoder learning rate = finetune-lr × this")
      ->capture_default_str();
  app.add_option("--head-layers", flags.few_label.finetune.head_layers, "fine-tune and scratch: head depth, 1 or 2")
      ->capture_default_str();
}

Runtime start_runtime(const RuntimeFlags& flags) {
  if (!flags.log_level.empty()) {
    log::set_level(log::parse_level(flags.log_level));
  } else if (flags.quiet) {
    log::set_level(log::parse_level("warn"));
  }
  Runtime runtime = init_runtime(flags.runtime);
  log::info("pretext ", PRETEXT_VERSION, " (LibTorch ", TORCH_VERSION, "): ", runtime.describe());
  return runtime;
}

void finish_pretrain_flags(PretrainFlags& flags) {
  flags.config.task_options = parse_key_values(flags.task_options, "--task-option");
  flags.config.trainer.out_dir = flags.out;
  if (flags.no_online_probe) flags.config.monitor.online_probe = false;
}

void finish_evaluate_flags(EvaluateFlags& flags) {
  auto& splits = flags.few_label.splits;
  splits.clear();
  for (int64_t count : flags.labels_per_class) {
    PRETEXT_CHECK(count > 0, ConfigError, "--labels-per-class must be > 0, got ", count);
    LabelSplitOptions split;
    split.labels_per_class = count;
    splits.push_back(split);
  }
  for (double fraction : flags.label_fractions) {
    PRETEXT_CHECK(fraction > 0 && fraction <= 1, ConfigError, "--label-fraction must be in (0, 1], got ", fraction);
    LabelSplitOptions split;
    split.label_fraction = fraction;
    splits.push_back(split);
  }
  if (flags.all_labels || splits.empty()) splits.push_back(LabelSplitOptions{});
  flags.few_label.validate();  // bad protocol names and counts fail before any data is read
}

// `pretext --version`: what a bug report needs — versions, the BLAS actually loaded, the precision
// `--precision auto` picks on this machine, and the cores.
std::string version_text() {
  std::ostringstream out;
  const bool cuda = torch::cuda::is_available();
  const std::string blas = loaded_blas_path();
  out << "pretext " << PRETEXT_VERSION << "\nLibTorch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "."
      << TORCH_VERSION_PATCH << (cuda ? ", CUDA (" + std::to_string(torch::cuda::device_count()) + " devices)" : ", CPU")
      << "\nBLAS " << (blas.empty() ? "unknown" : blas)
      << (is_reference_blas(blas) ? " (the reference BLAS: about 30x slower; scripts/setup selects OpenBLAS)" : "")
      << "\nprecision (--precision auto): "
      << (cuda ? "bf16 autocast on CUDA" : cpu_supports_bf16() ? "bf16 autocast (this CPU has AVX-512 BF16 or AMX)"
                                                                : "fp32 (this CPU has no bf16 arithmetic)")
      << "\nthreads: " << usable_cores();
  return out.str();
}

int run_cli(int argc, char** argv) {
  install_stop_handlers();
  CLI::App app{"pretext — self-supervised pretraining on unlabeled data, then transfer with few labels"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version_text, "pretext, LibTorch and BLAS versions, and the precision used here");
  app.set_config("--config", "", "read flags from a TOML/INI file (keys are the long flag names)");
  bool print_config = false;
  app.add_flag("--print-config", print_config,
               "print the effective settings (defaults, --config file and flags merged) as a --config file, and exit");

  RuntimeFlags runtime_flags;
  PretrainFlags pretrain_flags;
  EvaluateFlags evaluate_flags;
  PretrainFlags demo_pretrain = demo_pretrain_defaults();
  EvaluateFlags demo_evaluate = demo_evaluate_defaults();
  double demo_budget_minutes = kDemoBudgetMinutes;

  auto* demo = app.add_subcommand("demo", "the default job: Fashion-MNIST, pretrain with labels withheld, then "
                                          "10/100/all labels per class against a from-scratch baseline; "
                                          "--modality text: BERT on SpamAssassin, then spam/ham with 1%/10%/all labels; "
                                          "--modality speech: spoken words, then spoken digits with 1/5/20 labels per "
                                          "class; --modality video: moving objects, then motion direction and object "
                                          "class with 10 labels per class");
  add_runtime_flags(*demo, runtime_flags);
  add_pretrain_flags(*demo, demo_pretrain, true);
  add_evaluate_flags(*demo, demo_evaluate, true);
  demo->add_option("--budget-minutes", demo_budget_minutes,
                   "total wall-clock budget, pretraining and evaluation (--modality speech: 24 unless given)")
      ->capture_default_str();
  demo->add_option("--epochs", demo_pretrain.config.trainer.epochs,
                   "pretraining epochs (0 = fit pretraining into the budget)")
      ->capture_default_str();

  auto* pretrain = app.add_subcommand("pretrain", "train an encoder on a pretext task, labels withheld");
  add_runtime_flags(*pretrain, runtime_flags);
  add_pretrain_flags(*pretrain, pretrain_flags, false);

  auto* evaluate = app.add_subcommand("evaluate", "score a pretrained encoder with few labels: k-NN, linear probe, "
                                                  "fine-tune, and the supervised-from-scratch baseline");
  add_runtime_flags(*evaluate, runtime_flags);
  add_evaluate_flags(*evaluate, evaluate_flags, false);

  auto* list = app.add_subcommand("list", "the registered pretext tasks, encoders and named datasets");
  std::string inspect_path;
  auto* inspect = app.add_subcommand("inspect", "a checkpoint's task, encoder, progress and a CRC-32 of its encoder's "
                                                "weights, as JSON (checks the file's integrity on the way)");
  inspect->add_option("checkpoint", inspect_path, "a checkpoint (last.pt, best.pt, …)")->required();
  std::string report_path;
  auto* report = app.add_subcommand("report", "write RUN_DIR/report.html: curves, the label-efficiency table and "
                                              "chart, the confusion matrix, config and environment (self-contained)");
  report->add_option("run_dir", report_path, "a run folder (pretrain --out, demo --out)")->required();

  TokenizerFlags tokenizer_flags;
  auto* tokenizer = app.add_subcommand("tokenizer", "text tokenizers (SentencePiece)");
  tokenizer->require_subcommand(1);
  auto* tokenizer_train = tokenizer->add_subcommand(
      "train", "train a tokenizer on a corpus and write it to a file (pretrain --tokenizer FILE uses it)");
  add_runtime_flags(*tokenizer_train, runtime_flags);
  tokenizer_train->add_option("--data", tokenizer_flags.data, "text: a named corpus (spam-assassin, sotu) or a path")
      ->required();
  tokenizer_train->add_option("--limit", tokenizer_flags.inputs.images.limit, "use only the first N documents")
      ->capture_default_str();
  add_text_reading_flags(*tokenizer_train, tokenizer_flags.inputs);
  add_tokenizer_flags(*tokenizer_train, tokenizer_flags.inputs);
  tokenizer_train->add_option("--out", tokenizer_flags.out, "the model file to write")->capture_default_str();

  DataFlags data_flags;
  auto* data = app.add_subcommand("data", "make a shipped dataset: spoken-words (speech, synthesised with espeak-ng "
                                          "into the data cache) or moving-objects (video files from Fashion-MNIST)");
  add_runtime_flags(*data, runtime_flags);
  data->add_option("dataset", data_flags.dataset, "spoken-words | moving-objects")->required();
  data->add_option("--out", data_flags.out,
                   "folder to write (spoken-words: default the data cache, where --data spoken-words reads it)");
  data->add_option("--limit", data_flags.limit, "moving-objects: videos from the first N images of each split (0 = all)")
      ->capture_default_str();
  auto& words = data_flags.spoken_words;
  data->add_option("--speed-min", words.speed_min, "spoken-words: slowest speech, espeak-ng words per minute (≥ 80)")
      ->capture_default_str();
  data->add_option("--speed-max", words.speed_max, "spoken-words: fastest speech (≤ 450)")->capture_default_str();
  data->add_option("--pitch-min", words.pitch_min, "spoken-words: lowest espeak-ng pitch (0–99)")->capture_default_str();
  data->add_option("--pitch-max", words.pitch_max, "spoken-words: highest pitch")->capture_default_str();
  data->add_option("--snr-min-db", words.snr_min_db, "spoken-words: loudest background noise, as a signal-to-noise ratio")
      ->capture_default_str();
  data->add_option("--snr-max-db", words.snr_max_db, "spoken-words: quietest background noise")->capture_default_str();
  auto& moving = data_flags.moving_objects;
  data->add_option("--object-speed-min", moving.speed_min, "moving-objects: slowest object, pixels per frame")
      ->capture_default_str();
  data->add_option("--object-speed-max", moving.speed_max, "moving-objects: fastest object")->capture_default_str();
  data->add_option("--distractors", moving.distractors,
                   "moving-objects: other moving objects in each video, dimmer, with their own directions (0–16)")
      ->capture_default_str();
  data->add_option("--distractor-brightness", moving.distractor_brightness,
                   "moving-objects: the distractors' pixels scaled by this, in (0, 1]")
      ->capture_default_str();
  data->add_option("--noise", moving.noise, "moving-objects: uniform noise of ±this on every pixel (0–255 scale)")
      ->capture_default_str();
  data->footer(
      "\nA spoken-words corpus with other ranges goes in a folder of its own (a finished corpus with other\n"
      "options is refused): --out FOLDER writes FOLDER/pretrain and FOLDER/digits for --data; PRETEXT_DATA=FOLDER\n"
      "moves the data cache that --data spoken-words and spoken-digits read.\n"
      "  pretext data spoken-words --snr-min-db -5 --snr-max-db 15 --out noisy-words\n"
      "  pretext data moving-objects --limit 4000 --distractors 2 --noise 40 --out cluttered-videos");

  LaunchFlags launch_flags;
  auto* launch = app.add_subcommand("launch", "run a command as N ranks of one job on this machine, as torchrun does: "
                                              "RANK, WORLD_SIZE, MASTER_ADDR/PORT set, output behind [rank r]");
  launch->add_option("-n,--nproc-per-node", launch_flags.nproc_per_node, "processes (ranks) to start")
      ->capture_default_str();
  launch->add_option("--master-addr", launch_flags.master_addr, "MASTER_ADDR: where rank 0 listens")
      ->capture_default_str();
  launch->add_option("--master-port", launch_flags.master_port, "MASTER_PORT (0 = a free port)")
      ->capture_default_str();
  launch->add_option("--grace-seconds", launch_flags.grace_seconds,
                     "when a rank fails or on Ctrl-C: seconds the others get to stop (save a checkpoint) before SIGKILL")
      ->capture_default_str();
  launch->add_option("command", launch_flags.command, "the command each rank runs, after `--`");
  launch->footer(
      "\nExamples:\n"
      "  pretext launch -n 2 -- pretext pretrain --data fashion-mnist --epochs 10 --out runs/ddp\n"
      "  pretext launch -n 4 --master-port 0 -- ./my_program   (any program: it reads RANK, WORLD_SIZE, …)");

  // Examples at the end of each command's --help.
  demo->footer(
      "\nExamples:\n"
      "  pretext demo                               Fashion-MNIST, SimCLR, 15 minutes\n"
      "  pretext demo --modality text               BERT on SpamAssassin, then spam/ham with 1%/10%/all labels\n"
      "  pretext demo --modality speech             spoken words (espeak-ng), then spoken digits on new voices\n"
      "  pretext demo --modality video              moving objects, then motion direction and object class\n"
      "  pretext demo --budget-minutes 5 --out runs/quick");
  pretrain->footer(
      "\nExamples:\n"
      "  pretext pretrain --task simclr --budget-minutes 10 --out runs/simclr\n"
      "  pretext pretrain --task byol --encoder resnet18 --epochs 100 --data path/to/images --out runs/byol\n"
      "  pretext pretrain --task mlm --data corpus/ --max-length 64 --out runs/bert\n"
      "  pretext pretrain --out runs/simclr --resume   (continue a stopped run)");
  evaluate->footer(
      "\nExamples:\n"
      "  pretext evaluate --checkpoint runs/simclr/last.pt --labels-per-class 10,100 --all-labels\n"
      "  pretext evaluate --checkpoint runs/bert/last.pt --data labelled/ --label-fraction 0.01 --protocol knn,finetune\n"
      "  pretext evaluate --checkpoint runs/simclr/best.pt --json > results.json");
  report->footer("\nExample:\n  pretext report runs/demo   (then open runs/demo/report.html)");
  inspect->footer("\nExample:\n  pretext inspect runs/simclr/last.pt");
  tokenizer_train->footer("\nExample:\n  pretext tokenizer train --data corpus/ --vocab-size 8000 --out corpus.model");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  if (print_config) {
    // The chosen subcommand's section, as `--config FILE` reads it back.
    for (const auto* sub : app.get_subcommands()) {
      // The demo fills what was not given from its --modality's recipe (apply_*_demo_defaults)
      // after parsing; written out, the generic defaults would read back as given and replace
      // that recipe. So the demo's section holds only what was given.
      const bool demo_section = sub->get_name() == "demo";
      std::cout << "[" << sub->get_name() << "]\n";
      if (demo_section) std::cout << "# the given settings only: the others follow --modality (pretext demo --help)\n";
      std::cout << sub->config_to_str(/*default_also=*/!demo_section, /*write_description=*/false);
    }
    return 0;
  }
  try {
    if (*list) return run_list();
    if (*inspect) return run_inspect(inspect_path);
    if (*report) return run_report(report_path);
    if (*tokenizer_train) return run_tokenizer_train(tokenizer_flags, runtime_flags);
    if (*launch) return run_launch(launch_flags);
    if (*data) return run_data(data_flags, runtime_flags);
    if (*demo) {
      const bool text = demo_pretrain.config.inputs.modality == "text" ||
                        (demo->count("--data") > 0 &&
                         detect_modality(demo_pretrain.config.data, demo_pretrain.config.inputs.modality) == "text");
      const auto given = [&](const std::string& flag) { return demo->count(flag) > 0; };
      const std::string modality =
          text ? "text" : detect_modality(given("--data") ? demo_pretrain.config.data : "fashion-mnist",
                                          demo_pretrain.config.inputs.modality);
      std::vector<std::string> also_evaluate;
      if (text) apply_text_demo_defaults(demo_pretrain, demo_evaluate, given);
      if (modality == "audio") {
        also_evaluate = apply_speech_demo_defaults(demo_pretrain, demo_evaluate, given);
        if (!given("--budget-minutes")) demo_budget_minutes = kSpeechDemoBudgetMinutes;
      }
      if (modality == "video") also_evaluate = apply_video_demo_defaults(demo_pretrain, demo_evaluate, given);
      return run_demo(demo_pretrain, demo_evaluate, demo_budget_minutes, runtime_flags, also_evaluate);
    }
    if (*pretrain) {
      finish_pretrain_flags(pretrain_flags);
      return run_pretrain(pretrain_flags, runtime_flags);
    }
    if (*evaluate) {
      finish_evaluate_flags(evaluate_flags);
      return run_evaluate(evaluate_flags, runtime_flags);
    }
  } catch (const Error& error) {
    // The user's input or config is at fault (1), or the run itself failed (2).
    const bool user_error = dynamic_cast<const InputError*>(&error) != nullptr ||
                            dynamic_cast<const ConfigError*>(&error) != nullptr;
    std::cerr << "error: " << error.what() << std::endl;
    return user_error ? 1 : 2;
  } catch (const c10::Error& error) {
    std::cerr << "error: LibTorch: " << error.what_without_backtrace() << std::endl;
    return 3;
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << std::endl;
    return 3;
  }
  return 0;
}

}  // namespace pretext::cli
