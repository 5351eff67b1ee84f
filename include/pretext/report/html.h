// The run report: one self-contained report.html (inline SVG and CSS, no script, nothing fetched)
// that a person opens after a run. It draws what the run folder holds:
//   metrics.jsonl   loss and learning-rate curves; online linear-probe accuracy and k-NN top-1;
//                   representation health (effective rank, std ratio)
//   results.json    the label-efficiency table and a chart of the metric against the label budget
//                   (SSL protocols against from scratch); the confusion matrix of the best protocol
//                   with the most labels; a map of the test set's embeddings (PCA, coloured by
//                   class) (also read from <run>/eval/results.json, where `pretext evaluate`
//                   writes by default)
//   config.json     the run's configuration; results.json's runtime block: versions, threads,
//                   precision
// A part whose file is missing is left out with a note; a run folder with none of them is an error.
#pragma once

#include <filesystem>

namespace pretext {

// Writes <run_dir>/report.html atomically and returns its path. Throws InputError naming the
// folder when it holds neither metrics.jsonl nor results.json, or naming a file that is not valid
// JSON.
std::filesystem::path write_html_report(const std::filesystem::path& run_dir);

}  // namespace pretext
