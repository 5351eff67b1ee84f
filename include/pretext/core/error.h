// Errors pretext throws. Every message names the culprit (file, field or value) so that the
// program can print it and exit non-zero without a stack trace.
//   InputError  — the user's data or paths are wrong (missing file, bad magic, corrupt image)
//   ConfigError — an option or name is wrong (unknown task, negative learning rate)
//   IoError     — the filesystem failed us (cannot write, disk full)
//   TrainingError — the run itself went wrong (NaN/Inf loss)
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace pretext {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class InputError : public Error {
 public:
  using Error::Error;
};
class ConfigError : public Error {
 public:
  using Error::Error;
};
class IoError : public Error {
 public:
  using Error::Error;
};
class TrainingError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

}  // namespace pretext

// PRETEXT_CHECK(cond, ErrorType, message parts...): throws pretext::ErrorType(message) when cond is false.
#define PRETEXT_CHECK(cond, ErrorType, ...)                                \
  do {                                                                     \
    if (!(cond)) throw ::pretext::ErrorType(::pretext::detail::str_cat(__VA_ARGS__)); \
  } while (false)
