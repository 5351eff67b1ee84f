#include "pretext/core/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include "pretext/core/log.h"

namespace pretext {

namespace {

constexpr double kBarSeconds = 0.25;  // the bar is redrawn at most this often
constexpr int kBarWidth = 24;

double seconds_between(std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto total = static_cast<int64_t>(std::llround(seconds));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof(text), "%lldh%02lldm", static_cast<long long>(total / 3600),
                  static_cast<long long>((total % 3600) / 60));
  } else if (total >= 60) {
    std::snprintf(text, sizeof(text), "%lldm%02llds", static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  } else {
    std::snprintf(text, sizeof(text), "%llds", static_cast<long long>(total));
  }
  return text;
}

Progress::Progress(std::string what, int64_t total, std::string unit, double line_seconds)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      line_seconds_(line_seconds),
      bar_(log::terminal() && log::level() <= log::Level::info),
      start_(Clock::now()),
      last_line_(start_),
      last_bar_(start_ - std::chrono::hours(1)) {}

Progress::~Progress() {
  if (bar_) log::status("");
}

bool Progress::due() const {
  const auto now = Clock::now();
  if (bar_ && seconds_between(last_bar_, now) >= kBarSeconds) return true;
  return line_seconds_ > 0 && seconds_between(last_line_, now) >= line_seconds_ && log::level() <= log::Level::info;
}

double Progress::seconds_left(int64_t done) const {
  if (total_ <= 0 || done <= 0) return NAN;
  return static_cast<double>(total_ - done) * seconds_between(start_, Clock::now()) / static_cast<double>(done);
}

std::string Progress::text(int64_t done, const std::string& detail, bool with_bar) const {
  std::ostringstream out;
  out << what_ << " ";
  if (with_bar && total_ > 0) {
    const double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
    const int filled = static_cast<int>(fraction * kBarWidth);
    out << "[" << std::string(filled, '#') << std::string(kBarWidth - filled, '.') << "] "
        << static_cast<int>(fraction * 100) << "% ";
  }
  out << done;
  if (total_ > 0) out << "/" << total_;
  out << " " << unit_;
  if (!detail.empty()) out << " " << detail;
  const double elapsed = seconds_between(start_, Clock::now());
  if (elapsed > 0 && done > 0) {
    const double rate = done / elapsed;
    out << " | " << std::fixed << std::setprecision(rate >= 10 ? 0 : 1) << rate << " " << unit_ << "/s";
  }
  if (total_ > 0) out << " | ETA " << format_duration(seconds_left(done));
  return out.str();
}

void Progress::update(int64_t done, const std::string& detail) {
  const auto now = Clock::now();
  if (line_seconds_ > 0 && seconds_between(last_line_, now) >= line_seconds_ && log::level() <= log::Level::info) {
    last_line_ = now;
    log::info(text(done, detail, false));  // log::write redraws the bar after the line
  }
  if (bar_ && seconds_between(last_bar_, now) >= kBarSeconds) {
    last_bar_ = now;
    log::status(text(done, detail, true));
  }
}

}  // namespace pretext
