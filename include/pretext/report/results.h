// Results of a few-label evaluation, written for people (results.md: the table) and for
// programs (results.json: every number, per-class accuracy and confusion matrices), both
// atomically, so a reader never sees half a report.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <vector>

#include "pretext/eval/few_label.h"

namespace pretext {

// `meta` (task, encoder, data, seeds, timings…) is stored beside the results.
nlohmann::json results_document(const std::vector<ProtocolResult>& results, const std::vector<std::string>& protocols,
                                const std::vector<std::string>& class_names, const nlohmann::json& meta);

// Writes out_dir/results.json and out_dir/results.md. Throws IoError naming the file.
void write_results(const std::filesystem::path& out_dir, const nlohmann::json& document, const std::string& table);

}  // namespace pretext
