// Helpers shared by the unit tests: scratch folders and files under the build's tests/tmp
// (PRETEXT_TEST_TMP), error messages, tensors as vectors. The tests build as a unity build, so a
// helper two files need lives here, not twice in their anonymous namespaces.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/data/batch.h"

#ifndef EXPECT_CONTAINS
#define EXPECT_CONTAINS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)
#endif

namespace pretext::testing_files {

// An empty folder PRETEXT_TEST_TMP/<name> (whatever was there is removed).
inline std::filesystem::path fresh_dir(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(PRETEXT_TEST_TMP) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes `bytes` to `path` as they are, creating its folder.
inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// What `fn` throws as an `Error` (by default InputError), or a note that it threw none.
template <class Error = InputError, class Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const Error& error) {
    return error.what();
  }
  return "<no error of the expected type>";
}

constexpr double kPi = 3.14159265358979323846;

// `size` unlabelled grayscale images of side × side random pixels, as a dataset hands them out.
inline Batch tiny_batch(int64_t size, int64_t side = 16) {
  Batch batch;
  batch.input = torch::randint(0, 256, {size, side, side, 1}, torch::kLong).to(torch::kUInt8);
  batch.label = torch::full({size}, -1, torch::kLong);
  return batch;
}

// An integer tensor's values, flattened.
inline std::vector<int64_t> as_vector(const torch::Tensor& tensor) {
  torch::Tensor flat = tensor.to(torch::kInt64).contiguous().reshape({-1});
  return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

}  // namespace pretext::testing_files
