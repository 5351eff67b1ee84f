#include "pretext/core/jsonl.h"

#include "pretext/core/error.h"
#include "pretext/core/fs.h"

namespace pretext {

JsonLinesWriter::JsonLinesWriter(const std::filesystem::path& path, bool append) : path_(path) {
  if (path.has_parent_path()) ensure_directory(path.parent_path());
  out_.open(path, append ? std::ios::app : std::ios::trunc);
  PRETEXT_CHECK(out_.good(), IoError, "cannot open ", path.string(), " for writing");
}

void JsonLinesWriter::write(const nlohmann::json& record) {
  out_ << record.dump() << '\n';
  out_.flush();
  PRETEXT_CHECK(out_.good(), IoError, "cannot write to ", path_.string());
}

std::vector<nlohmann::json> read_json_lines(const std::filesystem::path& path) {
  std::istringstream lines(read_file(path));
  std::vector<nlohmann::json> records;
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    auto record = nlohmann::json::parse(line, nullptr, false);
    if (!record.is_discarded()) records.push_back(std::move(record));
  }
  return records;
}

}  // namespace pretext
