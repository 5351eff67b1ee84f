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

// Whether stderr is a terminal that can redraw a line in place (not TERM=dumb).
bool terminal();
// The status line (a progress bar) kept below the log on a terminal: replaced by each call,
// cleared before every log line and drawn again after it; "" removes it. Does nothing when
// stderr is not a terminal. Cut to the terminal's width, so that it never wraps.
void status(const std::string& line);

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
