// Runtime: where and how tensors are computed for this process.
// init_runtime() sets torch's thread count to the usable cores, picks the device and the
// precision (bf16 autocast where the CPU has AVX-512 BF16/AMX, or on CUDA), seeds torch, warns
// when the slow reference BLAS is what got loaded, and installs the CPU block cache
// (core/block_cache.h) as LibTorch's CPU allocator.
#pragma once

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "pretext/core/process_group.h"

namespace pretext {

struct RuntimeOptions {
  std::string device = "auto";     // auto | cpu | cuda | cuda:N
  std::string precision = "auto";  // auto | fp32 | bf16
  int threads = 0;                 // 0 = the cores this process may use, shared among LOCAL_WORLD_SIZE ranks
  uint64_t seed = 0;
};

struct Runtime {
  torch::Device device = torch::kCPU;
  bool bf16 = false;  // bf16 autocast for forward passes
  int threads = 1;
  uint64_t seed = 0;
  std::string blas;  // the BLAS library torch loaded (a path), empty when unknown
  // The data-parallel ranks of this run (train/distributed.h connects them); one by default.
  ProcessGroupPtr group = single_process_group();
  std::string describe() const;
};

// Throws ConfigError for an unknown device or precision, or cuda requested without CUDA.
Runtime init_runtime(const RuntimeOptions& options);

// Sets OMP_WAIT_POLICY=PASSIVE unless the user set it. libgomp reads the policy once, in its own
// load-time constructor, so a program must call this before any shared library initialises: the
// pretext program does so from its .preinit_array (apps/pretext/main.cpp), which the dynamic
// loader runs before the constructors of LibTorch and libgomp. The signature is a preinit entry's.
// Why: LibTorch's OpenMP threads spin after each parallel region while OpenBLAS's own threads
// run the next matrix product, and on 2 cores they take turns on the same cores: BERT-tiny
// masked-LM steps ran at 194 sequences/s with spinning threads and 324 with passive ones
// (bench/threads.sh, docs/BENCHMARKS.md); image steps were unchanged within noise.
void prefer_passive_openmp_threads(int argc, char** argv, char** envp);
// Once in a program's main file, at namespace scope: registers prefer_passive_openmp_threads in
// the program's .preinit_array (only an executable has one; a library's entry would be ignored).
#define PRETEXT_PASSIVE_OPENMP_AT_LOAD()                                                          \
  __attribute__((section(".preinit_array"), used)) static void (*const pretext_passive_openmp)( \
      int, char**, char**) = ::pretext::prefer_passive_openmp_threads

int usable_cores();
bool cpu_supports_bf16();
// Path of the BLAS library mapped into this process ("" when none is found).
std::string loaded_blas_path();
bool is_reference_blas(const std::string& path);

// Turns bf16 autocast on for its lifetime when `enabled` (no-op otherwise).
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::Device device_;
  bool enabled_;
  bool previous_ = false;
};

// Whether autocast is on for `device_type` on this thread (an AutocastGuard is alive).
bool autocast_enabled(c10::DeviceType device_type);

// Turns autocast off for its lifetime, inside an autocast region: the code in its scope runs in
// the tensors' own precision (a loss's similarity logits or cross-correlations in float32).
// Without it, a float32 matmul inside bf16 autocast still runs in bf16.
class Float32Region {
 public:
  Float32Region();
  ~Float32Region();
  Float32Region(const Float32Region&) = delete;
  Float32Region& operator=(const Float32Region&) = delete;

 private:
  c10::impl::ExcludeDispatchKeyGuard guard_;
};

// Cooperative stop: a signal handler (SIGINT/SIGTERM) calls request_stop(); long loops check
// stop_requested() at a safe point, save what they have and return.
void request_stop();
bool stop_requested();
void clear_stop_request();
// Installs handlers so that the first Ctrl-C asks for a clean stop and a second one kills.
void install_stop_handlers();

// A CPU generator seeded from `seed`; every random draw in pretext goes through one.
torch::Generator make_generator(uint64_t seed);
// `count` draws uniform in [low, high) from `generator`, as a CPU double tensor (the per-sample
// parameters of the augmentations).
torch::Tensor uniform_draws(int64_t count, double low, double high, torch::Generator& generator);

// The process's peak resident memory so far, in MiB (getrusage's ru_maxrss).
double peak_memory_mib();

}  // namespace pretext
