// Shared by the libFuzzer targets (scripts/fuzz). Each target hands the fuzzer's bytes to one of
// pretext's readers, as a file where the reader takes a path. What counts as a finding: a crash,
// a sanitizer report, a hang, or an exception other than pretext::Error — a reader must refuse
// bad bytes with an error that names the file, never with LibTorch's or the standard library's.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "pretext/core/error.h"
#include "pretext/core/log.h"

namespace pretext::fuzz {

// A scratch folder of this process's own, emptied for each input.
inline std::filesystem::path scratch() {
  static const std::filesystem::path folder =
      std::filesystem::temp_directory_path() / ("pretext-fuzz-" + std::to_string(getpid()));
  std::filesystem::remove_all(folder);
  std::filesystem::create_directories(folder);
  return folder;
}

inline std::filesystem::path write_input(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs `read`; pretext's own errors are the expected answer to bad bytes.
template <class Read>
int run(Read&& read) {
  static const bool quiet = [] {
    log::set_level(log::Level::off);  // the readers' warnings would drown the fuzzer's output
    return true;
  }();
  (void)quiet;
  try {
    read();
  } catch (const pretext::Error&) {
    // refused with a message: fine
  } catch (const std::exception& error) {
    std::fprintf(stderr, "finding: an exception that is not pretext::Error: %s\n", error.what());
    std::abort();
  }
  return 0;
}

}  // namespace pretext::fuzz
