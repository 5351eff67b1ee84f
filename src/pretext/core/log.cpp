#include "pretext/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace pretext::log {
namespace {

Level initial_level() {
  const char* env = std::getenv("PRETEXT_LOG_LEVEL");
  if (env == nullptr || *env == '\0') return Level::info;
  try {
    return parse_level(env);
  } catch (const ConfigError&) {
    return Level::info;
  }
}

std::atomic<Level>& current() {
  static std::atomic<Level> value{initial_level()};
  return value;
}

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto made = spdlog::stderr_color_mt("pretext");
    made->set_pattern("[%H:%M:%S] %^%l%$ %v");
    made->set_level(spdlog::level::trace);  // our own level filters first
    return made;
  }();
  return *instance;
}

// The status line and the lock that orders it against log lines.
std::mutex& status_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::string& status_text() {
  static std::string text;
  return text;
}

void clear_status_locked() {
  if (!status_text().empty()) std::fputs("\r\033[K", stderr);
}
void draw_status_locked() {
  if (!status_text().empty()) {
    std::fputs(status_text().c_str(), stderr);
    std::fflush(stderr);
  }
}

}  // namespace

bool terminal() {
  static const bool value = [] {
    const char* term = std::getenv("TERM");
    return ::isatty(STDERR_FILENO) == 1 && term != nullptr && std::strcmp(term, "dumb") != 0;
  }();
  return value;
}

void status(const std::string& line) {
  if (!terminal()) return;
  std::string shown = line;
  winsize size{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1) {
    // Cut at a character boundary (UTF-8 continuation bytes are 10xxxxxx), one column spare.
    size_t columns = 0, end = 0;
    while (end < shown.size() && columns < static_cast<size_t>(size.ws_col) - 1) {
      ++end;
      while (end < shown.size() && (static_cast<unsigned char>(shown[end]) & 0xC0) == 0x80) ++end;
      ++columns;
    }
    shown.resize(end);
  }
  std::lock_guard<std::mutex> lock(status_mutex());
  clear_status_locked();
  status_text() = shown;
  draw_status_locked();
}

void set_level(Level value) { current().store(value); }
Level level() { return current().load(); }

Level parse_level(const std::string& name) {
  if (name == "trace") return Level::trace;
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "off") return Level::off;
  throw ConfigError("unknown log level '" + name + "' (expected trace, debug, info, warn, error or off)");
}

void write(Level value, const std::string& message) {
  std::unique_lock<std::mutex> lock(status_mutex(), std::defer_lock);
  if (terminal()) {
    lock.lock();
    clear_status_locked();
  }
  switch (value) {
    case Level::trace: logger().trace(message); break;
    case Level::debug: logger().debug(message); break;
    case Level::info: logger().info(message); break;
    case Level::warn: logger().warn(message); break;
    case Level::error: logger().error(message); break;
    case Level::off: break;
  }
  if (lock.owns_lock()) {
    logger().flush();
    draw_status_locked();
  }
}

}  // namespace pretext::log
