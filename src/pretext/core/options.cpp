#include "pretext/core/options.h"

namespace pretext {

OptionReader::OptionReader(const nlohmann::json& values, std::string where)
    : values_(values.is_null() ? nlohmann::json::object() : values), where_(std::move(where)) {
  PRETEXT_CHECK(values_.is_object(), ConfigError, where_, ": expected an object of options, got ", values_.dump());
}

void OptionReader::finish() const {
  std::string unknown;
  for (const auto& item : values_.items()) {
    if (seen_.count(item.key()) == 0) unknown += (unknown.empty() ? "'" : ", '") + item.key() + "'";
  }
  if (unknown.empty()) return;
  std::string known;
  for (const auto& key : seen_) known += (known.empty() ? "" : ", ") + key;
  throw ConfigError(where_ + ": unknown option " + unknown + " (known: " + known + ")");
}

nlohmann::json parse_key_values(const std::vector<std::string>& pairs, const std::string& where) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& pair : pairs) {
    auto equals = pair.find('=');
    PRETEXT_CHECK(equals != std::string::npos && equals > 0, ConfigError, where, ": expected key=value, got '", pair,
                  "'");
    std::string key = pair.substr(0, equals);
    std::string text = pair.substr(equals + 1);
    nlohmann::json value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    out[key] = value.is_discarded() ? nlohmann::json(text) : value;
  }
  return out;
}

}  // namespace pretext
