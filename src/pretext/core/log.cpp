#include "pretext/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>

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

}  // namespace

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
  switch (value) {
    case Level::trace: logger().trace(message); break;
    case Level::debug: logger().debug(message); break;
    case Level::info: logger().info(message); break;
    case Level::warn: logger().warn(message); break;
    case Level::error: logger().error(message); break;
    case Level::off: break;
  }
}

}  // namespace pretext::log
