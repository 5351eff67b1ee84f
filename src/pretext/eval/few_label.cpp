#include "pretext/eval/few_label.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "pretext/core/error.h"
#include "pretext/core/log.h"

namespace pretext {

void FewLabelOptions::validate() const {
  PRETEXT_CHECK(!protocols.empty(), ConfigError, "--protocol: at least one protocol is needed");
  for (const auto& protocol : protocols) {
    PRETEXT_CHECK(protocol == "knn" || protocol == "linear" || protocol == "finetune" || protocol == "scratch",
                  ConfigError, "--protocol: unknown value '", protocol,
                  "' (expected knn, linear, finetune or scratch)");
  }
  PRETEXT_CHECK(!splits.empty(), ConfigError, "at least one label budget is needed");
  PRETEXT_CHECK(label_draws >= 1, ConfigError, "--label-draws must be ≥ 1, got ", label_draws);
  PRETEXT_CHECK(smallest_budget_draws >= 0, ConfigError, "smallest_budget_draws must be ≥ 0, got ",
                smallest_budget_draws);
  PRETEXT_CHECK(seconds_available >= 0, ConfigError, "seconds_available must be ≥ 0, got ", seconds_available);
  knn.validate();
  linear.validate();
  finetune.validate();
}

std::string protocol_title(const std::string& protocol) {
  if (protocol == "scratch") return "supervised from scratch";
  if (protocol == "knn") return "SSL + k-NN";
  if (protocol == "linear") return "SSL + linear probe";
  if (protocol == "finetune") return "SSL + fine-tune";
  return protocol;
}

nlohmann::json ProtocolResult::to_json(const std::vector<std::string>& class_names) const {
  nlohmann::json out = metrics.to_json(class_names);
  out["protocol"] = protocol;
  out["labels"] = labels;
  out["labels_per_class"] = labels_per_class;
  out["label_fraction"] = label_fraction;
  out["labelled_samples"] = labelled_samples;
  out["draw"] = draw;
  out["seconds"] = seconds;
  return out;
}

std::vector<ProtocolResult> run_few_label(const std::function<EncoderPtr()>& pretrained,
                                          const std::function<EncoderPtr()>& scratch, DatasetPtr labelled_pool,
                                          DatasetPtr test, const Preprocessor& preprocessor,
                                          const FewLabelOptions& options, const Runtime& runtime,
                                          const std::function<void(const ProtocolResult&)>& on_result) {
  options.validate();
  const auto evaluation_start = std::chrono::steady_clock::now();
  const int64_t num_classes = labelled_pool->num_classes();
  PRETEXT_CHECK(num_classes > 0, InputError, labelled_pool->source(),
                ": the downstream data has no labels (a flat image folder?); evaluation needs class sub-folders");
  PRETEXT_CHECK(test->num_classes() == num_classes, InputError, "the test set ", test->source(), " has ",
                test->num_classes(), " classes but the labelled set ", labelled_pool->source(), " has ", num_classes);
  auto test_labels = test->labels();

  auto wants = [&](const char* name) {
    return std::find(options.protocols.begin(), options.protocols.end(), name) != options.protocols.end();
  };
  // Frozen features are computed once for the whole pool and the test set; each label budget
  // then only selects rows.
  torch::Tensor pool_features, test_features;
  if (wants("knn") || wants("linear") || wants("finetune")) {
    PRETEXT_CHECK(static_cast<bool>(pretrained), ConfigError, "k-NN, linear and fine-tune need a pretrained encoder");
    auto start = std::chrono::steady_clock::now();
    EncoderPtr encoder = pretrained();
    encoder->to(runtime.device);
    pool_features = extract_features(*encoder, *labelled_pool, preprocessor, runtime);
    test_features = extract_features(*encoder, *test, preprocessor, runtime);
    log::info("features: ", pool_features.size(0), " + ", test_features.size(0), " samples × ", pool_features.size(1),
              " dims in ", std::fixed, std::setprecision(1),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), " s");
  }

  auto is_all_labels = [](const LabelSplitOptions& split) {
    return split.labels_per_class == 0 && (split.label_fraction == 0 || split.label_fraction == 1);
  };
  // The few-label budget with the fewest labelled samples (its first draw's), for smallest_budget_draws.
  const LabelSplitOptions* smallest = nullptr;
  int64_t smallest_size = 0;
  for (const auto& split : options.splits) {
    if (is_all_labels(split)) continue;
    LabelSplitOptions seeded = split;
    seeded.seed = options.seed;
    const int64_t size = few_label_indices(labelled_pool->labels(), seeded, labelled_pool->source()).size(0);
    if (smallest == nullptr || size < smallest_size) {
      smallest = &split;
      smallest_size = size;
    }
  }

  std::vector<ProtocolResult> results;
  // One draw of one budget: every protocol on the same labelled subset (seed + draw).
  auto run_draw = [&](const LabelSplitOptions& split, int64_t draw, int64_t draws) {
    const uint64_t seed = options.seed + static_cast<uint64_t>(draw);
    LabelSplitOptions seeded = split;
    seeded.seed = seed;
    auto indices = few_label_indices(labelled_pool->labels(), seeded, labelled_pool->source());
    auto labelled = std::make_shared<SubsetDataset>(labelled_pool, indices);
    auto labels = labelled_pool->labels().index_select(0, indices);
    for (const auto& protocol : options.protocols) {
      auto start = std::chrono::steady_clock::now();
      torch::Tensor predictions;
      if (protocol == "knn") {
        predictions =
            knn_predict(pool_features.index_select(0, indices), labels, test_features, num_classes, options.knn);
      } else if (protocol == "linear") {
        LinearProbeOptions linear = options.linear;
        linear.seed = seed;
        predictions =
            linear_probe_predict(pool_features.index_select(0, indices), labels, test_features, num_classes, linear);
      } else {
        const bool from_scratch = protocol == "scratch";
        PRETEXT_CHECK(static_cast<bool>(from_scratch ? scratch : pretrained), ConfigError, "protocol ", protocol,
                      " needs an encoder factory");
        EncoderPtr encoder = from_scratch ? scratch() : pretrained();
        FinetuneOptions finetune = options.finetune;
        finetune.seed = seed;
        if (from_scratch) finetune.encoder_lr_scale = 1.0;  // every weight is new: one learning rate
        LinearProbe probe;
        if (!from_scratch) {
          LinearProbeOptions linear = options.linear;
          linear.seed = seed;
          probe = train_linear_probe(pool_features.index_select(0, indices), labels, num_classes, linear);
        }
        predictions = finetune_predict(*encoder, *labelled, *test, num_classes, preprocessor, finetune, runtime,
                                       from_scratch ? nullptr : &probe);
      }
      ProtocolResult result;
      result.protocol = protocol;
      result.labels = describe_split(split);
      result.labels_per_class = split.labels_per_class;
      result.label_fraction = split.label_fraction;
      result.labelled_samples = indices.size(0);
      result.draw = draw;
      result.metrics = classification_metrics(predictions, test_labels, num_classes);
      result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const std::string which = draws > 1 ? " draw " + std::to_string(draw + 1) + "/" + std::to_string(draws) : "";
      log::info(std::left, std::setw(24), protocol_title(protocol), " ", std::setw(14), result.labels + which,
                " top-1 ", std::fixed, std::setprecision(2), 100.0 * result.metrics.top1, "%  macro-F1 ",
                100.0 * result.metrics.macro_f1, "%  (", std::setprecision(1), result.seconds, " s)");
      if (on_result) on_result(result);
      results.push_back(std::move(result));
    }
  };

  auto seconds_since = [](std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  };
  const int64_t smallest_draws =
      smallest == nullptr ? 0 : std::max(options.label_draws, options.smallest_budget_draws);
  double smallest_draw_seconds = 0;  // the smallest budget's last draw, to predict the next one
  for (const auto& split : options.splits) {
    const int64_t draws = is_all_labels(split) ? 1 : options.label_draws;
    for (int64_t draw = 0; draw < draws; ++draw) {
      const auto draw_start = std::chrono::steady_clock::now();
      run_draw(split, draw, &split == smallest ? smallest_draws : draws);
      if (&split == smallest) smallest_draw_seconds = seconds_since(draw_start);
    }
  }
  // The smallest budget's further draws come last, each only while it fits in seconds_available.
  for (int64_t draw = options.label_draws; draw < smallest_draws; ++draw) {
    if (options.seconds_available > 0 &&
        seconds_since(evaluation_start) + smallest_draw_seconds > options.seconds_available) {
      log::info("evaluation: ", describe_split(*smallest), " stops at ", draw, " of ", smallest_draws,
                " draws: another would not end in the time left");
      break;
    }
    const auto draw_start = std::chrono::steady_clock::now();
    run_draw(*smallest, draw, smallest_draws);
    smallest_draw_seconds = seconds_since(draw_start);
  }
  return results;
}

nlohmann::json ResultSummary::to_json() const {
  return {{"labels", labels},
          {"protocol", protocol},
          {"draws", draws},
          {"top1_mean", top1_mean},
          {"top1_std", top1_std},
          {"macro_f1_mean", macro_f1_mean},
          {"macro_f1_std", macro_f1_std}};
}

std::vector<ResultSummary> summarize_results(const std::vector<ProtocolResult>& results) {
  struct Values {
    std::vector<double> top1, macro_f1;
  };
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, Values> cells;
  for (const auto& result : results) {
    const auto key = std::make_pair(result.labels, result.protocol);
    if (cells.find(key) == cells.end()) order.push_back(key);
    cells[key].top1.push_back(result.metrics.top1);
    cells[key].macro_f1.push_back(result.metrics.macro_f1);
  }
  auto mean_std = [](const std::vector<double>& values) {
    double sum = 0;
    for (double value : values) sum += value;
    const double mean = sum / static_cast<double>(values.size());
    double squares = 0;
    for (double value : values) squares += (value - mean) * (value - mean);
    const double std = values.size() > 1 ? std::sqrt(squares / static_cast<double>(values.size() - 1)) : 0.0;
    return std::make_pair(mean, std);
  };
  std::vector<ResultSummary> out;
  for (const auto& key : order) {
    const Values& values = cells[key];
    ResultSummary summary;
    summary.labels = key.first;
    summary.protocol = key.second;
    summary.draws = static_cast<int64_t>(values.top1.size());
    std::tie(summary.top1_mean, summary.top1_std) = mean_std(values.top1);
    std::tie(summary.macro_f1_mean, summary.macro_f1_std) = mean_std(values.macro_f1);
    out.push_back(summary);
  }
  return out;
}

std::string format_results_table(const std::vector<ProtocolResult>& results, const std::vector<std::string>& protocols,
                                 const std::string& metric) {
  PRETEXT_CHECK(metric == "top1" || metric == "macro_f1", ConfigError, "results table: metric must be top1 or ",
                "macro_f1, got '", metric, "'");
  std::vector<std::string> rows;
  std::map<std::string, std::map<std::string, ResultSummary>> cells;
  for (const auto& summary : summarize_results(results)) {
    if (cells.find(summary.labels) == cells.end()) rows.push_back(summary.labels);
    cells[summary.labels][summary.protocol] = summary;
  }
  std::vector<std::vector<std::string>> lines{{"labels"}};
  for (const auto& protocol : protocols) lines[0].push_back(protocol_title(protocol));
  for (const auto& row : rows) {
    // A budget drawn several times says how many: draws may differ between budgets.
    int64_t draws = 1;
    for (const auto& cell : cells[row]) draws = std::max(draws, cell.second.draws);
    std::vector<std::string> values{draws > 1 ? row + ", " + std::to_string(draws) + " draws" : row};
    for (const auto& protocol : protocols) {
      auto found = cells[row].find(protocol);
      if (found == cells[row].end()) {
        values.push_back("n/a");
        continue;
      }
      const ResultSummary& summary = found->second;
      const bool top1 = metric == "top1";
      std::ostringstream cell;
      cell << std::fixed << std::setprecision(1) << 100.0 * (top1 ? summary.top1_mean : summary.macro_f1_mean);
      if (summary.draws > 1) cell << " ± " << 100.0 * (top1 ? summary.top1_std : summary.macro_f1_std);
      cell << "%";
      values.push_back(cell.str());
    }
    lines.push_back(values);
  }
  // Widths in characters, not bytes ("±" is two bytes of UTF-8).
  auto characters = [](const std::string& text) {
    size_t count = 0;
    for (unsigned char byte : text) count += (byte & 0xC0) != 0x80;
    return count;
  };
  std::vector<size_t> widths(lines[0].size(), 8);
  for (const auto& values : lines) {
    for (size_t i = 0; i < values.size(); ++i) widths[i] = std::max(widths[i], characters(values[i]));
  }
  std::ostringstream out;
  for (size_t l = 0; l < lines.size(); ++l) {
    out << "|";
    for (size_t i = 0; i < lines[l].size(); ++i) {
      const std::string padding(widths[i] - characters(lines[l][i]), ' ');
      out << " " << (i == 0 ? lines[l][i] + padding : padding + lines[l][i]) << " |";
    }
    out << "\n";
    if (l == 0) {
      out << "|";
      for (size_t i = 0; i < widths.size(); ++i) {
        out << (i == 0 ? ":" : "-") << std::string(widths[i], '-') << (i == 0 ? "-|" : ":|");
      }
      out << "\n";
    }
  }
  return out.str();
}

}  // namespace pretext
