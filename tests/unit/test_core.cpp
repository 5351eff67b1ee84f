#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>

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

}  // namespace
}  // namespace pretext
