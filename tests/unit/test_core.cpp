#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <thread>

#include "pretext/core/block_cache.h"
#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/options.h"
#include "pretext/core/progress.h"
#include "pretext/core/registry.h"
#include "pretext/core/runtime.h"

namespace pretext {
namespace {

TEST(Core, CheckThrowsTheNamedErrorWithItsMessage) {
  try {
    PRETEXT_CHECK(1 + 1 == 3, ConfigError, "k must be positive, got ", -2);
    FAIL() << "no throw";
  } catch (const ConfigError& error) {
    EXPECT_STREQ(error.what(), "k must be positive, got -2");
  }
}

TEST(Core, RegistryListsKnownNamesForAnUnknownOne) {
  Registry<int> registry("widget");
  registry.add("alpha", 1);
  registry.add("beta", 2);
  EXPECT_EQ(registry.get("beta").factory, 2);
  try {
    registry.get("gamma");
    FAIL() << "no throw";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("unknown widget 'gamma' (known: alpha, beta)"), std::string::npos);
  }
  EXPECT_THROW(registry.add("alpha", 3), ConfigError);
}

TEST(Core, OptionReaderKeepsDefaultsAndRejectsUnknownKeys) {
  double temperature = 0.5;
  int64_t queue = 7;
  OptionReader reader(nlohmann::json{{"temperature", 0.2}}, "task simclr");
  reader.read("temperature", temperature).read("queue_size", queue);
  reader.finish();
  EXPECT_DOUBLE_EQ(temperature, 0.2);
  EXPECT_EQ(queue, 7);

  OptionReader typo(nlohmann::json{{"temprature", 0.2}}, "task simclr");
  typo.read("temperature", temperature);
  EXPECT_THROW(typo.finish(), ConfigError);

  OptionReader wrong_type(nlohmann::json{{"temperature", "hot"}}, "task simclr");
  EXPECT_THROW(wrong_type.read("temperature", temperature), ConfigError);
}

TEST(Core, KeyValuesKeepJsonTypes) {
  auto values = parse_key_values({"temperature=0.2", "name=abc", "scale=[0.2,1]"}, "--task-option");
  EXPECT_TRUE(values["temperature"].is_number());
  EXPECT_EQ(values["name"], "abc");
  EXPECT_EQ(values["scale"].size(), 2u);
  EXPECT_THROW(parse_key_values({"novalue"}, "--task-option"), ConfigError);
}

TEST(Core, AtomicWriteReplacesWholeFilesAndLeavesNoTemporary) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(PRETEXT_TEST_TMP) / "atomic";
  fs::remove_all(dir);
  write_file_atomic(dir / "a.txt", "first");
  write_file_atomic(dir / "a.txt", "second");
  EXPECT_EQ(read_file(dir / "a.txt"), "second");
  int entries = 0;
  for (const auto& entry : fs::directory_iterator(dir)) entries += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(entries, 1);
  EXPECT_THROW(read_file(dir / "missing.txt"), InputError);
  EXPECT_THROW(write_file_atomic("/proc/pretext-cannot-write/x", "y"), IoError);
}

TEST(Core, RuntimeUsesTheUsableCoresAndRejectsUnknownValues) {
  RuntimeOptions options;
  options.device = "cpu";
  options.precision = "fp32";
  Runtime runtime = init_runtime(options);
  EXPECT_EQ(runtime.threads, usable_cores());
  EXPECT_EQ(torch::get_num_threads(), usable_cores());
  EXPECT_FALSE(runtime.bf16);
  options.precision = "fp8";
  EXPECT_THROW(init_runtime(options), ConfigError);
  options.precision = "fp32";
  options.device = "tpu";
  EXPECT_THROW(init_runtime(options), ConfigError);
}

TEST(Core, ReferenceBlasIsRecognised) {
  EXPECT_TRUE(is_reference_blas("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"));
  EXPECT_FALSE(is_reference_blas("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"));
  EXPECT_FALSE(is_reference_blas(""));
}

TEST(Core, GeneratorsWithTheSameSeedAgree) {
  auto a = make_generator(42);
  auto b = make_generator(42);
  EXPECT_TRUE(torch::equal(torch::rand({5}, a), torch::rand({5}, b)));
}

}  // namespace
}  // namespace pretext

namespace pretext {
namespace {

TEST(Core, DurationsReadAsHoursMinutesOrSeconds) {
  EXPECT_EQ(format_duration(12.4), "12s");
  EXPECT_EQ(format_duration(245), "4m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(format_duration(NAN), "?");
}

TEST(Core, ProgressWritesPlainLinesWithTheTimeLeftWhenNotATerminal) {
  // Tests run with stderr on a file or a pipe: no bar, only the timed lines.
  Progress progress("unit work", 100, "items", 1e-9);
  EXPECT_TRUE(std::isnan(progress.seconds_left(0)));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const double left = progress.seconds_left(25);
  EXPECT_GT(left, 0.04);  // 75 items at 25 per >= 20 ms
  EXPECT_LT(left, 60.0);
  ::testing::internal::CaptureStderr();
  progress.update(25, "loss 1.5");
  const std::string written = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(written.find("unit work 25/100 items loss 1.5"), std::string::npos) << written;
  EXPECT_NE(written.find("items/s | ETA "), std::string::npos) << written;
  EXPECT_EQ(written.find('\r'), std::string::npos) << "no bar redraws off a terminal";

  Progress unknown("open-ended", 0, "steps", 1e-9);
  EXPECT_TRUE(std::isnan(unknown.seconds_left(10)));
  ::testing::internal::CaptureStderr();
  unknown.update(10);
  const std::string open_ended = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(open_ended.find("open-ended 10 steps"), std::string::npos) << open_ended;
  EXPECT_EQ(open_ended.find("ETA"), std::string::npos) << open_ended;
}

TEST(Core, BlockCacheReusesLargeBlocksAndLeavesSmallOnesToTheDefaultAllocator) {
  BlockCache* cache = install_cpu_block_cache();
  ASSERT_NE(cache, nullptr) << "PRETEXT_CPU_CACHE_MIB=0 in the environment";
  cache->release_waiting();
  const BlockCacheStats start = cache->stats();
  EXPECT_EQ(start.waiting_bytes, 0u);

  // 37 MiB + 12 bytes: a huge block, 2 MiB-aligned, in 2 MiB steps.
  const int64_t large = ((37 << 20) + 12) / 4;
  void* first = nullptr;
  {
    auto tensor = torch::full({large}, 1.5f);
    first = tensor.data_ptr();
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first) % BlockCache::kBlockGrain, 0u);
    EXPECT_EQ(cache->stats().maps, start.maps + 1);
    EXPECT_EQ(cache->stats().mapped_bytes, start.mapped_bytes + (38u << 20));
  }
  EXPECT_EQ(cache->stats().waiting_bytes, 38u << 20);
  auto again = torch::empty({large});
  EXPECT_EQ(again.data_ptr(), first);
  EXPECT_EQ(cache->stats().reuses, start.reuses + 1);
  EXPECT_EQ(cache->stats().waiting_bytes, 0u);
  again.fill_(2.0f);
  EXPECT_FLOAT_EQ(again[large - 1].item<float>(), 2.0f);
  again = torch::Tensor();

  // A request far smaller than the waiting block gets a mapping of its own.
  auto smaller = torch::empty({(9 << 20) / 4});
  EXPECT_NE(smaller.data_ptr(), first);
  EXPECT_EQ(cache->stats().maps, start.maps + 2);
  smaller = torch::Tensor();

  // Small tensors never reach the cache.
  const BlockCacheStats before_small = cache->stats();
  auto small = torch::ones({1000});
  EXPECT_EQ(cache->stats().maps, before_small.maps);
  EXPECT_EQ(cache->stats().reuses, before_small.reuses);

  // raw_allocate / raw_deallocate (as oneDNN's scratch buffers use them), large and small.
  c10::Allocator* allocator = c10::GetAllocator(c10::DeviceType::CPU);
  EXPECT_EQ(allocator, cache);
  for (std::size_t bytes : {std::size_t{3} << 20, std::size_t{4096}}) {
    void* raw = allocator->raw_allocate(bytes);
    ASSERT_NE(raw, nullptr);
    std::memset(raw, 7, bytes);
    allocator->raw_deallocate(raw);
  }

  cache->release_waiting();
  EXPECT_EQ(cache->stats().waiting_bytes, 0u);
  EXPECT_EQ(cache->stats().mapped_bytes, start.mapped_bytes);
}

TEST(Core, BlockCacheCapIsReadFromTheEnvironmentSetting) {
  EXPECT_EQ(block_cache_cap_bytes(nullptr), BlockCache::kDefaultCapMiB << 20);
  EXPECT_EQ(block_cache_cap_bytes("0"), 0u);
  EXPECT_EQ(block_cache_cap_bytes("64"), std::size_t{64} << 20);
  for (const char* bad : {"", "-1", "12MiB", "1.5", "99999999999999999999"}) {
    try {
      block_cache_cap_bytes(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find("PRETEXT_CPU_CACHE_MIB"), std::string::npos) << error.what();
    }
  }
}

}  // namespace
}  // namespace pretext
