// OptionReader: fills an options struct from a JSON object (a config file section or
// `--task-option key=value` pairs), keeping each field's default when its key is absent.
// Guarantees: a value of the wrong type, or a key that no field claims, throws ConfigError
// naming `where` and the key — a typo in a config never passes silently.
#pragma once

#include <nlohmann/json.hpp>

#include <set>
#include <string>
#include <vector>

#include "pretext/core/error.h"

namespace pretext {

class OptionReader {
 public:
  OptionReader(const nlohmann::json& values, std::string where);

  template <class T>
  OptionReader& read(const std::string& key, T& field) {
    seen_.insert(key);
    if (!values_.contains(key)) return *this;
    try {
      field = values_.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      throw ConfigError(where_ + ": option '" + key + "' has the wrong type (got " + values_.at(key).dump() + ")");
    }
    return *this;
  }

  // Throws ConfigError listing keys that no read() claimed.
  void finish() const;

 private:
  nlohmann::json values_;
  std::string where_;
  std::set<std::string> seen_;
};

// Parses "key=value" pairs into a JSON object; values that parse as JSON (numbers, true,
// [0.5,1]) keep their type, anything else is a string. Throws ConfigError on a missing '='.
nlohmann::json parse_key_values(const std::vector<std::string>& pairs, const std::string& where);

}  // namespace pretext
