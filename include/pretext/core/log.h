// The logging facade. What it represents: one process-wide logger writing to stderr.
// The level comes from set_level() or the PRETEXT_LOG_LEVEL environment variable
// (trace|debug|info|warn|error|off); the library behind it (spdlog) stays out of our headers.
#pragma once

#include <string>

#include "pretext/core/error.h"

namespace pretext::log {

enum class Level { trace, debug, info, warn, error, off };

void set_level(Level level);
Level level();
// Parses "info", "warn", …; throws ConfigError naming the bad value.
Level parse_level(const std::string& name);
void write(Level level, const std::string& message);

template <class... Args>
void debug(const Args&... args) {
  if (level() <= Level::debug) write(Level::debug, detail::str_cat(args...));
}
template <class... Args>
void info(const Args&... args) {
  if (level() <= Level::info) write(Level::info, detail::str_cat(args...));
}
template <class... Args>
void warn(const Args&... args) {
  if (level() <= Level::warn) write(Level::warn, detail::str_cat(args...));
}
template <class... Args>
void error(const Args&... args) {
  if (level() <= Level::error) write(Level::error, detail::str_cat(args...));
}

}  // namespace pretext::log
