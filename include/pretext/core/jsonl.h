// JSON-lines writer for metrics logs: one JSON object per line, flushed as written, so that a
// run killed at any moment leaves every finished line readable.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace pretext {

class JsonLinesWriter {
 public:
  // append = false truncates. Throws IoError naming the path when it cannot be opened.
  JsonLinesWriter(const std::filesystem::path& path, bool append);
  void write(const nlohmann::json& record);
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

// Reads every line of a JSON-lines file (skipping a torn last line). InputError when missing.
std::vector<nlohmann::json> read_json_lines(const std::filesystem::path& path);

}  // namespace pretext
