#include "pretext/report/results.h"

#include <sstream>

#include "pretext/core/fs.h"

namespace pretext {

nlohmann::json results_document(const std::vector<ProtocolResult>& results, const std::vector<std::string>& protocols,
                                const std::vector<std::string>& class_names, const nlohmann::json& meta) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& result : results) entries.push_back(result.to_json(class_names));
  nlohmann::json document = meta;
  document["protocols"] = protocols;
  document["class_names"] = class_names;
  document["results"] = entries;
  nlohmann::json summary = nlohmann::json::array();
  for (const auto& cell : summarize_results(results)) summary.push_back(cell.to_json());
  document["summary"] = summary;  // per budget and protocol: mean and std over the draws
  return document;
}

void write_results(const std::filesystem::path& out_dir, const nlohmann::json& document, const std::string& table) {
  ensure_directory(out_dir);
  write_file_atomic(out_dir / "results.json", document.dump(2) + "\n");
  std::ostringstream markdown;
  markdown << "# pretext results\n\n";
  if (document.contains("task")) markdown << "- task: " << document["task"].get<std::string>() << "\n";
  if (document.contains("encoder")) markdown << "- encoder: " << document["encoder"].dump() << "\n";
  if (document.contains("data")) markdown << "- data: " << document["data"].get<std::string>() << "\n";
  if (document.contains("test_data")) markdown << "- test data: " << document["test_data"].get<std::string>() << "\n";
  if (document.contains("runtime")) markdown << "- runtime: " << document["runtime"].get<std::string>() << "\n";
  markdown << "\nOn the test set:\n\n" << table;
  write_file_atomic(out_dir / "results.md", markdown.str());
}

}  // namespace pretext
