// Progress of one long piece of work (pretraining, feature extraction, a probe, fine-tuning,
// making a dataset). What it represents: a count of done units against a total, shown two ways.
// When stderr is a terminal, a bar with the rate and the time left stays on the terminal's last
// line, redrawn in place and kept below log lines; a plain log line is written every
// `line_seconds` in any case, so that logs that are files or pipes read as before. Nothing is
// shown below log level info (`--quiet`). Not thread-safe: one thread updates one Progress.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace pretext {

// "1h02m", "4m05s", "12s"; "?" for a negative or non-finite duration.
std::string format_duration(double seconds);

class Progress {
 public:
  // `total` <= 0: unknown (no percentage, no time left). `line_seconds` <= 0: no plain lines,
  // only the terminal's bar (for callers that write lines of their own).
  Progress(std::string what, int64_t total, std::string unit, double line_seconds = 10);
  ~Progress();  // removes the bar
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` units finished; `detail` (a loss, …) follows the counts. Writes only when due.
  void update(int64_t done, const std::string& detail = "");
  // Whether update() would write anything now: lets callers skip building `detail`.
  bool due() const;
  void set_total(int64_t total) { total_ = total; }
  // Seconds left at the rate so far; NaN when unknown.
  double seconds_left(int64_t done) const;

 private:
  using Clock = std::chrono::steady_clock;
  std::string text(int64_t done, const std::string& detail, bool with_bar) const;

  std::string what_;
  std::string unit_;
  int64_t total_;
  double line_seconds_;
  bool bar_;
  Clock::time_point start_;
  Clock::time_point last_line_;
  Clock::time_point last_bar_;
};

}  // namespace pretext
