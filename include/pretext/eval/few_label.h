// The few-label comparison: for each label budget (10 per class, 100 per class, all labels…),
// run each protocol on the same seeded, stratified labelled subset and score it on the test set.
// With label_draws > 1 each few-label budget is drawn that many times (seeds seed, seed + 1, …),
// every protocol runs on every draw, and tables show the mean ± standard deviation over draws:
// with 48 labels, one draw alone moved a from-scratch BERT's macro-F1 between 66% and 87%.
// This is the product's central measurement: does self-supervision beat training from scratch
// with the same labels?
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "pretext/data/split.h"
#include "pretext/eval/protocols.h"

namespace pretext {

struct FewLabelOptions {
  std::vector<std::string> protocols{"scratch", "knn", "linear", "finetune"};
  std::vector<LabelSplitOptions> splits{LabelSplitOptions{}};
  KnnOptions knn;
  LinearProbeOptions linear;
  FinetuneOptions finetune;
  uint64_t seed = 0;
  int64_t label_draws = 1;  // subsets drawn per few-label budget; "all labels" is drawn once
  // The budget with the fewest labels is drawn up to this many times instead, when that is more:
  // its results vary most between draws (0 = label_draws for every budget). Its first label_draws
  // draws run with the other budgets; the further ones come last, each only if, judged by the
  // previous draw's time, it ends within seconds_available of the evaluation's start (0 = no limit).
  int64_t smallest_budget_draws = 0;
  double seconds_available = 0;
  void validate() const;  // ConfigError for an unknown protocol name, label_draws < 1, or a negative count or time
};

struct ProtocolResult {
  std::string protocol;
  std::string labels;           // describe_split()
  int64_t labels_per_class = 0;  // 0 when the split is a fraction or all labels
  double label_fraction = 0;
  int64_t labelled_samples = 0;
  int64_t draw = 0;              // which draw of the budget's labelled subset (seed + draw)
  ClassificationMetrics metrics;
  double seconds = 0;
  nlohmann::json to_json(const std::vector<std::string>& class_names) const;
};

// pretrained(): a fresh copy of the pretrained encoder (loaded anew for each fine-tune run);
// scratch(): the same architecture with random weights. Either may be empty when no protocol
// needs it. `on_result` is called as each result arrives (progress, partial reports).
std::vector<ProtocolResult> run_few_label(const std::function<EncoderPtr()>& pretrained,
                                          const std::function<EncoderPtr()>& scratch, DatasetPtr labelled_pool,
                                          DatasetPtr test, const Preprocessor& preprocessor,
                                          const FewLabelOptions& options, const Runtime& runtime,
                                          const std::function<void(const ProtocolResult&)>& on_result = {});

// One cell of the results table: a protocol at a label budget, over its draws.
struct ResultSummary {
  std::string labels, protocol;
  int64_t draws = 0;
  double top1_mean = 0, top1_std = 0;          // std: sample standard deviation, 0 for one draw
  double macro_f1_mean = 0, macro_f1_std = 0;
  nlohmann::json to_json() const;
};
// In the order the budgets and protocols first appear in `results`.
std::vector<ResultSummary> summarize_results(const std::vector<ProtocolResult>& results);

// The table people paste into an issue: one row per label budget, one column per protocol, the
// cells top-1 accuracy (`metric` "top1") or macro-F1 ("macro_f1"), in percent; "mean ± std" where
// a budget was drawn more than once.
std::string format_results_table(const std::vector<ProtocolResult>& results,
                                 const std::vector<std::string>& protocols, const std::string& metric = "top1");

// "supervised from scratch", "SSL + k-NN", …
std::string protocol_title(const std::string& protocol);

}  // namespace pretext
