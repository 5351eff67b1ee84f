// Registry: a name → factory table. What it represents: the set of things (pretext tasks,
// encoders) a user can choose by name from the command line or a config file.
// Guarantees: get() of an unknown name throws ConfigError listing the known names.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pretext/core/error.h"

namespace pretext {

template <class Factory>
class Registry {
 public:
  struct Entry {
    Factory factory;
    std::string description;
  };

  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  // Registers `name`; registering a name twice is a programming error and throws ConfigError.
  void add(const std::string& name, Factory factory, std::string description = "") {
    PRETEXT_CHECK(entries_.count(name) == 0, ConfigError, kind_, " '", name, "' is registered twice");
    entries_.emplace(name, Entry{std::move(factory), std::move(description)});
  }

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }

  const Entry& get(const std::string& name) const {
    auto found = entries_.find(name);
    if (found == entries_.end()) {
      std::string known;
      for (const auto& [key, value] : entries_) known += (known.empty() ? "" : ", ") + key;
      throw ConfigError("unknown " + kind_ + " '" + name + "' (known: " + known + ")");
    }
    return found->second;
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [key, value] : entries_) out.push_back(key);
    return out;
  }

  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  std::string kind_;
  std::map<std::string, Entry> entries_;
};

}  // namespace pretext
